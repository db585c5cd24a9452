"""Dev needs wrapped the way coordinators write them: the EVALUATION generator.

    python benchmarks/wrapped_needs.py [--queries F] [--qrels F] [--seed 0] [--out DIR]

Each bare need becomes a message in one of three styles, with context sentences written for
this generator only (the product learns its "context" class from a different set of
sentences, written in a different voice: search/data/context_sentences.txt; nothing here is
shared with it, so the wrapped figure is honest):

* ``letter``: a formal letter - salutation, who writes and the school's background, the need,
  logistics (time, budget, online or on site) and a formal close;
* ``chat``: a chat message - a casual greeting, the need cut into two clauses with a comma,
  one line of logistics and thanks;
* ``narrative``: a long account with TWO needs - school background, both needs introduced as
  "一是…；二是…" or "另外…", logistics and thanks. Its qrels grade each expert with the better
  of the two needs' grades, and an expert graded for both gets one grade more (capped at 2),
  so a ranking that puts holders of both first scores best.

A fourth, harder style is kept apart (``HARD_STYLES``: every need is also wrapped in it, and it
is reported on its own, so the three styles above keep their figures): ``forward``, a WeChat
group message forwarding a class teacher's words - a time stamp, an @-mention, who forwards
and why, the teacher's message in quotation marks with the need cut into pieces among
classroom details, "[图片]" placeholders and a request to whoever reads the group. Its
sentences were written after the three styles above and after the product's training
sentences, apart from both.

Session 8 adds ``keyword_queries``: 48 short needs as typed into the search box (厌学,
初二学生厌学, 班主任减压 …), each with the specialty expected, reported as the "keyword" set.

Deterministic for a seed. Used by benchmarks/search_quality.py and matching_quality.py.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

STYLES = ("letter", "chat", "narrative")
HARD_STYLES = ("forward",)
# Session 7: the ways people actually type, each its own style, reported apart from the styles
# above (so their figures stay comparable) and written after every sentence the product trains
# on. ``list`` carries two needs (graded as a narrative is).
ROUGH_STYLES = (
    "phone",  # phone typing: no punctuation, spaces or nothing between clauses, emoji, full width
    "voice",  # voice-to-text run-on: 嗯 那个 就是, one long unpunctuated stream
    "typo",  # homophone slips of a pinyin keyboard (焦绿 for 焦虑)
    "question",  # the need asked as a question (有没有懂……的老师)
    "buried",  # a long school background, the need mid-paragraph, more background after
    "list",  # two needs numbered 1. 2.
    "abbrev",  # shorthand: pinyin initials (bzr, jz) and English abbreviations (ADHD, NSSI)
    "traditional",  # the whole message in traditional characters
)

_CITIES = [
    ("西安市", "雁塔区"),
    ("宝鸡市", "渭滨区"),
    ("咸阳市", "秦都区"),
    ("渭南市", "临渭区"),
    ("汉中市", "汉台区"),
    ("榆林市", "榆阳区"),
    ("延安市", "宝塔区"),
    ("安康市", "汉滨区"),
    ("商洛市", "商州区"),
    ("铜川市", "耀州区"),
]
_SCHOOLS = [
    "第二中学",
    "实验小学",
    "城关初级中学",
    "育才学校",
    "第五高级中学",
    "向阳九年制学校",
    "希望小学",
    "职业教育中心",
]
_ROLES = ["心理老师", "德育主任", "副校长", "教务处老师", "年级组长", "区教研员", "校医"]
_SURNAMES = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"]

_LETTER_OPEN = [
    "尊敬的省资源中心各位老师：您好！",
    "尊敬的专家：您好！",
    "省心理健康资源中心：",
    "各位老师好！冒昧来函，请多包涵。",
]
_LETTER_WHO = [
    "我是{city}{district}{school}的{role}{surname}老师，负责学校心理健康教育工作已有五年。",
    "我校是{city}{district}的一所{school_kind}，现有学生一千二百余人，教职工九十多人。",
    "{school}地处{district}城乡接合部，留守儿童约占三成，专职心理教师仅一名。",
    "本人系{city}{district}教育局{role}，受局领导委托与贵中心联系。",
]
_LETTER_LOGISTICS = [
    "时间拟安排在下学期开学后第三周，地点在我校报告厅，可容纳两百人。",
    "经费已列入本年度专项预算，标准按区里有关规定执行。",
    "线上或到校均可，若到校我们可负责往返接送及午餐。",
    "活动时长约半天，参加对象为全体班主任和部分家长代表。",
]
_LETTER_ASK = ["现有一事相求：", "具体情况如下：", "特此来函，", "经研究，"]
_LETTER_CLOSE = [
    "以上请求，恳请予以支持。此致敬礼！",
    "盼复为感，谢谢！",
    "不胜感激，期待您的回复。",
    "如蒙应允，我们将做好一切配合工作。",
]
_CHAT_HELLO = [
    "老师好～打扰一下",
    "在吗老师",
    "hi，资源中心的老师您好",
    "您好您好，我是{district}的{surname}老师",
    "冒昧打扰哈",
]
_CHAT_LOGISTICS = [
    "下周二下午或者周四上午都行",
    "线上腾讯会议就可以",
    "最好能来学校一趟，我们这边离市区一个小时车程",
    "预算不多，大概两三千",
    "人数大概四十个左右",
]
_CHAT_THANKS = ["谢谢老师！", "麻烦啦🙏", "辛苦辛苦", "先谢过了～", "等您消息哈"]
_NARRATIVE_OPEN = [
    "我们是{city}{district}的一所{school_kind}，这学期新来了不少转学生，学校也换了新校长。",
    "{school}今年刚刚通过省级文明校园复检，老师们工作热情很高，但最近也遇到一些新情况。",
    "我在{school}做{role}，学校规模不大，每个年级四个班，家长大多在外地务工。",
]
_NARRATIVE_JOIN = [
    ("近来主要有两件事想请教。一是", "；二是"),
    ("这段时间我们比较头疼的是，", "。另外，"),
    ("眼下有两方面需要帮助：首先，", "；其次，"),
]
_NARRATIVE_CLOSE = [
    "时间上我们比较灵活，下个月任意一个工作日都可以，线上线下均可。感谢您百忙之中看完这么长的留言！",
    "如果方便，希望能在期中考试前安排，费用按中心标准走。再次感谢！",
    "我们可以提前把学生和班级的基本情况整理好发给专家。非常感谢！",
]


_FORWARD_HEAD = [
    "【转发】{surname}老师 {month}月{day}日 {hour}:{minute}",
    "@资源中心值班老师 @{district}心理教研员 帮忙看看这个",
    "[群消息转发] 来自“{district}班主任交流群”",
    "{hour}:{minute} 转发聊天记录：",
]
_FORWARD_WHY = [
    "下面是我们{grade}班主任刚在群里发的，原话转过来，大家帮着出出主意",
    "这个情况班主任跟我说了好几次了，我把她的话贴在这里",
    "家长群里也有人在问，我先把班主任的描述转一下",
    "刚开完年级会，{surname}老师让我转给中心",
]
_FORWARD_DETAIL = [
    "这个娃平时挺乖的，成绩中等，坐第三排",
    "他爸妈都在西安打工，跟着奶奶住",
    "上学期还当过小组长，这学期像换了个人",
    "班里一共四十二个人，这种情况以前没遇到过",
    "[图片][图片]",
    "家访的时候奶奶也说不清楚",
]
_FORWARD_ASK = [
    "有没有懂这块的老师能接一下，在线等",
    "收到的老师回个1，看谁方便对接",
    "谁有合适的人选麻烦私信我",
    "不急但也别拖太久哈，周五前有个回音就行",
]


_PHONE_HELLO = [
    "老师在不在",
    "hello老师",
    "请问是资源中心吗",
    "{surname}老师你好呀",
    "中心的老师晚上好",
]
_PHONE_WHO = [
    "我{district}这边的",
    "我是{school}带班的",
    "我们是{city}一个乡下学校",
    "",
]
_PHONE_TAIL = [
    "能帮忙找个人不",
    "急急急",
    "看到回下我",
    "多谢多谢",
    "麻烦了哈",
]
_EMOJI = ["😭", "🙏", "😓", "🥺", "💦", "🤦", "👍"]
_VOICE_FILLERS = ["嗯", "那个", "就是", "然后", "就是说", "对", "呃", "反正"]
_VOICE_OPEN = [
    "喂喂 嗯 老师你好 那个我是{district}{school}的",
    "呃 我语音转文字的哈 可能有错别字 那个我是{role}",
    "嗯 是这样的 我们{school}这边呢",
    "那个 老师我就直接说了哈",
]
_VOICE_CLOSE = [
    "嗯 大概就这么个情况 你看看怎么弄",
    "就这样 老师你有空回我一下 好吧",
    "嗯 对 就这些 谢了啊",
]
# a pinyin keyboard's homophone slips, character for character (same syllable, other tone
# sometimes): what a hurried phone user sends without reading it back
_HOMOPHONES = {
    "虑": "绿",
    "郁": "玉",
    "焦": "蕉",
    "症": "正",
    "辅": "付",
    "导": "倒",
    "绪": "续",
    "惧": "据",
    "厌": "艳",
    "沟": "勾",
    "伤": "商",
    "残": "惨",
    "危": "为",
    "机": "基",
    "校": "效",
    "课": "客",
    "测": "册",
    "评": "平",
    "庭": "停",
    "育": "玉",
    "理": "里",
    "咨": "资",
    "询": "寻",
    "援": "元",
    "霸": "坝",
    "凌": "陵",
    "欺": "期",
    "眠": "棉",
    "瘾": "隐",
    "戏": "系",
    "留": "流",
    "守": "手",
    "孤": "姑",
    "独": "读",
    "殊": "书",
    "规": "归",
    "涯": "崖",
    "研": "言",
    "题": "提",
    "情": "晴",
    "感": "敢",
    "际": "记",
    "往": "网",
    "注": "住",
    "意": "义",
    "缺": "却",
    "陷": "线",
    "抑": "亿",
    "压": "鸭",
    "躁": "燥",
    "怕": "帕",
    "哭": "窟",
    "睡": "税",
    "梦": "孟",
    "慌": "荒",
    "划": "话",
    "割": "哥",
    "刀": "到",
    "害": "还",
    "死": "四",
    "架": "价",
    "闹": "脑",
    "逃": "桃",
    "网": "往",
    "游": "由",
    "班": "般",
    "任": "认",
}
_TYPO_OPEN = ["老师好,", "您好!打扰下,", "hi老师,", "在吗,"]
_TYPO_CLOSE = ["谢谢!!", "劳烦您嘞", "盼着回音~", "感谢感谢"]
_QUESTION_FORMS = [
    ("请问有没有懂这方面的老师？", "，这种情况该找谁"),
    ("想问下咱们平台上有没有专门做这块的专家？", "，能推荐一位吗"),
    ("有没有老师能指点一下：", "，我们该怎么办？"),
    ("", "，请问哪位老师擅长处理这种情况？"),
]
_BURIED_BEFORE = [
    "我们学校建于上世纪六十年代，前身是一所公社中学，二〇一五年迁入新校区。",
    "全校现有二十四个教学班，学生一千一百多人，其中住校生占一半以上。",
    "近几年学校先后被评为市级平安校园和县级德育示范校，家长满意度一直不错。",
    "学校配有一间心理辅导室和一间沙盘室，但专职心理老师去年调走了，现在由德育处兼管。",
    "这学期开始实行课后延时服务，老师们每天要到晚上六点多才下班，工作量比较大。",
    "{district}今年推进集团化办学，我校和另外两所小学结成了教育集团。",
]
_BURIED_AFTER = [
    "学校领导对这件事比较重视，专门开了两次会研究。",
    "我们也查了一些资料，但感觉不够专业，心里没底。",
    "目前学校正在准备迎接督导检查，各项工作都比较紧。",
    "班主任们反映这类情况近两年明显多了起来。",
]
_BURIED_LOGISTICS = [
    "希望能在本月内安排一次，线上线下都可以。",
    "具体时间可以商量，我们尽量配合专家的安排。",
]
_LIST_HEAD = [
    "老师好呀，我们学校近期有以下需求：",
    "{school}心理工作需求（{month}月）：",
    "整理了一下我们这边想请专家帮忙的事：",
]
_LIST_TAIL = [
    "以上两项，哪项能先安排都行。",
    "麻烦您看看能否对接，谢谢。",
    "如需补充材料请告诉我。",
]
# shorthand: pinyin initials for the words everyone types most, and English abbreviations
# where the need names such a condition
_SHORTHAND = [
    ("注意力不集中", "ADHD"),
    ("多动", "ADHD"),
    ("创伤后", "PTSD"),
    ("自伤", "NSSI"),
    ("自残", "NSSI"),
    ("划伤", "NSSI"),
    ("孤独症", "ASD"),
    ("自闭症", "ASD"),
    ("强迫", "OCD"),
    ("情绪低落", "emo"),
    ("心情不好", "emo"),
    ("班主任", "bzr"),
    ("家长", "jz"),
    ("心理老师", "xl老师"),
    ("学生", "xs"),
    ("孩子", "娃"),
    ("学校", "xx"),
]
_ABBREV_OPEN = ["xl中心的老师好", "hello 我xx的", "ls好 打扰"]
_ABBREV_CLOSE = ["thx", "3q老师", "拜托拜托"]
_TRAD_OPEN = ["老師您好，", "您好，我們是{district}的學校，", "打擾了，"]
_TRAD_CLOSE = ["謝謝您！", "麻煩了，等您回覆。", "感恩！"]


def _fill(template: str, rng: random.Random, **extra: object) -> str:
    city, district = rng.choice(_CITIES)
    return template.format(
        city=city,
        district=district,
        school=rng.choice(_SCHOOLS),
        school_kind=rng.choice(["农村初中", "城区小学", "寄宿制高中", "九年一贯制学校"]),
        role=rng.choice(_ROLES),
        surname=rng.choice(_SURNAMES),
        **extra,
    )


def _forward_fill(template: str, rng: random.Random) -> str:
    # its own draws after _fill's, so the three styles above draw exactly what they drew before
    extra = {
        "grade": rng.choice(["初一", "初二", "五年级", "高一"]),
        "month": rng.randint(1, 12),
        "day": rng.randint(1, 28),
        "hour": rng.randint(7, 22),
        "minute": f"{rng.randint(0, 59):02d}",
    }
    return _fill(template, rng, **extra)


def _trim(need: str) -> str:
    return need.strip().rstrip("。！!？?；;，,")


def letter(need: str, rng: random.Random) -> str:
    """A formal letter around one need."""
    return "".join(
        [
            rng.choice(_LETTER_OPEN),
            _fill(rng.choice(_LETTER_WHO), rng),
            rng.choice(_LETTER_ASK) + _trim(need) + "。",
            *rng.sample(_LETTER_LOGISTICS, rng.choice((1, 2))),
            rng.choice(_LETTER_CLOSE),
        ]
    )


def chat(need: str, rng: random.Random) -> str:
    """A chat message around one need."""
    return (
        _fill(rng.choice(_CHAT_HELLO), rng)
        + "，"
        + _trim(need)
        + "，"
        + rng.choice(_CHAT_LOGISTICS)
        + "，"
        + rng.choice(_CHAT_THANKS)
    )


def narrative(need: str, second: str, rng: random.Random) -> str:
    """A long account of two needs."""
    first_in, second_in = rng.choice(_NARRATIVE_JOIN)
    return (
        _fill(rng.choice(_NARRATIVE_OPEN), rng)
        + first_in
        + _trim(need)
        + second_in
        + _trim(second)
        + "。"
        + rng.choice(_NARRATIVE_CLOSE)
    )


def forward(need: str, rng: random.Random) -> str:
    """A WeChat group message forwarding a class teacher's words around one need."""
    pieces = [p for p in _trim(need).replace("，", "，\n").split("\n") if p]
    details = rng.sample(_FORWARD_DETAIL, 2)
    quoted = [*pieces[:1], details[0] + "，", *pieces[1:], "，" + details[1]]
    return "\n".join(
        [
            _forward_fill(rng.choice(_FORWARD_HEAD), rng),
            _forward_fill(rng.choice(_FORWARD_WHY), rng) + "：",
            "“" + "".join(quoted) + "”",
            rng.choice(_FORWARD_ASK),
        ]
    )


