"""A search that finds nothing because the search index is empty says so, with what to do (run
`heart index` for those who manage the directory, ask the resource center for everyone else),
at the API, on the directory page and in `heart search`; it is never passed off as "no match"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session
from typer.testing import CliRunner

from marketplace import messages
from marketplace.db import make_engine
from marketplace.vocabulary import Role
from tests.conftest import auth_headers, expert_record, make_settings, make_user
from tests.web.pages.conftest import login
from web.app import create_app
from web.cli import app as cli

runner = CliRunner()
NEED = "学生自伤，想请专家到校做危机干预"


@pytest.fixture
def hub(fresh_database_url: str, tmp_path: Path):
    """A hub whose database has experts (imported by `heart import experts`) but whose search
    index was never built; yields (settings, env, client, headers by role)."""
    settings = make_settings(tmp_path / "data", fresh_database_url)
    env = {
        "HEART_ENVIRONMENT": "test",
        "HEART_SECRET_KEY": settings.secret_key,
        "HEART_DATABASE_URL": fresh_database_url,
        "HEART_DATA_DIR": str(settings.data_dir),
        "HEART_EMBED_MODEL": "none",
    }
    assert runner.invoke(cli, ["init"], env=env).exit_code == 0
    experts = tmp_path / "experts.jsonl"
    experts.write_text(
        "\n".join(
            json.dumps(expert_record(id=f"T0000{i}", name=f"测试专家{i}"), ensure_ascii=False)
            for i in range(1, 4)
        ),
        encoding="utf-8",
    )
    imported = runner.invoke(cli, ["import", "experts", str(experts)], env=env)
    assert imported.exit_code == 0, imported.output
    engine = make_engine(settings)
    app = create_app(settings)
    app.state.engine = engine
    with Session(engine) as session:
        users = {
            role: make_user(session, role, username=f"{role.value}-gap")
            for role in (Role.staff, Role.district)
        }
        headers = {role: auth_headers(user, settings, session) for role, user in users.items()}
        session.commit()
    with TestClient(app) as client:
        yield settings, env, client, headers
    engine.dispose()


def test_the_api_says_the_index_is_missing_and_who_should_do_what(hub):
    _, env, client, headers = hub
    staff = client.get("/api/search", params={"q": NEED}, headers=headers[Role.staff])
    assert staff.status_code == 503
    assert staff.json()["code"] == "search_index_missing"
    assert staff.json()["detail"] == messages.SEARCH_INDEX_MISSING_STAFF
    assert "heart index" in staff.json()["detail"]
    district = client.get("/api/search", params={"q": NEED}, headers=headers[Role.district])
    assert district.status_code == 503
    assert district.json()["detail"] == messages.SEARCH_INDEX_MISSING_OTHERS
    assert "请联系资源中心" in district.json()["detail"]
    assert "heart" not in district.json()["detail"]

    built = runner.invoke(cli, ["index"], env=env)
    assert built.exit_code == 0, built.output
    found = client.get("/api/search", params={"q": NEED}, headers=headers[Role.district])
    assert found.status_code == 200 and found.json()["total"] > 0


def test_the_directory_page_says_the_index_is_missing_instead_of_no_match(hub):
    _, env, client, _ = hub
    assert login(client, "district-gap").status_code == 303
    page = client.get("/experts", params={"q": NEED})
    assert page.status_code == 200
    assert messages.SEARCH_INDEX_MISSING_OTHERS in page.text
    assert "没有找到合适的专家" not in page.text and "没有找到符合条件" not in page.text
    assert "没有与这个需求相关的采购服务" not in page.text  # nor for services or the library
    assert "暂无与这个需求相关的资料" not in page.text

    assert runner.invoke(cli, ["index"], env=env).exit_code == 0
    page = client.get("/experts", params={"q": NEED})
    assert messages.SEARCH_INDEX_MISSING_OTHERS not in page.text
    assert "测试专家" in page.text


def test_staff_see_the_command_to_run_on_the_page(hub):
    _, _, client, _ = hub
    assert login(client, "staff-gap").status_code == 303
    page = client.get("/experts", params={"q": NEED})
    assert messages.SEARCH_INDEX_MISSING_STAFF in page.text


def test_heart_search_says_the_index_is_missing_and_exits_non_zero(hub):
    _, env, _, _ = hub
    result = runner.invoke(cli, ["search", NEED], env=env)
    assert result.exit_code == 3
    said = "".join(result.output.split())  # the console wraps long lines
    assert "".join(messages.SEARCH_INDEX_MISSING_STAFF.split()) in said


def test_an_empty_directory_is_said_so_too(fresh_database_url: str, tmp_path: Path):
    env = {
        "HEART_ENVIRONMENT": "test",
        "HEART_SECRET_KEY": "t" * 40,
        "HEART_DATABASE_URL": fresh_database_url,
        "HEART_DATA_DIR": str(tmp_path / "data"),
        "HEART_EMBED_MODEL": "none",
    }
    assert runner.invoke(cli, ["init"], env=env).exit_code == 0
    result = runner.invoke(cli, ["search", NEED], env=env)
    assert result.exit_code == 3
    said = "".join(result.output.split())  # the console wraps long lines
    assert "".join(messages.SEARCH_NO_EXPERTS_STAFF.split()) in said
