"""A demo that looks lived in: weekly hours for every expert, past and upcoming sessions,
requests (open, matched, scheduled), decided applications and unread notifications.

Everything goes through the services (so audit entries, notifications and the request/booking
links are the real ones); past sessions are created with an injected clock.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlmodel import Session, col, select

from booking.notifications.service import escalate_unanswered_crisis
from booking.schedule.models import AvailabilityUpdate
from booking.schedule.service import list_slots, set_availability
from booking.sessions.models import BookingCreate, RatingCreate
from booking.sessions.service import (
    complete_booking,
    confirm_booking,
    create_booking,
    rate_booking,
)
from marketplace.accounts.models import User
from marketplace.accounts.principal import system_principal
from marketplace.allocation.service import approve_application
from marketplace.applications.models import ApplicationStatus, ServiceApplication
from marketplace.applications.service import reject_application
from marketplace.clock import LOCAL_TZ, utcnow
from marketplace.experts.models import Expert
from marketplace.requests.models import DistrictRequestCreate
from marketplace.requests.service import create_request
from marketplace.settings import Settings
from matching.service import confirm_run, relevance_factory_for, run_batch

# Weekly patterns, chosen per expert by position: mornings, afternoons, evenings, weekends.
PATTERNS = [
    [(d, "09:00", "12:00") for d in range(5)],
    [(d, "14:00", "17:30") for d in (0, 2, 4)],
    [(d, "18:30", "21:00") for d in range(5)],
    [(d, "09:00", "17:00") for d in (1, 3)],
    [(5, "09:00", "12:00"), (6, "14:00", "17:00")],
    [(d, "08:30", "11:30") for d in (0, 1, 2)] + [(d, "15:00", "18:00") for d in (3, 4)],
]
FULLY_BOOKED_EVERY = 97  # a few experts open one short window and have it booked


def _user(session: Session, username: str) -> User:
    return session.exec(select(User).where(User.username == username)).one()


def _weekly_hours(session: Session, staff: User) -> list[str]:
    """Weekly hours for every demo expert; returns the ids of the deliberately full ones."""
    experts = session.exec(select(Expert).order_by(col(Expert.id))).all()
    full = []
    for position, expert in enumerate(experts):
        expert_id = expert.id
        bookable = {"supervision", "consultation"} & set(expert.service_types)
        if position and position % FULLY_BOOKED_EVERY == 0 and bookable:
            weekly = [(2, "10:00", "11:00")]
            full.append(expert_id)
        else:
            weekly = PATTERNS[position % len(PATTERNS)]
        set_availability(
            session=session,
            expert_id=expert_id,
            data=AvailabilityUpdate(
                weekly=[{"weekday": d, "start": s, "end": e} for d, s, e in weekly],
                min_notice_minutes=12 * 60,
            ),
            user=staff,
        )
    return full


def _book(
    session: Session,
    user: User,
    expert_id: str,
    *,
    title: str,
    kind: str = "supervision",
    after: datetime,
    nth: int = 0,
    request_id: int | None = None,
    now: datetime | None = None,
):  # type: ignore[no-untyped-def]
    """Book the expert's `nth` free hour after `after` (None when there is none)."""
    day = after.astimezone(LOCAL_TZ).date()
    slots = list_slots(
        session=session,
        expert_id=expert_id,
        start_day=day,
        end_day=day + timedelta(days=20),
        duration_minutes=60,
        now=now or after,
    )
    starts = [s for s, _ in slots if s >= after]
    chosen, last_end = [], None
    for start in starts:  # hours that do not overlap
        if last_end is None or start >= last_end:
            chosen.append(start)
            last_end = start + timedelta(hours=1)
    if len(chosen) <= nth:
        return None
    start = chosen[nth]
    expert = session.get(Expert, expert_id)
    offered = list(expert.service_types) if expert else []
    if kind not in offered:  # the closest kind the expert offers
        kind = next((k for k in offered if k in ("supervision", "consultation")), kind)
    formats = list(expert.formats) if expert else []
    return create_booking(
        session=session,
        user=user,
        now=now,
        data=BookingCreate(
            expert_id=expert_id,
            start=start,
            end=start + timedelta(hours=1),
            kind=kind,
            format="online" if "online" in formats or not formats else formats[0],
            title=title,
            request_id=request_id,
        ),
    )