def _strip_punct(text: str) -> str:
    return "".join(" " if ch in '，,。；;：:、！!？?“”"（）()' else ch for ch in text)


def _full_width(text: str) -> str:
    # ASCII letters and digits as a phone's full-width keyboard types them
    return "".join(chr(ord(ch) + 0xFEE0) if ch.isascii() and ch.isalnum() else ch for ch in text)


def phone(need: str, rng: random.Random) -> str:
    """Phone typing: no punctuation, a space or nothing between clauses, emoji, full width."""
    body = _strip_punct(_trim(need))
    if rng.random() < 0.5:
        body = body.replace(" ", "")
    parts = [
        _fill(rng.choice(_PHONE_HELLO), rng),
        _fill(rng.choice(_PHONE_WHO), rng),
        body + rng.choice(_EMOJI),
        rng.choice(_PHONE_TAIL) + rng.choice(_EMOJI),
    ]
    text = rng.choice((" ", "")).join(p for p in parts if p)
    return _full_width(text) if rng.random() < 0.5 else text


def voice(need: str, rng: random.Random) -> str:
    """Voice-to-text: fillers between the pieces of the need, no punctuation at all."""
    pieces = [p for p in _strip_punct(_trim(need)).split(" ") if p]
    said: list[str] = [_fill(rng.choice(_VOICE_OPEN), rng)]
    for p in pieces:
        said.append(" ".join(rng.sample(_VOICE_FILLERS, rng.choice((1, 2)))))
        said.append(p)
    said.append(rng.choice(_VOICE_CLOSE))
    return " ".join(said)


