"""Booking benchmarks.

1. Free slots over 90 days for an expert with weekly rules, 50 date overrides and 500 busy events
   (some recurring, expanded from an .ics): booking.availability (interval arithmetic) against a
   naive minute-grid implementation of the same rules, in the same run. Goal: >= 20x faster.
   Both must return identical slots.
2. Booking throughput under contention: threads booking a small set of slots at once, each in
   its own serialized transaction, on SQLite and (with HEART_TEST_PG_URL) on PostgreSQL.

    python benchmarks/booking.py [--queries 20] [--threads 8] [--attempts 200]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from booking.availability import (  # noqa: E402
    DateOverride,
    Interval,
    Policy,
    Schedule,
    WeeklyRule,
    free_slots,
    parse_timezone,
)
from booking.ical import busy_intervals  # noqa: E402

NOW = datetime(2027, 3, 1, 0, 0, tzinfo=UTC)
DAYS = 90


def build_schedule(rng: random.Random) -> Schedule:
    weekly = tuple(
        WeeklyRule(d, start * 60, end * 60) for d in range(5) for start, end in ((9, 12), (14, 18))
    ) + (WeeklyRule(5, 9 * 60, 12 * 60),)
    days = rng.sample(range(DAYS), 50)
    overrides = []
    for i, offset in enumerate(days):
        day = (NOW + timedelta(days=offset)).date()
        ranges = () if i % 3 == 0 else ((rng.randrange(8, 12) * 60, rng.randrange(13, 20) * 60),)
        overrides.append(DateOverride(day, ranges))
    policy = Policy(
        buffer_before_minutes=15,
        buffer_after_minutes=15,
        min_notice_minutes=24 * 60,
        horizon_days=DAYS,
        daily_limit_minutes=6 * 60,
        monthly_limit_minutes=60 * 60,
    )
    ooo = ((NOW + timedelta(days=40), NOW + timedelta(days=45)),)
    return Schedule(policy=policy, weekly=weekly, overrides=tuple(overrides), out_of_office=ooo)


def build_busy(rng: random.Random) -> list[Interval]:
    """500 busy events: 20 weekly-recurring series and 480 single events, read from an .ics."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//"]
    fmt = "%Y%m%dT%H%M%SZ"
    for i in range(500):
        start = NOW + timedelta(days=rng.randrange(DAYS), minutes=rng.randrange(0, 24 * 60, 15))
        end = start + timedelta(minutes=rng.choice((30, 60, 90, 120)))
        lines += [
            "BEGIN:VEVENT",
            f"UID:e{i}",
            f"DTSTART:{start.strftime(fmt)}",
            f"DTEND:{end.strftime(fmt)}",
        ]
        if i < 20:
            lines.append("RRULE:FREQ=WEEKLY;COUNT=12")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    data = "\r\n".join(lines).encode()
    return busy_intervals(data, start=NOW - timedelta(days=1), end=NOW + timedelta(days=DAYS + 1))


def build_booked(rng: random.Random) -> list[Interval]:
    booked = []
    for _ in range(40):
        start = NOW + timedelta(days=rng.randrange(2, DAYS), hours=rng.randrange(9, 17))
        booked.append((start, start + timedelta(hours=1)))
    return booked


