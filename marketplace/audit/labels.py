"""The audit log in words: Chinese names for every action code and record type.

Codes are written by each domain (`expert.update`, `session.login`); a code without its own
label is named from its record type and verb, so a new action is never shown as a bare code.
"""

from __future__ import annotations

from marketplace import messages


def entity_label(entity_type: str) -> str:
    return messages.AUDIT_ENTITY_LABELS.get(entity_type, entity_type)


def action_label(action: str) -> str:
    """The Chinese name of an action code."""
    if action in messages.AUDIT_ACTION_LABELS:
        return messages.AUDIT_ACTION_LABELS[action]
    entity, _, verb = action.partition(".")
    verb = verb.rsplit(".", 1)[-1]
    if verb in messages.AUDIT_VERB_LABELS and entity in messages.AUDIT_ENTITY_LABELS:
        return messages.AUDIT_VERB_LABELS[verb] + messages.AUDIT_ENTITY_LABELS[entity]
    if entity in messages.AUDIT_ENTITY_LABELS:
        return f"{messages.AUDIT_ENTITY_LABELS[entity]}：{messages.AUDIT_OTHER_ACTION}"
    return messages.AUDIT_OTHER_ACTION


def actions_matching(text: str, known: list[str]) -> list[str]:
    """The action codes among `known` (and the labelled ones) whose Chinese name or code
    contains `text`, so staff can type 预约 or 批准."""
    text = text.strip().lower()
    if not text:
        return []
    codes = set(messages.AUDIT_ACTION_LABELS) | set(known)
    return sorted(c for c in codes if text in action_label(c).lower() or text in c.lower())