def typo(need: str, rng: random.Random) -> str:
    """Homophone slips of a pinyin keyboard (up to three) in a short half-width chat."""
    chars = list(_trim(need))
    spots = [i for i, ch in enumerate(chars) if ch in _HOMOPHONES]
    for i in rng.sample(spots, min(3, len(spots))):
        chars[i] = _HOMOPHONES[chars[i]]
    body = "".join(chars).replace("，", ",")
    return rng.choice(_TYPO_OPEN) + body + "," + rng.choice(_TYPO_CLOSE)


def question(need: str, rng: random.Random) -> str:
    """The need asked as a question."""
    before, after = rng.choice(_QUESTION_FORMS)
    return before + _trim(need) + after


def buried(need: str, rng: random.Random) -> str:
    """A long school background, the need mid-paragraph, more background and logistics."""
    before = [_fill(x, rng) for x in rng.sample(_BURIED_BEFORE, 3)]
    after = rng.sample(_BURIED_AFTER, 2)
    return "".join([*before, "最近" + _trim(need) + "。", *after, rng.choice(_BURIED_LOGISTICS)])


def numbered(need: str, second: str, rng: random.Random) -> str:
    """Two needs in a numbered list."""
    marks = rng.choice((("1.", "2."), ("1、", "2、"), ("①", "②"), ("一、", "二、")))
    return "\n".join(
        [
            _forward_fill(rng.choice(_LIST_HEAD), rng),
            marks[0] + _trim(need) + "；",
            marks[1] + _trim(second) + "。",
            rng.choice(_LIST_TAIL),
        ]
    )


