"""Fixtures for the search suites: a real Elasticsearch node from HEART_TEST_ES_URL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from search.elastic import ElasticIndex


@pytest.fixture(scope="session")
def es_url() -> str:
    """The test node's URL (scripts/test starts one); CI must have it, elsewhere the suite skips."""
    url = os.environ.get("HEART_TEST_ES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("HEART_TEST_ES_URL is not set: the Elasticsearch suite must run in CI")
        pytest.skip(
            "HEART_TEST_ES_URL not set (run scripts/test or engines/elasticsearch/start.sh)"
        )
    return url


@pytest.fixture
def make_elastic_index(es_url: str) -> Iterator[Callable[..., ElasticIndex]]:
    """Factory of ElasticIndex objects on unique aliases, all dropped after the test."""
    made: list[ElasticIndex] = []

    def make(alias: str | None = None, **options: object) -> ElasticIndex:
        index = ElasticIndex(es_url, alias or f"test_{uuid.uuid4().hex[:12]}", **options)  # type: ignore[arg-type]
        made.append(index)
        return index

    yield make
    for index in made:
        index.drop()


@pytest.fixture
def elastic_index(make_elastic_index: Callable[..., ElasticIndex]) -> ElasticIndex:
    """An empty ElasticIndex without vectors on a unique alias."""
    return make_elastic_index()
