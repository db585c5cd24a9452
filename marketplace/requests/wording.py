"""What a request's wording says beyond its need: words of a crisis (which suggest 危机 as its
urgency) and the pleasantries around a need (greetings, thanks, who writes), which never name
a session.

CRISIS_WORDS is the one list of crisis words: the request form reads it for its suggestion
and its hint."""

from __future__ import annotations

import re

# Words a coordinator quotes when a student's life may be at risk (suicidal talk, self-harm,
# a plan or an attempt). Plain substrings of normalised Simplified Chinese.
CRISIS_WORDS = (
    "活着没意思",
    "活着没有意思",
    "不想活",
    "不如死了",
    "想死",
    "寻死",
    "轻生",
    "自杀",
    "自尽",
    "割腕",
    "跳楼",
    "跳河",
    "上吊",
    "服药过量",
    "吞药",
    "遗书",
)
# A 非自杀性自伤 (NSSI) names self-harm *without* suicidal intent: not a crisis word by itself.
_NOT_CRISIS = ("非自杀性", "非自杀")


def crisis_words(text: str) -> list[str]:
    """The crisis words in `text`, in the order of CRISIS_WORDS (none for an empty text)."""
    cleaned = text or ""
    for phrase in _NOT_CRISIS:
        cleaned = cleaned.replace(phrase, "")
    return [word for word in CRISIS_WORDS if word in cleaned]


# A clause that is only a greeting, a thank-you, a sign-off or an apology for writing.
_ADDRESSEE = r"(?:[\w·]{0,4}(?:老师|专家|领导|主任|同志|群友|同事)们?|大家|各位[\w·]{0,4}|中心)"
_PLEASANTRY = re.compile(
    rf"^(?:{_ADDRESSEE}\s*(?:好|您好|你好|早上好|上午好|下午好|晚上好)?|"
    r"(?:您好|你好|大家好|早上好|上午好|中午好|下午好|晚上好|打扰了?|冒昧\w{0,8}|"
    r"不好意思\w{0,10}|请问\w{0,6}方便\w{0,2}|"
    r"(?:先|再次|非常|十分|万分)?(?:谢谢|感谢|多谢|致谢|辛苦)\w{0,10}|麻烦\w{0,8}|"
    r"期待\w{0,8}|盼\w{0,6}|静候佳音|此致|敬礼|此致敬礼|祝\w{0,8}|顺颂\w{0,4}))"
    r"[啦了啊呀哈呢吧！!。.～~]*$"
)


# Who writes ("我是……的心理老师", "本人是分管德育的副校长"): about the writer, not the need.
_INTRODUCTION = re.compile(r"^(?:我|我们|本人|我校|我们学校)(?:是|在|负责)")


def is_pleasantry(clause: str) -> bool:
    """A clause that says nothing about the need: a greeting, thanks or a sign-off (您好, 老师
    您好, 谢谢, 辛苦了, 此致敬礼 …), or who writes (我是……)."""
    clause = clause.strip(" ，,。.!！")
    return bool(_PLEASANTRY.match(clause) or _INTRODUCTION.match(clause))
