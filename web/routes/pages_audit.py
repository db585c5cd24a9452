"""Page: the audit log for staff, in words, with filters, pagination and CSV export."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from marketplace import messages
from marketplace.audit.labels import action_label, actions_matching, entity_label
from marketplace.audit.service import known_actions, known_entity_types, list_entries
from marketplace.clock import LOCAL_TZ
from marketplace.reports.cells import csv_text
from marketplace.validation import parse_day
from web.audit_view import describe
from web.deps import SessionDep
from web.pages import AuditPage
from web.templating import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25  # a phone reads 25 compact rows in a few screens; the CSV has them all
CSV_LIMIT = 50_000
Text = Annotated[str, Query(max_length=64)]


def _day(text: str) -> date | None:
    return parse_day(text) if text.strip() else None


def _filters(
    session: SessionDep,
    entity_type: Annotated[str, Query(max_length=32)] = "",
    entity_id: Text = "",
    actor: Text = "",
    action: Text = "",
    date_from: Annotated[str, Query(max_length=10)] = "",
    date_to: Annotated[str, Query(max_length=10)] = "",
) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    """The filter query of the page and its CSV: the echoed form, the list_entries arguments
    and per-field errors."""
    params = {
        "actor": actor.strip(),
        "action": action.strip(),
        "entity_type": entity_type.strip(),
        "entity_id": entity_id.strip(),
        "date_from": date_from.strip(),
        "date_to": date_to.strip(),
    }
    errors: dict[str, str] = {}
    start, end = _day(params["date_from"]), _day(params["date_to"])
    for name, value in (("date_from", start), ("date_to", end)):
        if params[name] and value is None:
            errors[name] = messages.AUDIT_BAD_DATE
    if start and end and start > end:
        errors["date_to"] = messages.AUDIT_DATES_REVERSED
    args: dict[str, Any] = {
        "entity_type": params["entity_type"] or None,
        "entity_id": params["entity_id"] or None,
        "actor": params["actor"] or None,
    }
    if params["action"]:
        args["actions"] = actions_matching(params["action"], known_actions(session=session))
    if start and "date_from" not in errors:
        args["since"] = datetime.combine(start, time(0), tzinfo=LOCAL_TZ)
    if end and "date_to" not in errors:
        args["until"] = datetime.combine(end + timedelta(days=1), time(0), tzinfo=LOCAL_TZ)
    return params, args, errors


Filters = Annotated[tuple[dict[str, str], dict[str, Any], dict[str, str]], Depends(_filters)]


@router.get("/audit", summary="审计日志")
def audit_page(
    request: Request,
    session: SessionDep,
    user: AuditPage,
    filters: Filters,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    params, args, errors = filters
    entries, total = list_entries(session=session, **args, page=page, page_size=PAGE_SIZE)
    types = known_entity_types(session=session)
    context = {
        "entries": describe(entries, user, session=session),
        # the labels the action filter offers, one per action written so far
        "action_labels": sorted({action_label(a) for a in known_actions(session=session)}),
        "total": total,
        "params": params,
        "errors": errors,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "entity_choices": [(t, entity_label(t)) for t in types],
        "export_query": urlencode({k: v for k, v in params.items() if v}),
    }
    return render(
        request, "audit.html", context, fragments=("results",), status_code=422 if errors else 200
    )


@router.get("/audit.csv", summary="导出审计日志")
def audit_csv(
    session: SessionDep,
    user: AuditPage,
    filters: Filters,
) -> Response:
    _, args, _ = filters
    entries, _ = list_entries(session=session, **args, page=1, page_size=CSV_LIMIT)
    rows: list[list[object]] = [list(messages.AUDIT_CSV_HEADER)]
    for line in describe(entries, user):
        rows.append(
            [
                line.at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S"),
                line.actor,
                line.action_label,
                line.action,
                line.entity_label,
                line.entity_id,
                json.dumps(line.before, ensure_ascii=False) if line.before else "",
                json.dumps(line.after, ensure_ascii=False) if line.after else "",
            ]
        )
    return Response(
        csv_text(rows),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="audit-log.csv"',
            "Cache-Control": "no-store",
        },
    )
