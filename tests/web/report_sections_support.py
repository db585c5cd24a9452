"""A month of history for the report sections (March 2031): experts, sessions, ratings, requests.

Rows are written the way the services store them (booking rows, audited request transitions,
a confirmed match run) at chosen times, so the expected figures can be worked out by hand.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session

from booking.schedule.models import AvailabilityProfile
from booking.sessions.models import Booking, BookingRating
from marketplace.accounts.principal import system_principal
from marketplace.audit.models import AuditEntry
from marketplace.districts.service import find_district
from marketplace.experts.importing import import_experts
from marketplace.requests.models import DistrictRequest
from matching.models import MatchPair, MatchRun
from tests.conftest import expert_record

MONTH = "2031-03"


def at(day: int, hour: int = 0, month: int = 3) -> datetime:
    return datetime(2031, month, day, hour, tzinfo=UTC)


def _session_row(session, expert_id, district_id, kind, status, start, hours) -> Booking:
    booking = Booking(
        uid=f"{uuid.uuid4().hex}@test",
        expert_id=expert_id,
        district_id=district_id,
        kind=kind,
        format="online",
        title="报表测试场次",
        status=status,
        start_at=start,
        end_at=start + timedelta(hours=hours),
        capacity=20 if kind == "training" else None,
    )
    session.add(booking)
    session.flush()
    return booking


def _request(session, district_id, created, status) -> DistrictRequest:
    request = DistrictRequest(
        text="学生心理危机个案督导",
        district_id=district_id,
        service_type="supervision",
        format="online",
        hours=2,
        window_start=date(2031, 3, 1),
        window_end=date(2031, 4, 30),
        status=status,
        created_at=created,
        updated_at=created,
    )
    session.add(request)
    session.flush()
    return request


def _transition(session, request, before, after, when) -> None:
    session.add(
        AuditEntry(
            at=when,
            actor="staff",
            action="request.status",
            entity_type="district_request",
            entity_id=str(request.id),
            before={"status": before},
            after={"status": after},
        )
    )


def build_month(session: Session) -> dict[str, int]:
    """Experts RS1 (psychology, 20 h/month) and RS2 (education, limited to 5 h/month)."""
    report = import_experts(
        session=session,
        lines=[
            json.dumps(
                expert_record(id="RS1", name="甲专家", domain="psychology"), ensure_ascii=False
            ),
            json.dumps(
                expert_record(
                    id="RS2", name="乙专家", domain="education", monthly_capacity_hours=10
                ),
                ensure_ascii=False,
            ),
        ],
        user=system_principal("test"),
    )
    assert not report.errors, report.errors
    session.add(AvailabilityProfile(expert_id="RS2", monthly_limit_hours=5))
    beilin = find_district(session=session, name="西安市/碑林区").id
    yanta = find_district(session=session, name="西安市/雁塔区").id

    # RS1 for 碑林: 2 h completed (rated 4), 3 h confirmed, 1 h cancelled; April is outside.
    done = _session_row(session, "RS1", beilin, "supervision", "completed", at(5, 2), 2)
    _session_row(session, "RS1", beilin, "supervision", "confirmed", at(12, 2), 3)
    _session_row(session, "RS1", beilin, "supervision", "cancelled", at(13, 2), 1)
    _session_row(session, "RS1", beilin, "supervision", "completed", at(2, 2, month=4), 2)
    # RS2 for 雁塔: 4 h consultation completed (rated 5).
    other = _session_row(session, "RS2", yanta, "consultation", "completed", at(6, 2), 4)
    session.add(BookingRating(booking_id=done.id, district_id=beilin, score=4))
    session.add(BookingRating(booking_id=other.id, district_id=yanta, score=5))

    # 碑林's requests: matched after 10 h (status change), 20 h (confirmed batch run) and 30 h
    # (submitted from draft, then scheduled after 50 h); one still waiting.
    first = _request(session, beilin, at(1), "matched")
    _transition(session, first, "submitted", "matched", at(1, 10))
    second = _request(session, beilin, at(2), "matched")
    run = MatchRun(status="confirmed", confirmed_at=at(2, 20), request_ids=[second.id])
    session.add(run)
    session.flush()
    session.add(MatchPair(run_id=run.id, request_id=second.id, expert_id="RS1", status="confirmed"))
    third = _request(session, beilin, at(25, month=2), "scheduled")
    _transition(session, third, "draft", "submitted", at(3))
    _transition(session, third, "submitted", "matched", at(4, 6))
    _transition(session, third, "matched", "scheduled", at(5, 2))
    _request(session, beilin, at(4), "submitted")
    # 雁塔's request was submitted in February: outside the month.
    _request(session, yanta, at(20, month=2), "submitted")
    session.flush()
    return {"beilin": beilin, "yanta": yanta}