def seed_demo_activity(*, session: Session, settings: Settings, demo_dir: Path) -> dict[str, int]:
    """Fill the demo database with a few weeks of plausible activity."""
    staff, coordinator, expert_user = (_user(session, n) for n in ("staff", "beilin", "expert"))
    full = _weekly_hours(session, staff)
    counts = {"full_experts": len(full)}
    now = utcnow()
    for expert_id in full:  # their one weekly hour is taken for the next weeks
        for _ in range(3):  # each booking takes the next free hour
            _book(session, coordinator, expert_id, title="学校心理工作咨询", after=now)
    own = expert_user.expert_id or "D00001"

    # Past sessions with the demo expert, completed and rated by the coordinator.
    past = 0
    for weeks_ago, (title, score, feedback) in zip(
        (5, 4, 3, 2),
        [
            ("八年级班主任个案督导", 5, "思路清晰，给了可操作的步骤"),
            ("考试焦虑团体辅导方案研讨", 4, "很实用，希望下次多些案例"),
            ("家校沟通冲突个案咨询", 5, "家长反馈很好"),
            ("新任心理教师督导", 4, ""),
        ],
        strict=True,
    ):
        then = now - timedelta(weeks=weeks_ago)
        booking = _book(session, coordinator, own, title=title, after=then, now=then)
        if booking is None:
            continue
        confirm_booking(session=session, booking_id=booking.id, user=expert_user)
        complete_booking(
            session=session, booking_id=booking.id, user=expert_user, now=booking.end_at
        )
        rate_booking(
            session=session,
            booking_id=booking.id,
            data=RatingCreate(score=score, feedback=feedback),
            user=coordinator,
        )
        past += 1
    counts["past_sessions"] = past

    # Upcoming: two confirmed and two waiting for the expert.
    upcoming = 0
    for nth, (title, confirm) in enumerate(
        [
            ("七年级学生自伤事件后续督导", True),
            ("班主任心理危机识别培训准备会", True),
            ("初三学生厌学个案咨询", False),
            ("家长课堂主题研讨", False),
        ]
    ):
        booking = _book(session, coordinator, own, title=title, after=now, nth=nth)
        if booking is None:
            continue
        if confirm:
            confirm_booking(session=session, booking_id=booking.id, user=expert_user)
        upcoming += 1
    counts["upcoming_sessions"] = upcoming

    # Requests: a few of 碑林区, matched by staff in a confirmed batch run; one stays open.
    lines = [json.loads(line) for line in open(demo_dir / "requests.jsonl", encoding="utf-8")]
    today = now.astimezone(LOCAL_TZ).date()
    filed = []
    for line in lines[:4]:
        filed.append(
            create_request(
                session=session,
                user=coordinator,
                data=DistrictRequestCreate(
                    text=line["text"],
                    service_type=line["service_type"],
                    format="online",
                    hours=min(int(line["hours"]), 8),
                    experts_needed=1,
                    window_start=today + timedelta(days=1),
                    window_end=today + timedelta(days=45),
                    submit=True,
                ),
            )
        )
    run = run_batch(
        session=session,
        user=staff,
        relevance_factory=relevance_factory_for(settings),
        request_ids=[r.id for r in filed[:3]],
    )
    confirm_run(session=session, run_id=run.id, user=staff)
    counts["requests"] = len(filed)

    # Applications: decide some of the seeded ones (approved, partly approved, rejected).
    pending = session.exec(
        select(ServiceApplication)
        .where(ServiceApplication.status == ApplicationStatus.submitted.value)
        .order_by(col(ServiceApplication.id))
    ).all()
    decided = 0
    for position, application in enumerate(pending[: min(3, len(pending) - 1)]):  # one waits
        if position == 0:
            approve_application(
                session=session,
                application_id=application.id,
                quantity=None,
                user=staff,
            )
        elif position == 1:
            half = Decimal(application.quantity_hundredths) / 200
            approve_application(
                session=session,
                application_id=application.id,
                quantity=max(Decimal(1), half.quantize(Decimal(1))),
                user=staff,
            )
        else:
            reject_application(
                session=session,
                application_id=application.id,
                reason="本学期名额已优先分配给尚未获得服务的区县",
                user=staff,
            )
        decided += 1
    counts["decided_applications"] = decided

    # A crisis request nobody answered in time: staff and admin see the escalation.
    crisis_at = now - timedelta(hours=1)
    responder = next(
        (
            e.id
            for e in session.exec(select(Expert).order_by(col(Expert.id))).all()
            if "crisis_support" in e.service_types and "online" in e.formats
        ),
        own,
    )
    crisis = _book(
        session,
        coordinator,
        responder,
        title="学生危机事件紧急支持",
        kind="crisis_support",
        after=now + timedelta(hours=2),
        now=crisis_at,
    )
    if crisis is not None and crisis.kind == "crisis_support":
        escalate_unanswered_crisis(session=session, user=system_principal("demo"), now=now)
    return counts
