"""An expert named inside a message: "您好，想约一下王某某老师…" is a look-up of that person.

A query that is (almost) only a name or an organisation is a look-up already
(search.service.lookup_strength). In a message the name sits among other words, and need
extraction may strip its clause as context, so the service asks for it separately: an expert
is named when the message contains their name verbatim, asked for (a request verb just before
it, or a form of address just after it) and not as the writer's own introduction
("我是王某某老师"). A signature without either cue is not a look-up: in a directory of 100,000
experts a writer's own name is often someone else's too. Organisations are left to the
whole-query look-up: a letter names the writer's own school, which may be an expert's employer
(2 of the 300 wrapped dev messages do).
"""

from __future__ import annotations

from collections.abc import Sequence

from search.base import Candidate

REQUEST_BEFORE = ("约", "找", "请", "联系", "推荐", "咨询", "邀请", "转介")
ADDRESS_AFTER = ("老师", "专家", "医生", "大夫", "教授", "主任", "博士", "督导", "社工")
SELF_BEFORE = ("我是", "我叫", "本人", "我们是")
REQUEST_WINDOW = 4  # characters before the name in which a request verb counts
MIN_NAME_CHARS = 2


def expert_name(candidate: Candidate) -> str | None:
    """The expert's name (the first part of an expert document's title), else None."""
    if candidate.doc.kind != "expert":
        return None
    name = candidate.doc.title.partition(" · ")[0].strip()
    return name if len(name) >= MIN_NAME_CHARS else None


def asked_for(message: str, name: str) -> bool:
    """True when `message` names `name` as the person it asks for (see the module docstring)."""
    if message.strip() == name:
        return True
    start = message.find(name)
    while start >= 0:
        before = message[max(0, start - REQUEST_WINDOW) : start]
        after = message[start + len(name) :]
        if not before.endswith(SELF_BEFORE) and (
            any(verb in before for verb in REQUEST_BEFORE) or after.startswith(ADDRESS_AFTER)
        ):
            return True
        start = message.find(name, start + 1)
    return False


def named_experts(message: str, candidates: Sequence[Candidate]) -> list[Candidate]:
    """The candidates whose expert the message asks for by name, in the order named."""
    found = []
    for candidate in candidates:  # ~600 at 100k experts: the cheap test first
        if candidate.doc.kind != "expert" or candidate.doc.title.lstrip()[:1] not in message:
            continue
        name = expert_name(candidate)
        if name and name in message and asked_for(message, name):
            found.append((message.find(name), candidate.doc.sort_key, candidate))
    return [candidate for _, _, candidate in sorted(found, key=lambda f: (f[0], f[1]))]
