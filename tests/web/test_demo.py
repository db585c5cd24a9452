"""`heart demo --no-serve` builds a demo that looks lived in: every expert offers slots in the
next two weeks unless deliberately fully booked, and every demo account has real items."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner

from booking.schedule.models import AvailabilityRule
from booking.schedule.service import list_slots
from booking.sessions.models import Booking, BookingRating
from marketplace.accounts.models import User
from marketplace.clock import LOCAL_TZ, utcnow
from marketplace.db import make_engine
from marketplace.experts.models import Expert
from marketplace.notifications.service import unread_count
from marketplace.requests.models import DistrictRequest
from marketplace.settings import Settings
from tests.web.pages.conftest import login
from web.app import create_app
from web.cli import app as cli
from web.cli.serve_commands import DEMO_PASSWORD, DEMO_USERS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    data = tmp_path_factory.mktemp("demo")
    env = {"HEART_DATA_DIR": str(data), "HEART_EMBED_MODEL": "none"}
    result = CliRunner().invoke(cli, ["demo", "--no-serve"], env=env)
    assert result.exit_code == 0, result.output
    settings = Settings(
        environment="demo",
        data_dir=data / "demo",
        secret_key="demo-test-" + "k" * 40,
        embed_model="none",
    )
    engine = make_engine(settings)
    yield settings, engine
    engine.dispose()


def test_every_demo_expert_offers_slots_in_the_next_two_weeks_unless_fully_booked(demo):
    _, engine = demo
    today = utcnow().astimezone(LOCAL_TZ).date()
    with Session(engine) as session:
        experts = session.exec(select(Expert.id)).all()
        assert len(experts) == 600
        assert all(
            session.exec(select(AvailabilityRule).where(AvailabilityRule.expert_id == e)).first()
            for e in experts
        )
        without = [
            e
            for e in experts
            if not list_slots(
                session=session,
                expert_id=e,
                start_day=today,
                end_day=today + timedelta(days=13),
                duration_minutes=60,
            )
        ]
        for expert_id in without:  # deliberately full: their hours are booked
            booked = session.exec(select(Booking).where(Booking.expert_id == expert_id)).all()
            assert booked, f"{expert_id} has no free slot and no booking"
        assert 0 < len(without) <= 10


def test_the_demo_has_history_requests_and_unread_notifications_for_every_account(demo):
    _, engine = demo
    with Session(engine) as session:
        assert session.exec(select(BookingRating)).first() is not None
        statuses = {r.status for r in session.exec(select(DistrictRequest)).all()}
        assert {"matched", "submitted"} <= statuses
        for username, *_ in DEMO_USERS:
            user = session.exec(select(User).where(User.username == username)).one()
            assert unread_count(session=session, user_id=user.id) > 0, username


def test_every_roles_home_page_shows_real_items(demo):
    settings, engine = demo
    app = create_app(settings)
    app.state.engine = engine
    with TestClient(app) as client:
        for username, *_ in DEMO_USERS:
            client.cookies.clear()
            assert login(client, username, DEMO_PASSWORD).status_code == 303, username
            home = client.get("/").text
            assert "条未读" in home, username
            assert "暂无" not in home, username
