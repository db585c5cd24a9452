"""Matching services take one acting principal and ask the policy: people act as themselves,
the CLI and demo as the system principal; nobody else runs, reads or lists proposals (service
level, SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from marketplace.accounts.principal import system_principal
from marketplace.audit.models import AuditEntry
from marketplace.errors import Forbidden
from marketplace.vocabulary import Role
from matching.service import (
    confirm_run,
    confirmed_pairs,
    get_run,
    list_runs,
    match_lines,
    run_batch,
)
from tests.marketplace.test_centers import center_user
from tests.matching.db_support import fake_relevance, file_request, seed_pool
from tests.web.allocation_support import quick_user

LINE = (
    '{"id": "F1", "text": "学生自伤，需要心理危机干预", "district": {"province": "陕西省", '
    '"city": "西安市", "district": "碑林区"}, "service_type": "crisis_support", '
    '"format": "onsite", "hours": 4, "experts_needed": 1}'
)


def test_the_system_principal_runs_a_batch_in_its_own_name_and_confirms_it(session):
    seed_pool(session)
    xian = file_request(session, district="西安市/碑林区")
    baoji = file_request(session, district="宝鸡市/渭滨区")
    cli = system_principal("cli")
    run = run_batch(session=session, user=cli, relevance_factory=fake_relevance)
    assert set(run.request_ids) >= {xian.id, baoji.id}  # every district: the province's reach
    assert run.created_by is None
    confirm_run(session=session, run_id=run.id, user=cli)
    entries = session.exec(
        select(AuditEntry.action, AuditEntry.actor, AuditEntry.actor_id).where(
            AuditEntry.entity_type == "match_run", AuditEntry.entity_id == str(run.id)
        )
    ).all()
    assert sorted(entries) == [("match.confirm", "cli", None), ("match.run", "cli", None)]
    assert {p.request_id for p in confirmed_pairs(session=session, user=cli)} >= {xian.id}


def test_people_without_matching_in_the_policy_are_refused_by_every_matching_service(session):
    seed_pool(session)
    request = file_request(session, district="西安市/碑林区")
    staff = quick_user(session, Role.staff)
    run = run_batch(
        session=session, user=staff, relevance_factory=fake_relevance, request_ids=[request.id]
    )
    assert run.created_by == staff.id
    for role in (Role.district, Role.expert, Role.observer):
        user = (
            center_user(session, role, "西安市")
            if role == Role.observer
            else quick_user(session, role, district="西安市/碑林区")
        )
        with pytest.raises(Forbidden):
            run_batch(session=session, user=user, relevance_factory=fake_relevance)
        with pytest.raises(Forbidden):
            get_run(session=session, run_id=run.id, user=user)
        with pytest.raises(Forbidden):
            list_runs(session=session, user=user)
        with pytest.raises(Forbidden):
            confirmed_pairs(session=session, user=user)
        with pytest.raises(Forbidden):
            match_lines(session=session, user=user, lines=[LINE], relevance_factory=fake_relevance)


def test_city_staff_act_within_their_city_only(session):
    seed_pool(session)
    xian_request = file_request(session, district="西安市/碑林区")
    baoji_request = file_request(session, district="宝鸡市/渭滨区")
    xian = center_user(session, Role.city_staff, "西安市")
    with pytest.raises(Forbidden):
        run_batch(
            session=session,
            user=xian,
            relevance_factory=fake_relevance,
            request_ids=[baoji_request.id],
        )
    run = run_batch(session=session, user=xian, relevance_factory=fake_relevance)
    assert xian_request.id in run.request_ids and baoji_request.id not in run.request_ids
    baoji_run = run_batch(
        session=session,
        user=center_user(session, Role.city_staff, "宝鸡市"),
        relevance_factory=fake_relevance,
    )
    assert [r.id for r in list_runs(session=session, user=xian)] == [run.id]
    with pytest.raises(Forbidden):
        get_run(session=session, run_id=baoji_run.id, user=xian)


def test_the_cli_matches_a_file_as_the_system_principal(session):
    seed_pool(session)
    outcome = match_lines(
        session=session,
        user=system_principal("cli"),
        lines=[LINE],
        relevance_factory=fake_relevance,
    )
    assert [a.need_id for a in outcome.result.assignments] == ["F1"]
