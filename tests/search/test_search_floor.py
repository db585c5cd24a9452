"""The relevance floor over the 600 dev experts: nonsense and out-of-domain text get no hits,
a no_match flag and two specialties to try; real needs and look-ups keep their results."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from marketplace.vocabulary import Role
from tests.conftest import SHARED_DEV, auth_headers, make_user
from tests.search.corpus import build_corpus
from web.app import create_app


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    settings, engine, service = build_corpus(
        tmp_path_factory.mktemp("floor-data"),
        f"sqlite:///{tmp_path_factory.mktemp('floor-db') / 'f.db'}",
    )
    app = create_app(settings)
    app.state.engine = engine
    app.state.search = service
    with Session(engine) as session:
        user = make_user(session, Role.district)
        headers = auth_headers(user, settings)
        session.commit()
    with TestClient(app) as client:
        yield client, headers
    engine.dispose()


@pytest.mark.parametrize("q", ["量子力学", "asdfgh", "qwerty uiop", "😀😀😀😀😀", "今天天气怎么样"])
def test_nonsense_and_out_of_domain_text_gets_no_match_and_two_suggestions(api, q):
    client, headers = api
    body = client.get("/api/search", params={"q": q}, headers=headers).json()
    assert body["no_match"] is True
    assert body["hits"] == [] and body["total"] == 0 and body["facets"] == {}
    assert len(body["suggestions"]) == 2 and all(body["suggestions"])


def test_every_dev_need_keeps_its_results(api):
    client, headers = api
    needs = [json.loads(line)["text"] for line in open(SHARED_DEV / "queries.jsonl")]
    refused = [
        need
        for need in needs
        if client.get("/api/search", params={"q": need}, headers=headers).json()["no_match"]
    ]
    assert len(refused) / len(needs) <= 0.02, refused


def test_a_name_is_a_look_up_not_a_no_match(api):
    client, headers = api
    body = client.get("/api/search", params={"q": "黎洋馥"}, headers=headers).json()
    assert body["no_match"] is False and body["hits"][0]["id"] == "D00001"


def test_the_directory_page_says_no_and_offers_the_suggestions(api):
    client, headers = api
    page = client.get("/experts", params={"q": "量子力学"}, headers=headers).text
    assert "没有找到合适的专家" in page
    assert "找到 <strong>" not in page and "列出最相关的" not in page  # no count of non-matches
    assert page.count('href="/experts?specialty=') == 2
