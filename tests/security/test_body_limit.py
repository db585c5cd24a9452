"""Request bodies are bounded before anything buffers them: a body past the ceiling is a 413 in
Chinese (JSON for the API, the error page for pages), for anonymous and logged-in requests,
declared or streamed (chunked), and a body under the ceiling still reaches its route.

Before, FastAPI read any body whole before authentication: an anonymous 300 MB JSON POST to
/api/requests held 300 MB of the demo server's memory (RSS 1.04 → 1.34 GB) and stalled
/api/health for 1.5 s; a 300 MB multipart post was spooled to disk.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from marketplace.experts.models import Expert
from marketplace.vocabulary import Role
from tests.conftest import auth_headers, make_user
from tests.web.pages.conftest import form_token, logged_in
from web.body_limit import BODY_MAX_BYTES, UPLOAD_OVERHEAD_BYTES, body_limit

MIB = 1024 * 1024


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body without Content-Length (chunked), like a client streaming it."""
    sent = 0
    while sent < total:
        yield b"a" * size
        sent += size


def _api_refused(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 413, response.text[:200]
    detail = response.json()["detail"]
    assert "提交的内容过大" in detail and "上限 1 MB" in detail


def test_an_anonymous_json_body_past_the_ceiling_is_413_before_authentication(client):
    body = b'{"text": "' + b"a" * (BODY_MAX_BYTES + 10) + b'"}'
    _api_refused(
        client.post("/api/requests", content=body, headers={"content-type": "application/json"})
    )
    streamed = client.post(
        "/api/requests",
        content=_chunks(BODY_MAX_BYTES + 64 * 1024),
        headers={"content-type": "application/json"},
    )
    _api_refused(streamed)
    # Under the ceiling the route answers as before (here: not logged in).
    small = client.post("/api/requests", json={"text": "x"})
    assert small.status_code == 401


def test_a_logged_in_api_call_past_the_ceiling_is_413_and_stores_nothing(client, session, settings):
    staff = make_user(session, Role.staff, username="bl-staff")
    session.commit()
    bio = "简" * (BODY_MAX_BYTES // 3 + 10)  # three bytes each in UTF-8
    record = {"id": "BL1", "name": "边界老师", "bio": bio}
    response = client.post("/api/experts", json=record, headers=auth_headers(staff, settings))
    _api_refused(response)
    assert session.exec(select(Expert).where(Expert.id == "BL1")).first() is None


def test_a_page_form_past_the_ceiling_gets_the_error_page_in_chinese(client, session):
    staff = make_user(session, Role.staff, username="bl-page-staff")
    session.commit()
    logged_in(client, staff)
    token = form_token(client.get("/expert-pool/new").text)
    response = client.post(
        "/expert-pool/new", data={"csrf_token": token, "name": "名" * (BODY_MAX_BYTES // 9 + 10)}
    )
    assert response.status_code == 413
    assert "text/html" in response.headers["content-type"]
    assert "提交的内容过大（上限 1 MB）" in response.text
    assert 'href="/">返回首页' in response.text  # a way on, not a dead end
    assert "<h1>提交的内容过大</h1>" in response.text


def test_an_upload_past_the_largest_accepted_file_is_413_even_through_the_form_token_reader(
    client, session, app
):
    staff = make_user(session, Role.staff, username="bl-upload-staff")
    session.commit()
    app.state.settings = app.state.settings.model_copy(update={"resource_max_mb": 1})
    limit = body_limit(
        {
            "type": "http",
            "app": app,
            "headers": [(b"content-type", b"multipart/form-data; boundary=x")],
        }
    )
    assert limit == 5 * MIB + UPLOAD_OVERHEAD_BYTES  # the expert import's 5 MB is the largest
    logged_in(client, staff)
    token = form_token(client.get("/expert-pool/import").text)
    # The cookie-authenticated multipart post is buffered by the CSRF form reader first.
    response = client.post(
        "/expert-pool/import",
        data={"csrf_token": token},
        files={"file": ("experts.jsonl", b"a" * (limit + 1), "application/octet-stream")},
    )
    assert response.status_code == 413
    assert "提交的内容过大（上限 6 MB）" in response.text
    # A file just past the route's own limit (5 MB) still gets the route's field message.
    token = form_token(client.get("/expert-pool/import").text)
    own = client.post(
        "/expert-pool/import",
        data={"csrf_token": token},
        files={"file": ("experts.jsonl", b"a" * (5 * MIB + 1), "application/octet-stream")},
    )
    assert own.status_code == 422
    assert "heart import experts" in own.text  # 文件超过 5 MB；更大的文件请用命令 …


@pytest.mark.parametrize(
    "path", ["/api/experts/BL9/busy-calendars/upload", "/api/resources/1/files"]
)
def test_an_api_upload_past_the_ceiling_is_413(client, session, settings, path):
    staff = make_user(session, Role.staff, username="bl-api-upload")
    session.commit()
    too_big = body_limit(
        {"type": "http", "app": client.app, "headers": [(b"content-type", b"multipart/form-data")]}
    )
    response = client.post(
        path,
        files={"file": ("a.pdf", b"a" * too_big, "application/pdf")},
        headers=auth_headers(staff, settings),
    )
    assert response.status_code == 413
    assert "提交的内容过大" in response.json()["detail"]
