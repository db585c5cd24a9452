"""The antivirus hook (HEART_ANTIVIRUS_COMMAND) on library uploads, with a fake scanner script:
a clean file is stored; an infected one is refused in Chinese with nothing stored; a scanner that
fails, cannot start or overruns its time limit refuses the upload (fail closed); no command, no
scan. Over the API and the
submission page, on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
import time

import pytest

from tests.marketplace.resource_support import make_pdf
from tests.web.pages.conftest import expert_user, logged_in  # noqa: F401
from tests.web.pages.test_library_pages import _submit
from tests.web.test_api_resources import actors, create, stored_files, upload  # noqa: F401

SCANNER = """
import sys, time
data = sys.stdin.buffer.read()
if b"EICAR-FAKE" in data:
    print("stream: Eicar-Test-Signature FOUND")
    sys.exit(1)
if b"BROKEN-SCANNER" in data:
    print("ERROR: Can't connect to clamd", file=sys.stderr)
    sys.exit(2)
if b"SLOW-SCAN" in data:
    time.sleep(30)
print("stream: OK")
"""


@pytest.fixture
def scanner(tmp_path, app, settings):  # type: ignore[no-untyped-def]
    script = tmp_path / "fake_clamdscan.py"
    script.write_text(SCANNER, encoding="utf-8")
    app.state.settings = settings.model_copy(
        update={"antivirus_command": f"{sys.executable} {script} -", "antivirus_seconds": 2.0}
    )
    return app.state.settings


def _pdf(marker: str) -> bytes:
    return make_pdf(f"Lesson outline {marker}")


def test_a_clean_file_is_scanned_and_stored(client, actors, scanner, session, settings):  # noqa: F811
    created = create(client, actors.expert)
    response = upload(client, actors.expert, created["id"], _pdf("breathing practice"))
    assert response.status_code == 201, response.text
    assert stored_files(session, settings)[0] == 1


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("EICAR-FAKE", "未通过病毒扫描（Eicar-Test-Signature）"),
        ("BROKEN-SCANNER", "病毒扫描暂时无法完成"),
        ("SLOW-SCAN", "病毒扫描暂时无法完成"),
    ],
)
def test_infected_files_and_failing_scanners_are_refused_and_nothing_is_stored(
    client,
    actors,  # noqa: F811
    scanner,
    session,
    settings,
    marker,
    message,
):
    created = create(client, actors.expert)
    started = time.monotonic()
    response = upload(client, actors.expert, created["id"], _pdf(marker))
    assert response.status_code == 422 and message in response.json()["detail"]
    assert time.monotonic() - started < 10  # the time limit (2 s) cut the slow scanner off
    assert stored_files(session, settings) == (0, [])


def test_a_scanner_that_cannot_start_refuses_uploads(client, app, actors, session, settings):  # noqa: F811
    app.state.settings = settings.model_copy(
        update={"antivirus_command": "/nonexistent/clamdscan --no-summary -"}
    )
    created = create(client, actors.expert)
    response = upload(client, actors.expert, created["id"], _pdf("breathing practice"))
    assert response.status_code == 422 and "病毒扫描暂时无法完成" in response.json()["detail"]
    assert stored_files(session, settings) == (0, [])


def test_without_a_command_nothing_is_scanned(client, actors, session, settings):  # noqa: F811
    created = create(client, actors.expert)
    response = upload(client, actors.expert, created["id"], _pdf("EICAR-FAKE"))
    assert response.status_code == 201  # no scanner configured: the marker means nothing


def test_the_submission_form_shows_the_refusal_next_to_the_file(
    client,
    scanner,
    session,
    settings,
    expert_user,  # noqa: F811
):
    from sqlmodel import select

    from marketplace.resources.models import Resource

    logged_in(client, expert_user)
    refused = _submit(client, upload=("课纲.pdf", _pdf("EICAR-FAKE"), "application/pdf"))
    assert refused.status_code == 422 and 'id="err-file"' in refused.text
    assert "未通过病毒扫描" in refused.text and "情绪调节四课时课纲" in refused.text
    assert session.exec(select(Resource)).all() == []
    assert stored_files(session, settings) == (0, [])
