"""A slow virus scan (and the text extraction beside it) never holds the write lock.

On a real, committed database (no test-transaction override, the app's own write queue): while
the configured scanner takes 3 s over an expert's upload (over the API and through the
submission page), another user's unrelated write is answered within a second, and the file is
stored once the scan passes. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from marketplace.db import make_engine, run_migrations, session_scope
from marketplace.resources.models import Resource, ResourceFile
from marketplace.vocabulary import Role
from tests.booking.conftest import add_experts, quick_user
from tests.booking.test_feeds_outside_write_lock import Live, bearer, while_slow
from tests.conftest import expert_record, make_settings, seed_reference
from tests.marketplace.resource_support import make_pdf
from tests.web.pages.conftest import form_token, login
from web.app import create_app

SCAN_SECONDS = 3.0
SLOW_SCANNER = f"""
import sys, time
sys.stdin.buffer.read()
time.sleep({SCAN_SECONDS})
print("stream: OK")
"""


@pytest.fixture
def live(fresh_database_url, tmp_path) -> Iterator[Live]:
    scanner = tmp_path / "slow_clamdscan.py"
    scanner.write_text(SLOW_SCANNER, encoding="utf-8")
    settings = make_settings(
        tmp_path,
        fresh_database_url,
        antivirus_command=f"{sys.executable} {scanner} -",
        antivirus_seconds=SCAN_SECONDS * 4,
    )
    engine = make_engine(settings)
    run_migrations(engine)
    seed_reference(engine)
    with session_scope(engine) as session:
        add_experts(session, expert_record(id="LB1"))
        quick_user(session, Role.expert, "lb1@example.org", expert_id="LB1")
        quick_user(session, Role.district, "beilin@example.org")
    app = create_app(settings)
    app.state.engine = engine
    try:
        with TestClient(app) as client:
            yield Live(
                client,
                bearer(client, "lb1@example.org"),
                bearer(client, "beilin@example.org"),
                None,  # type: ignore[arg-type]  # no feed server here
                engine,
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("how", ["api", "page"])
def test_a_slow_scan_does_not_hold_up_another_users_write(live, how):
    pdf = make_pdf("Lesson outline: breathing practice before the exam")
    if how == "api":
        created = live.client.post(
            "/api/resources",
            json={"kind": "course", "title": "考前呼吸操课纲"},
            headers=live.expert,
        )
        assert created.status_code == 201, created.text

        def upload() -> httpx.Response:
            return live.client.post(
                f"/api/resources/{created.json()['id']}/files",
                files={"file": ("课纲.pdf", pdf, "application/pdf")},
                headers=live.expert,
            )
    else:
        assert login(live.client, "lb1@example.org").status_code == 303
        form = live.client.get("/library/new").text
        nonce = form.split('name="form_nonce" value="')[1].split('"')[0]

        def upload() -> httpx.Response:
            return live.client.post(
                "/library",
                data={
                    "csrf_token": form_token(form),
                    "form_nonce": nonce,
                    "kind": "course",
                    "title": "考前呼吸操课纲",
                    "access": "all",
                },
                files={"file": ("课纲.pdf", pdf, "application/pdf")},
                follow_redirects=False,
            )

    answer, slow_took, write_took = while_slow(live, upload)
    assert answer.status_code == (201 if how == "api" else 303), answer.text
    assert slow_took >= SCAN_SECONDS
    assert write_took < 1.0
    with session_scope(live.engine) as session:  # type: ignore[arg-type]
        [row] = session.exec(select(ResourceFile)).all()
        assert row.filename == "课纲.pdf"
        if how == "page":
            assert session.exec(select(Resource)).one().status == "submitted"
