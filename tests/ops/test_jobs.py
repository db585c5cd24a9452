"""The hub's own jobs run by the scheduler (injected clock, no CLI call): the nightly index and
need-model check, the login-session purge."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from marketplace.jobs.models import JobState
from marketplace.jobs.scheduler import Scheduler
from marketplace.login_sessions.models import LoginSession
from marketplace.login_sessions.service import start_session
from marketplace.vocabulary import Role
from search.service import SearchService
from tests.booking.conftest import add_experts, quick_user
from tests.conftest import expert_record
from web.jobs import all_jobs


def hub_scheduler(ops_db, clock, search: SearchService) -> Scheduler:  # type: ignore[no-untyped-def]
    return Scheduler(
        engine=ops_db.engine,
        settings=ops_db.settings,
        specs=all_jobs(lambda: search),
        clock=clock,
        holder="test",
    )


def run_round(scheduler: Scheduler) -> None:
    scheduler.tick()
    scheduler.run_until_idle(timeout=120)


def state(ops_db, name: str) -> JobState:  # type: ignore[no-untyped-def]
    with Session(ops_db.engine) as session:
        found = session.get(JobState, name)
        assert found is not None
        return found


def test_the_nightly_check_builds_a_missing_need_model_and_requeues_records_missing_from_the_index(
    ops_db, clock
):
    with Session(ops_db.engine) as session:
        add_experts(
            session,
            expert_record(id="N1", name="甲", specialties=["焦虑情绪"]),
            expert_record(id="N2", name="乙", specialties=["学习困难"]),
        )
        session.commit()
    search = SearchService(settings=ops_db.settings, engine=ops_db.engine)
    scheduler = hub_scheduler(ops_db, clock, search)
    run_round(scheduler)
    drift = state(ops_db, "index_drift")
    assert drift.last_error is None, drift.last_error
    assert "缺失，已重建" in (drift.last_summary or "")
    assert search.model_record() is not None
    assert set(search.backend.get(["expert:N1", "expert:N2"])) == {"expert:N1", "expert:N2"}
    # A document lost from the index is found the next night and queued again.
    search.backend.delete(["expert:N2"])
    clock.advance(days=1)
    run_round(scheduler)
    drift = state(ops_db, "index_drift")
    assert drift.last_error is None and "补入 1 条" in (drift.last_summary or "")
    clock.advance(minutes=1)
    run_round(scheduler)  # the outbox drain puts it back
    assert "expert:N2" in search.backend.get(["expert:N2"])


def test_the_daily_purge_deletes_login_sessions_that_ended_a_week_ago(ops_db, clock):
    with Session(ops_db.engine, expire_on_commit=False) as session:
        user = quick_user(session, Role.staff, "purge@example.org")
        old, _ = start_session(
            session=session,
            user=user,
            lifetime=timedelta(hours=1),
            now=clock.now - timedelta(days=9),
        )
        live, _ = start_session(
            session=session, user=user, lifetime=timedelta(hours=12), now=clock.now
        )
        session.commit()
    search = SearchService(settings=ops_db.settings, engine=ops_db.engine)
    run_round(hub_scheduler(ops_db, clock, search))
    purge = state(ops_db, "session_purge")
    assert purge.last_error is None and purge.last_summary == "删除 1 个过期登录会话"
    with Session(ops_db.engine) as session:
        assert session.get(LoginSession, old.id) is None
        assert session.get(LoginSession, live.id) is not None
