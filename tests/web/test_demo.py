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


def test_serve_demo_serves_the_demo_data_again_and_plain_serve_points_to_it(demo, monkeypatch):
    """One layout: `heart demo` builds HEART_DATA_DIR/demo, `heart serve --demo` serves that
    same directory again without rebuilding, and a plain `heart serve` on the parent says so."""
    import uvicorn

    settings, _ = demo
    served: list = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append(app))
    for name in ("HEART_ENVIRONMENT", "HEART_DATA_DIR", "HEART_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)  # `serve --demo` sets them for its workers
    env = {"HEART_DATA_DIR": str(settings.data_dir.parent), "HEART_EMBED_MODEL": "none"}
    runner = CliRunner()

    again = runner.invoke(cli, ["serve", "--demo"], env=env)
    assert again.exit_code == 0, again.output
    app = served.pop()
    assert app.state.settings.data_dir == settings.data_dir
    with TestClient(app) as client:
        assert login(client, "beilin", DEMO_PASSWORD).status_code == 303
        page = client.get("/experts", params={"q": "学生厌学，不愿上学"})
        assert "相关程度排序" in page.text and "暂时无法按需求检索" not in page.text

    plain = runner.invoke(
        cli,
        ["serve"],
        env={**env, "HEART_ENVIRONMENT": "production", "HEART_SECRET_KEY": "p" * 40},
    )
    assert plain.exit_code == 0, plain.output
    assert served.pop().state.settings.data_dir == settings.data_dir.parent
    assert "heart serve --demo" in " ".join(plain.output.split())


def test_serve_demo_refuses_before_a_demo_was_built(tmp_path):
    result = CliRunner().invoke(cli, ["serve", "--demo"], env={"HEART_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert "先运行heartdemo" in "".join(result.output.split())
