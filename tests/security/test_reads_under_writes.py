"""Reads that write (the audit of a staff read, a login) never fail under a burst of writers.

On a real, committed database (no test-transaction override): 4 threads keep writing while
staff read a district's requests 60 times (each read is audited) and users log in; every
answer is below 500 and every audited read is on record.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from marketplace.audit.models import AuditEntry
from marketplace.db import make_engine, run_migrations, session_scope
from marketplace.vocabulary import Role
from tests.conftest import TEST_PASSWORD, make_settings, make_user, seed_reference
from web.app import create_app

WRITERS = 4
READS = 60
LOGINS = 8

REQUEST = {
    "text": "教师需要团体辅导督导",
    "service_type": "supervision",
    "format": "online",
    "hours": 2,
    "window_start": "2027-03-01",
    "window_end": "2027-03-31",
}


@pytest.fixture
def live(fresh_database_url, tmp_path):
    settings = make_settings(tmp_path, fresh_database_url)
    engine = make_engine(settings)
    run_migrations(engine)
    seed_reference(engine)
    with session_scope(engine) as session:
        make_user(session, Role.staff, username="reader")
        for i in range(WRITERS):
            make_user(session, Role.district, username=f"writer-{i}")
    app = create_app(settings)
    app.state.engine = engine
    with TestClient(app) as client:
        yield client, engine
    engine.dispose()


def bearer(client: TestClient, username: str) -> dict[str, str]:
    response = client.post(
        "/api/auth/token", data={"username": username, "password": TEST_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_audited_reads_and_logins_never_fail_while_four_writers_run(live):
    client, engine = live
    staff = bearer(client, "reader")
    writers = [bearer(client, f"writer-{i}") for i in range(WRITERS)]
    first = client.post("/api/requests", json=REQUEST, headers=writers[0])
    assert first.status_code == 201, first.text
    request_id = first.json()["id"]

    stop = threading.Event()
    codes: list[int] = []
    lock = threading.Lock()

    def note(code: int) -> None:
        with lock:
            codes.append(code)

    def write(headers: dict[str, str]) -> int:
        done = 0
        while not stop.is_set():
            note(client.post("/api/requests", json=REQUEST, headers=headers).status_code)
            done += 1
        return done

    def read(_: int) -> int:
        code = client.get(f"/api/requests/{request_id}", headers=staff).status_code
        note(code)
        return code

    def log_in(_: int) -> int:
        code = client.post(
            "/api/auth/token", data={"username": "reader", "password": TEST_PASSWORD}
        ).status_code
        note(code)
        return code

    with ThreadPoolExecutor(max_workers=WRITERS + 4) as pool:
        writing = [pool.submit(write, h) for h in writers]
        time.sleep(0.2)  # the writers are under way
        with ThreadPoolExecutor(max_workers=4) as readers:
            reads = list(readers.map(read, range(READS)))
            logins = list(readers.map(log_in, range(LOGINS)))
        stop.set()
        written = sum(f.result() for f in writing)

    assert written >= WRITERS
    assert reads == [200] * READS
    assert logins == [200] * LOGINS
    assert [c for c in codes if c >= 500] == []
    with session_scope(engine) as session:
        audited = session.exec(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "district_request.read")
        ).one()
    assert audited == READS