def abbrev(need: str, rng: random.Random) -> str:
    """Shorthand: pinyin initials and English abbreviations for the words they replace."""
    body = _trim(need)
    for word, short in _SHORTHAND:
        body = body.replace(word, short)
    return rng.choice(_ABBREV_OPEN) + " " + body + " " + rng.choice(_ABBREV_CLOSE)


def traditional(need: str, rng: random.Random) -> str:
    """A short message in traditional characters (OpenCC's s2t, Taiwan phrasing)."""
    from opencc import OpenCC  # noqa: PLC0415  (benchmarks only)

    return (
        _fill(rng.choice(_TRAD_OPEN), rng)
        + OpenCC("s2twp").convert(_trim(need))
        + "，"
        + rng.choice(_TRAD_CLOSE)
    )


# Session 8: short keyword-ish needs as coordinators type them into the search box (3-10
# characters), each with the specialty we expect first and, after it, specialties that also
# fit (graded 1). Written for this generator only: none is a clause of the product's training
# needs or context (tests/search/test_need_extraction.py). Reported as their own set
# ("keyword") by benchmarks/search_quality.py (keyword_queries below).
_KEYWORD_NEEDS = [
    ("厌学", ("学业压力与考试焦虑",)),
    ("初二学生厌学", ("学业压力与考试焦虑",)),
    ("初三孩子厌学逃课", ("学业压力与考试焦虑",)),
    ("高三焦虑失眠", ("学业压力与考试焦虑", "睡眠与进食问题")),
    ("考前紧张睡不着", ("学业压力与考试焦虑", "睡眠与进食问题")),
    ("中考压力大", ("学业压力与考试焦虑",)),
    ("沙盘", ("个体心理咨询", "团体心理辅导")),
    ("自伤", ("自杀风险评估", "心理危机干预")),
    ("学生割腕", ("心理危机干预", "自杀风险评估")),
    ("初中生有轻生念头", ("自杀风险评估", "心理危机干预")),
    ("学生跳楼后全校疏导", ("心理危机干预", "创伤与哀伤辅导")),
    ("家校沟通", ("家校社协同", "家庭教育指导")),
    ("班主任减压", ("教师与班主任心育培训",)),
    ("老师职业倦怠", ("教师与班主任心育培训",)),
    ("校园霸凌", ("校园欺凌预防与处置",)),
    ("初一女生被孤立", ("校园欺凌预防与处置", "社会情感学习")),
    ("手机上瘾", ("网络与手机成瘾",)),
    ("五年级沉迷游戏", ("网络与手机成瘾",)),
    ("留守儿童", ("留守与困境儿童关爱",)),
    ("留守娃不爱说话", ("留守与困境儿童关爱",)),
    ("多动坐不住", ("注意缺陷多动障碍",)),
    ("一年级上课走神", ("注意缺陷多动障碍",)),
    ("孤独症孩子随班就读", ("特殊教育与融合教育",)),
    ("幼小衔接", ("学前儿童心理发展",)),
    ("幼儿园分离焦虑", ("学前儿童心理发展",)),
    ("高一选科迷茫", ("生涯规划指导",)),
    ("志愿填报", ("生涯规划指导",)),
    ("全校心理普查", ("心理测评与量表",)),
    ("量表结果解读", ("心理测评与量表",)),
    ("疑似抑郁", ("情绪障碍诊疗", "医教结合与转介")),
    ("抑郁症复学", ("情绪障碍诊疗", "医教结合与转介")),
    ("转介精神科", ("医教结合与转介", "情绪障碍诊疗")),
    ("学生长期失眠", ("睡眠与进食问题",)),
    ("女生节食", ("睡眠与进食问题",)),
    ("亲子冲突", ("家庭教育指导",)),
    ("家长课堂", ("家庭教育指导", "家校社协同")),
    ("同学意外去世", ("创伤与哀伤辅导", "心理危机干预")),
    ("新生适应团辅", ("团体心理辅导",)),
    ("个案督导", ("心理咨询个案督导",)),
    ("心理课教案", ("心理健康课程研发",)),
    ("课题申报", ("心育科研与课题指导",)),
    ("校长心育培训", ("管理者心育领导力",)),
    ("学科渗透心育", ("学科融合渗透",)),
    ("情绪管理", ("社会情感学习",)),
    ("心理热线值班", ("心理援助热线",)),
    ("一对一咨询", ("个体心理咨询",)),
    ("驻校社工", ("学校社会工作个案管理",)),
    ("困境儿童帮扶", ("留守与困境儿童关爱",)),
]


