"""ElasticIndex on a 3-node cluster with one replica keeps answering when a node stops."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from search.base import Filters, SearchDocument
from search.elastic import ElasticIndex

ENGINE = Path(__file__).resolve().parents[2] / "engines" / "elasticsearch"
HTTP_PORT, TRANSPORT_PORT = 9260, 9360  # apart from the suite's single node on 9250/9350

pytestmark = [pytest.mark.es, pytest.mark.slow]


@pytest.fixture
def cluster(es_url: str, tmp_path: Path) -> Iterator[Path]:
    """Three nodes started by the project's launcher; always stopped afterwards."""
    run_dir = tmp_path / "run"
    env = {
        **os.environ,
        "ES_HTTP_PORT": str(HTTP_PORT),
        "ES_TRANSPORT_PORT": str(TRANSPORT_PORT),
        "ES_HOME_DIR": str(tmp_path / "home"),  # never the shared target/es-home
        "ES_CLUSTER_NAME": f"heart-test-{uuid.uuid4().hex[:8]}",
        "ES_JAVA_OPTS": "-Xms384m -Xmx768m",
    }
    try:
        subprocess.run(  # noqa: S603
            [str(ENGINE / "start.sh"), "3", str(run_dir)], env=env, check=True, timeout=300
        )
        yield run_dir
    finally:
        subprocess.run([str(ENGINE / "stop.sh"), str(run_dir)], env=env, check=False, timeout=120)  # noqa: S603


def test_searches_still_answer_with_one_of_three_nodes_stopped(cluster: Path) -> None:
    urls = [f"http://127.0.0.1:{HTTP_PORT + i}" for i in range(3)]
    index = ElasticIndex(urls, f"cluster_{uuid.uuid4().hex[:8]}", replicas=1, vector_dims=2)
    docs = [
        SearchDocument(
            id=f"expert:{n}",
            kind="expert",
            record_id=str(n),
            title=f"专家{n}",
            text="",
            tokens=["心理", "危机" if n % 2 else "家庭"],
            specialties=["危机干预"] if n % 3 == 0 else [],
            filters={"city": ["北京" if n % 2 else "上海"]},
            vector=[1.0, n / 10],
            sort_key=f"{n:03d}",
        )
        for n in range(60)
    ]
    index.rebuild(docs, total=len(docs))
    health = index.client.cluster.health(index=index.alias, wait_for_status="green", timeout="60s")
    assert health["status"] == "green" and health["active_shards"] == 2

    stop = subprocess.run([str(ENGINE / "stop.sh"), str(cluster), "1"], check=True, timeout=120)  # noqa: S603
    assert stop.returncode == 0

    # The cluster elects a new master if the stopped node was it: it answers again within seconds.
    deadline = time.monotonic() + 60
    while not index.ping() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert index.ping() is True
    assert index.count() == 60
    found = index.retrieve(
        tokens=["危机"],
        specialty_weights={"危机干预": 1.0},
        vector=[1.0, 0.0],
        filters=Filters.of(city="北京"),
        size=100,
    )
    assert {c.doc.id for c in found.candidates} == {
        d.id for d in docs if d.filters["city"] == ["北京"]
    }
    page = index.browse(filters=Filters(), offset=10, size=5)
    assert page.total == 60
    assert [c.doc.id for c in page.candidates] == [f"expert:{n}" for n in range(10, 15)]
    index.upsert([docs[0]])  # writes are accepted too: the replica was promoted
    index.drop()