def minute_grid_slots(
    schedule: Schedule,
    busy: list[Interval],
    booked: list[Interval],
    start: datetime,
    end: datetime,
    duration: int,
    now: datetime,
) -> list[Interval]:
    """The naive baseline: one boolean per minute, then every grid start checked minute by minute."""
    policy = schedule.policy
    tz = parse_timezone(policy.timezone)
    lower = max(start, now + timedelta(minutes=policy.min_notice_minutes))
    upper = min(end, now + timedelta(days=policy.horizon_days))
    origin = start
    total = int((end - start).total_seconds() // 60)
    free = [False] * total
    weekly: dict[int, list[tuple[int, int]]] = {}
    for rule in schedule.weekly:
        weekly.setdefault(rule.weekday, []).append((rule.start_minute, rule.end_minute))
    overrides: dict[date, tuple] = {o.day: o.ranges for o in schedule.overrides}

    def index(moment: datetime) -> int:
        return int((moment - origin).total_seconds() // 60)

    for m in range(total):
        moment = origin + timedelta(minutes=m)
        if moment < lower or moment >= upper:
            continue
        local = moment.astimezone(tz)
        minute_of_day = local.hour * 60 + local.minute
        ranges = overrides.get(local.date(), weekly.get(local.weekday(), ()))
        free[m] = any(a <= minute_of_day < b for a, b in ranges)

    def block(s: datetime, e: datetime) -> None:
        for m in range(max(0, index(s)), min(total, index(e))):
            free[m] = False

    before = timedelta(minutes=policy.buffer_before_minutes)
    after = timedelta(minutes=policy.buffer_after_minutes)
    widest = max(before, after)
    for s, e in schedule.out_of_office:
        block(s, e)
    for s, e in busy:
        block(s - after, e + before)
    for s, e in booked:
        block(s - widest, e + widest)

    used_day: dict[date, float] = {}
    used_month: dict[tuple[int, int], float] = {}
    for s, e in booked:
        d = s.astimezone(tz).date()
        used_day[d] = used_day.get(d, 0) + (e - s).total_seconds() / 60
        used_month[(d.year, d.month)] = (
            used_month.get((d.year, d.month), 0) + (e - s).total_seconds() / 60
        )

    slots = []
    step = policy.slot_step_minutes
    for m in range(total - duration + 1):
        moment = origin + timedelta(minutes=m)
        local = moment.astimezone(tz)
        if (local.hour * 60 + local.minute) % step:
            continue
        if not all(free[m : m + duration]):
            continue
        d = local.date()
        if (
            policy.daily_limit_minutes is not None
            and used_day.get(d, 0) + duration > policy.daily_limit_minutes
        ):
            continue
        if (
            policy.monthly_limit_minutes is not None
            and used_month.get((d.year, d.month), 0) + duration > policy.monthly_limit_minutes
        ):
            continue
        slots.append((moment, moment + timedelta(minutes=duration)))
    return slots


def bench_slots(queries: int) -> None:
    rng = random.Random(7)
    schedule, busy, booked = build_schedule(rng), build_busy(rng), build_booked(rng)
    start, end = NOW, NOW + timedelta(days=DAYS)
    print(
        f"free slots over {DAYS} days: {len(schedule.weekly)} weekly rules, {len(schedule.overrides)} "
        f"overrides, 500 busy events ({len(busy)} busy intervals after expansion), {len(booked)} sessions"
    )

    def timed(fn) -> tuple[float, list]:
        times, result = [], []
        for _ in range(queries):
            t0 = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times), result

    fast, fast_slots = timed(
        lambda: free_slots(
            schedule, busy=busy, booked=booked, start=start, end=end, duration_minutes=60, now=NOW
        )
    )
    slow, slow_slots = timed(lambda: minute_grid_slots(schedule, busy, booked, start, end, 60, NOW))
    assert fast_slots == slow_slots, "the two implementations disagree"
    print(f"  interval arithmetic : {fast * 1000:8.2f} ms/query  ({len(fast_slots)} slots)")
    print(f"  minute grid (naive) : {slow * 1000:8.2f} ms/query  (identical slots)")
    print(f"  ratio               : {slow / fast:8.1f}x faster  (goal >= 20x)")


def bench_contention(label: str, url: str, threads: int, attempts: int) -> None:
    from booking import locking
    from booking.schedule import service as schedule_service
    from booking.schedule.models import AvailabilityUpdate
    from booking.sessions import service as sessions_service
    from booking.sessions.models import BookingCreate
    from marketplace.accounts.models import User
    from marketplace.db import make_engine, run_migrations, session_scope
    from marketplace.errors import Conflict
    from marketplace.settings import Settings
    from tests.booking.conftest import ALL_KINDS, add_experts, future_weekday, local, quick_user
    from tests.conftest import expert_record, seed_reference

    data_dir = Path(tempfile.mkdtemp(prefix="heart-bench-"))
    engine = make_engine(
        Settings(environment="test", secret_key="b" * 40, data_dir=data_dir, database_url=url)
    )
    run_migrations(engine)
    seed_reference(engine)
    from marketplace.vocabulary import Role

    with session_scope(engine) as session:
        add_experts(
            session, expert_record(id="BK1", service_types=ALL_KINDS, monthly_capacity_hours=744)
        )
        staff = quick_user(session, Role.staff, "staff@example.org")
        user_id = quick_user(session, Role.district, "beilin@example.org").id
        availability = AvailabilityUpdate(
            weekly=[{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)],
            min_notice_minutes=0,
            horizon_days=366,
        )
        schedule_service.set_availability(
            session=session, expert_id="BK1", data=availability, user=staff
        )
    day = future_weekday(2)
    # Contention: every attempt aims at one of a few dozen hours, so most collide.
    hours = [local(day + timedelta(days=d), h) for d in range(6) for h in range(24)][
        : max(8, attempts // 4)
    ]
    wins, conflicts, errors = [0], [0], []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        barrier.wait()
        for _ in range(attempts // threads):
            start = rng.choice(hours)
            data = BookingCreate(
                expert_id="BK1",
                start=start,
                end=start + timedelta(minutes=60),
                kind="supervision",
                format="online",
                title="bench",
            )
            try:
                with locking.serialized_session(engine) as session:
                    sessions_service.create_booking(
                        session=session, data=data, user=session.get(User, user_id)
                    )
                with lock:
                    wins[0] += 1
            except Conflict:
                with lock:
                    conflicts[0] += 1
            except Exception as exc:  # noqa: BLE001
                with lock:
                    errors.append(type(exc).__name__)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - t0
    total = wins[0] + conflicts[0] + len(errors)
    print(
        f"booking under contention on {label}: {threads} threads, {total} attempts on {len(hours)} slots"
    )
    from sqlmodel import Session, select

    from booking.sessions.models import Booking

    with Session(engine) as session:
        rows = sorted(session.exec(select(Booking.start_at, Booking.end_at)).all())
    overlaps = sum(1 for a, b in zip(rows, rows[1:], strict=False) if b[0] < a[1])
    print(
        f"  {total / elapsed:8.1f} attempts/s, {wins[0]} booked, {conflicts[0]} refused (409), "
        f"{len(errors)} errors; overlapping sessions stored: {overlaps}"
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--attempts", type=int, default=160)
    args = parser.parse_args()
    bench_slots(args.queries)
    with tempfile.TemporaryDirectory() as tmp:
        bench_contention("SQLite", f"sqlite:///{tmp}/bench.db", args.threads, args.attempts)
    pg = os.environ.get("HEART_TEST_PG_URL")
    if pg:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        name = f"heart_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(
            pg.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(pg).set(database=name).render_as_string(hide_password=False)
            bench_contention("PostgreSQL", url, args.threads, args.attempts)
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    else:
        print("PostgreSQL: skipped (set HEART_TEST_PG_URL)")


if __name__ == "__main__":
    main()
