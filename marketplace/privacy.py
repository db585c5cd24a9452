"""Student personal data in free text (pure): resident ID numbers (checksum-validated), mainland
mobile numbers, and full names written next to a grade or class ("初二（3）班的张三",
"三年级二班李四同学"). District requests describe needs, not students: findings are shown to
the writer, who may mask them ("张*", "1**********") or confirm the text as it is."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

RESIDENT_ID = "resident_id"
MOBILE = "mobile"
STUDENT_NAME = "student_name"
KIND_LABELS = {RESIDENT_ID: "身份证号", MOBILE: "手机号", STUDENT_NAME: "学生姓名"}

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx])(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?(1[3-9]\d(?:[\s-]?\d{4}){2})(?!\d)")

_DIGIT = "0-9０-９一二三四五六七八九十"
# Grade and class numbers have at most a few characters: an unbounded `+` here made a long run
# of digits cost quadratic time (20,000 digits took 10 s in one request).
_GRADE = rf"(?:[初高][一二三]|[一二三四五六七八九1-9]年级|(?:小学|初中|高中)?[{_DIGIT}]{{1,4}}年级)"
_CLASS = rf"(?:[（(]?[{_DIGIT}]{{1,4}}[)）]?班)"
# A grade, a class, or both ("初二（3）班", "三年级二班", "高一", "5班"), then "的" optionally.
_SCHOOL_UNIT = rf"(?:{_GRADE}{_CLASS}?|{_CLASS})(?:的|学生|同学)?"
_COMPOUND_SURNAMES = (
    "欧阳|司马|诸葛|上官|东方|夏侯|皇甫|尉迟|公孙|慕容|长孙|宇文|司徒|令狐|端木|南宫|独孤|百里"
)
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴"
    "莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪"
    "梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简"
    "车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄"
    "丛仲虞敖巩明佘池查麻苑迟邝"
)
_NAME = rf"((?:{_COMPOUND_SURNAMES}|[{_SURNAMES}])[\u4e00-\u9fff]{{1,2}})"
_NAME_AFTER_UNIT = re.compile(rf"{_SCHOOL_UNIT}{_NAME}")
# Characters that end a two-character name rather than being its third character.
_NOT_NAMES = ("老师", "同学", "家长", "校长", "主任", "班主任", "医生", "妈妈", "爸爸")
_NOT_IN_NAME = set("同学生最近在有是的和说出因经等了很总一也又被把对从不都已曾常突每这那今昨上下")


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int
    text: str

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "label": self.label,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "masked": mask_value(self.text),
        }


def is_resident_id(value: str) -> bool:
    """An 18-character resident ID number with a valid birth date and check character."""
    if not re.fullmatch(r"\d{17}[\dXx]", value):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != value[17].upper():
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date.today()


def find_personal_data(text: str) -> list[Finding]:
    """Every resident ID, mobile number and class-linked student name in `text`, in order."""
    findings = [
        Finding(RESIDENT_ID, m.start(1), m.end(1), m.group(1))
        for m in _ID.finditer(text)
        if is_resident_id(m.group(1))
    ]
    taken = [(f.start, f.end) for f in findings]
    for m in _MOBILE.finditer(text):
        if not any(s < m.end(1) and m.start(1) < e for s, e in taken):
            findings.append(Finding(MOBILE, m.start(1), m.end(1), m.group(1)))
    for m in _NAME_AFTER_UNIT.finditer(text):
        name, start = m.group(1), m.start(1)
        if len(name) == 3 and name[2] in _NOT_IN_NAME and not name.startswith(_compounds()):
            name = name[:2]
        if name[1:].startswith(_NOT_NAMES):  # 王老师, 李同学: a role, not a student's name
            continue
        findings.append(Finding(STUDENT_NAME, start, start + len(name), name))
    return sorted(findings, key=lambda f: f.start)


def _compounds() -> tuple[str, ...]:
    return tuple(_COMPOUND_SURNAMES.split("|"))


def mask_value(value: str) -> str:
    """Keep the first character, star the rest ("张三" → "张*", a mobile → "1**********")."""
    kept = value[0]
    return kept + "".join("*" if not ch.isspace() and ch != "-" else ch for ch in value[1:])


def mask(text: str, findings: list[Finding] | None = None) -> str:
    """`text` with every finding masked."""
    findings = find_personal_data(text) if findings is None else findings
    parts: list[str] = []
    last = 0
    for finding in sorted(findings, key=lambda f: f.start):
        if finding.start < last:
            continue
        parts.append(text[last : finding.start])
        parts.append(mask_value(finding.text))
        last = finding.end
    parts.append(text[last:])
    return "".join(parts)
