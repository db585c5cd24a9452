"""Import of expert records from JSONL: validate every line first, then upsert the good ones."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, require
from marketplace.errors import DomainError
from marketplace.experts.models import ExpertRecord
from marketplace.experts.service import make_lookups, upsert_record
from marketplace.validation import describe_errors

MAX_LINE_LENGTH = 64_000


@dataclass(frozen=True)
class LineError:
    line: int
    expert_id: str | None
    reason: str


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[LineError] = field(default_factory=list)
    written: bool = True

    @property
    def accepted(self) -> int:
        return self.created + self.updated + self.unchanged


def parse_records(
    lines: Iterable[str], session: Session
) -> tuple[list[tuple[int, ExpertRecord]], list[LineError]]:
    """Validate each line: JSON, fields, known region, and ids unique within the file."""
    lookups = make_lookups(session)
    good: list[tuple[int, ExpertRecord]] = []
    errors: list[LineError] = []
    first_seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        if len(text) > MAX_LINE_LENGTH:
            errors.append(LineError(number, None, f"该行过长（超过 {MAX_LINE_LENGTH} 个字符）"))
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            errors.append(
                LineError(number, None, f"不是有效的 JSON：{exc.msg}（第 {exc.colno} 列）")
            )
            continue
        except (ValueError, RecursionError):  # a number past 4,300 digits, nesting too deep
            errors.append(LineError(number, None, messages.JSON_NUMBER_OR_NESTING))
            continue
        if not isinstance(data, dict):
            errors.append(LineError(number, None, "每行必须是一个 JSON 对象"))
            continue
        raw_id = data.get("id") if isinstance(data.get("id"), str) else None
        try:
            record = ExpertRecord.model_validate(data)
        except ValidationError as exc:
            errors.append(LineError(number, raw_id, describe_errors(exc.errors())))
            continue
        if record.id in first_seen:
            errors.append(
                LineError(
                    number, record.id, f"编号 {record.id} 在第 {first_seen[record.id]} 行已出现"
                )
            )
            continue
        try:
            lookups.regions.district_id(**record.region.model_dump())
        except DomainError as exc:
            errors.append(LineError(number, record.id, exc.message))
            continue
        first_seen[record.id] = number
        good.append((number, record))
    return good, errors


def import_experts(
    *,
    session: Session,
    lines: Iterable[str],
    user: User,
    strict: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Upsert valid lines by id (whoever may manage experts); bad lines are reported and never
    partly written.

    With `strict`, nothing is written when any line is bad.
    """
    require(user, Action.expert_manage)
    good, errors = parse_records(lines, session)
    report = ImportReport(errors=errors)
    if strict and errors:
        report.written = False
        return report
    lookups = make_lookups(session)
    for done, (number, record) in enumerate(good, start=1):
        try:
            with session.begin_nested():
                outcome = upsert_record(session=session, rec=record, user=user, lookups=lookups)
        except (DomainError, SQLAlchemyError) as exc:
            reason = (
                exc.message
                if isinstance(exc, DomainError)
                else f"写入失败：{exc.__class__.__name__}"
            )
            report.errors.append(LineError(number, record.id, reason))
            lookups = make_lookups(session)
            continue
        setattr(report, outcome, getattr(report, outcome) + 1)
        if progress:
            progress(done, len(good))
    report.errors.sort(key=lambda e: e.line)
    return report
