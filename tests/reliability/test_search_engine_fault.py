"""The Elasticsearch node killed (SIGKILL) in the middle of an outbox drain: after a restart the
outbox drains and the index equals the database exactly, in count and in content.

Uses its own node on other ports (9280/9380) so the shared test node is never harmed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from marketplace.accounts.principal import system_principal
from marketplace.db import make_engine, run_migrations, session_scope
from marketplace.errors import Unavailable
from marketplace.experts.models import ExpertAdminUpdate
from marketplace.experts.service import update_expert
from marketplace.outbox.models import IndexOutbox
from search.indexing import iter_all_documents
from search.service import SearchService
from tests.conftest import DEMO_EXPERTS, make_settings, seed_reference
from web.cli import run_import

pytestmark = [pytest.mark.es, pytest.mark.slow]

ES_DIR = Path(__file__).resolve().parents[2] / "engines" / "elasticsearch"
HTTP_PORT, TRANSPORT_PORT = 9280, 9380
EXPERTS = 240


class Node:
    """One Elasticsearch JVM started by engines/elasticsearch/start.sh in a private directory."""

    def __init__(self, root: Path) -> None:
        self.pid_dir = root / "run"
        self.env = {
            **os.environ,
            "ES_HTTP_PORT": str(HTTP_PORT),
            "ES_TRANSPORT_PORT": str(TRANSPORT_PORT),
            "ES_HOME_DIR": str(root / "home"),
            "ES_JAVA_OPTS": "-Xms512m -Xmx512m",
            "ES_CLUSTER_NAME": "heart-fault-test",
        }
        self.url = f"http://127.0.0.1:{HTTP_PORT}"

    def start(self, *, keep_data: bool) -> None:
        env = {**self.env, "ES_KEEP_DATA": "1" if keep_data else "0"}
        subprocess.run(
            [str(ES_DIR / "start.sh"), "1", str(self.pid_dir)], env=env, check=True, timeout=400
        )

    def kill(self) -> None:
        """SIGKILL, as a crash would: no clean shutdown, no flush."""
        pid = int((self.pid_dir / "node-0.pid").read_text().strip())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self) -> None:
        subprocess.run([str(ES_DIR / "stop.sh"), str(self.pid_dir)], env=self.env, check=False)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    if not (ES_DIR / "start.sh").exists() or (
        not os.environ.get("HEART_TEST_ES_URL") and not os.environ.get("CI")
    ):
        pytest.skip("Elasticsearch test nodes are started by scripts/test (HEART_TEST_ES_URL)")
    node = Node(tmp_path / "es")
    node.start(keep_data=False)
    try:
        yield node
    finally:
        node.stop()


def index_equals_database(service: SearchService) -> tuple[int, int, list[str]]:
    """(documents in the database, documents in the index, ids whose content differs)."""
    service.backend.client.indices.refresh(index=service.backend.alias)  # type: ignore[attr-defined]
    total, documents = iter_all_documents(service.engine, service.analyzer, None)
    expected = {d.id: d.to_source() for d in documents}
    indexed = service.backend.get(list(expected))
    differing = [
        i for i, source in expected.items() if i not in indexed or indexed[i].to_source() != source
    ]
    return len(expected), service.backend.count(), differing


def pending_events(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return len(
            session.exec(select(IndexOutbox.id).where(IndexOutbox.processed_at.is_(None))).all()
        )


def test_a_node_killed_mid_drain_loses_nothing_once_it_is_back(node: Node, tmp_path: Path):
    settings = make_settings(
        tmp_path / "data",
        f"sqlite:///{tmp_path / 'heart.db'}",
        search_backend="elasticsearch",
        search_fallback_embedded=False,
        elasticsearch_url=node.url,
        elasticsearch_index=f"fault_{uuid.uuid4().hex[:8]}",
    )
    engine = make_engine(settings)
    run_migrations(engine)
    seed_reference(engine)
    subset = tmp_path / "experts.jsonl"
    subset.write_text(
        "".join(DEMO_EXPERTS.read_text(encoding="utf-8").splitlines(True)[:EXPERTS]),
        encoding="utf-8",
    )
    assert run_import(settings, subset, strict=True) == 0
    service = SearchService(settings=settings, engine=engine)
    service.rebuild()
    assert index_equals_database(service)[2] == []

    # Writes the index has not seen yet: every expert renamed, a few paused.
    with session_scope(engine) as session:
        ids = [json.loads(line)["id"] for line in subset.read_text(encoding="utf-8").splitlines()]
        for number, expert_id in enumerate(ids):
            changes = {"title": f"更新后的职称{number}"}
            if number % 10 == 0:
                changes["status"] = "paused"
            update_expert(
                session=session,
                expert_id=expert_id,
                data=ExpertAdminUpdate(**changes),
                user=system_principal("fault-test"),
            )
    assert pending_events(engine) == EXPERTS

    # Drain in small batches; the node dies (SIGKILL) while the second batch is being written.
    calls = {"n": 0}
    real_upsert = service.backend.upsert

    def upsert_then_crash(documents, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            node.kill()
        return real_upsert(documents, **kwargs)

    service.backend.upsert = upsert_then_crash  # type: ignore[method-assign]
    from search.indexing import drain_outbox

    with pytest.raises(Unavailable):
        drain_outbox(
            engine=engine,
            backends=[service.backend],
            analyzer=service.analyzer,
            encoder=None,
            batch_size=50,
        )
    left = pending_events(engine)
    assert 0 < left < EXPERTS  # the first batch landed, the rest is still queued

    node.start(keep_data=True)
    restarted = SearchService(settings=settings, engine=engine)
    report = restarted.drain()
    assert report.events == left and pending_events(engine) == 0
    in_database, in_index, differing = index_equals_database(restarted)
    assert in_index == in_database and differing == []
    engine.dispose()