def keyword_queries(
    expert_specialties: Mapping[str, Sequence[str]],
) -> tuple[dict[str, str], dict[str, dict[str, int]], dict[str, tuple[str, ...]]]:
    """(texts, qrels, expected specialties) of the keyword needs (ids ``KW01~keyword`` …): an
    expert holding a need's first specialty is graded 2, one holding only a later one 1."""
    texts: dict[str, str] = {}
    judged: dict[str, dict[str, int]] = {}
    expected: dict[str, tuple[str, ...]] = {}
    for n, (text, specialties) in enumerate(_KEYWORD_NEEDS, start=1):
        kid = f"KW{n:02d}~keyword"
        texts[kid], expected[kid] = text, specialties
        judged[kid] = {
            x: 2 if specialties[0] in held else 1
            for x, held in expert_specialties.items()
            if set(held) & set(specialties)
        }
    return texts, judged, expected


_ONE_NEED = {
    "letter": letter,
    "chat": chat,
    "forward": forward,
    "phone": phone,
    "voice": voice,
    "typo": typo,
    "question": question,
    "buried": buried,
    "abbrev": abbrev,
    "traditional": traditional,
}
_TWO_NEEDS = {"narrative": narrative, "list": numbered}


def wrap_queries(
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    *,
    seed: int = 0,
    groups: list[set[str]] | None = None,
    styles: tuple[str, ...] = STYLES,
    rounds: int = 1,
) -> tuple[dict[str, str], dict[str, dict[str, int]], dict[str, str], dict[str, list[str]]]:
    """(wrapped texts, their qrels, style of each, source query ids of each) for every query.

    `styles` rotate over the queries in a seeded order (a third each for STYLES; with
    HARD_STYLES every query is wrapped in its one style); a narrative pairs its
    query with another query that shares none of its grade-2 experts, drawn at random from the
    same group of `groups` (cross-validation folds: both needs of a narrative are then held
    out together). With `rounds` > 1 every query is wrapped that many times, in styles spread
    evenly over `styles` (ROUGH_STYLES: two rounds give each style a quarter of the queries).
    Wrapped ids are ``<query id>~<style>``.
    """
    rng = random.Random(seed)
    qids = list(queries)
    group_of = {q: frozenset(g) for g in (groups or [set(qids)]) for q in g}
    order = list(qids)
    rng.shuffle(order)
    texts: dict[str, str] = {}
    judged: dict[str, dict[str, int]] = {}
    style_of: dict[str, str] = {}
    sources: dict[str, list[str]] = {}
    assignments = [
        (q, styles[(n + r * len(styles) // rounds) % len(styles)])
        for r in range(rounds)
        for n, q in enumerate(order)
    ]
    for q, style in assignments:
        wid = f"{q}~{style}"
        if style in _TWO_NEEDS:
            top = {x for x, g in qrels.get(q, {}).items() if g >= 2}
            mates = sorted(o for o in group_of.get(q, qids) if o != q and o in queries)
            others = [o for o in mates if not top & {x for x, g in qrels.get(o, {}).items() if g}]
            other = rng.choice(others or mates)
            texts[wid] = _TWO_NEEDS[style](queries[q], queries[other], rng)
            a, b = qrels.get(q, {}), qrels.get(other, {})
            merged = {}
            for x in set(a) | set(b):
                g = max(a.get(x, 0), b.get(x, 0))
                if a.get(x, 0) > 0 and b.get(x, 0) > 0:
                    g = min(2, g + 1)
                merged[x] = g
            judged[wid] = merged
            sources[wid] = [q, other]
        else:
            texts[wid] = _ONE_NEED[style](queries[q], rng)
            judged[wid] = dict(qrels.get(q, {}))
            sources[wid] = [q]
        style_of[wid] = style
    return texts, judged, style_of, sources


def wrap_one(text: str, *, style: str, seed: int = 0, second: str | None = None) -> str:
    """One need wrapped in one style (narrative and list need `second`)."""
    rng = random.Random(seed)
    if style in _TWO_NEEDS:
        return _TWO_NEEDS[style](text, second or text, rng)
    return _ONE_NEED[style](text, rng)


if __name__ == "__main__":
    import argparse
    import json
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    from benchmarks.search_quality import DEV, load_jsonl, load_qrels  # noqa: PLC0415

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queries", type=Path, default=DEV / "queries.jsonl")
    ap.add_argument("--qrels", type=Path, default=DEV / "qrels.tsv")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show", type=int, default=6, help="print this many examples")
    args = ap.parse_args()
    qs = {q["id"]: q["text"] for q in load_jsonl(args.queries)}
    w, _, styles, _ = wrap_queries(qs, load_qrels(args.qrels), seed=args.seed)
    for wid in list(w)[: args.show]:
        print(json.dumps({"id": wid, "style": styles[wid], "text": w[wid]}, ensure_ascii=False))
