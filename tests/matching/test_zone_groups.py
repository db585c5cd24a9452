"""Zones (片区) of a city expert group affect matching: a member paired with a zone counts as
near for requests from that zone's districts, in recommendations and in batch runs, with the
reason shown to staff; once the pairing is removed the member is no nearer than any other
expert of the city (service level, SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from marketplace.centers.group import remove_member, set_member, zone_pairs
from marketplace.centers.models import GroupMemberSet
from marketplace.centers.service import center_named
from marketplace.districts.models import City, Zone
from marketplace.vocabulary import Role
from matching.service import discard_run, recommend, run_batch
from tests.booking.conftest import add_experts
from tests.conftest import expert_record
from tests.matching.db_support import fake_relevance, file_request
from tests.web.allocation_support import quick_user

CHANGAN = {"province": "陕西省", "city": "西安市", "district": "长安区"}  # 南部片区
GROUP_REASON = "城六区片区专家组成员"  # 碑林区 is in 城六区片区


@pytest.fixture
def twins(session):
    """Two experts of 长安区 alike in everything matching weighs, and a 碑林区 request."""
    add_experts(
        session,
        *(
            expert_record(
                id=i,
                name=f"长安专家{i}",
                region=CHANGAN,
                specialties=["心理危机干预"],
                monthly_capacity_hours=8,
            )
            for i in ("Z1", "Z2")
        ),
    )
    staff = quick_user(session, Role.staff)
    request = file_request(session, district="西安市/碑林区")
    return staff, request


def _pair(session, staff, expert_id: str, *zones: str) -> None:
    xian = center_named(session=session, name="西安市").id
    ids = list(
        session.exec(
            select(Zone.id)
            .join(City, City.id == Zone.city_id)
            .where(City.name == "西安市", Zone.name.in_(zones))  # type: ignore[attr-defined]
        ).all()
    )
    assert len(ids) == len(zones)
    set_member(
        session=session,
        center_id=xian,
        data=GroupMemberSet(expert_id=expert_id, zone_ids=ids),
        user=staff,
    )


def _recommended(session, staff, request_id):
    result = recommend(
        session=session, request_id=request_id, user=staff, relevance_factory=fake_relevance
    )
    return {item.expert_id: item for item in result.items}, [i.expert_id for i in result.items]


def test_a_member_paired_with_the_requests_zone_is_recommended_first_with_the_reason(
    session, twins
):
    staff, request = twins
    items, order = _recommended(session, staff, request.id)
    assert items["Z1"].score == items["Z2"].score and order[:2] == ["Z1", "Z2"]
    _pair(session, staff, "Z2", "城六区片区")
    items, order = _recommended(session, staff, request.id)
    assert order[:2] == ["Z2", "Z1"]
    assert items["Z2"].score > items["Z1"].score
    assert GROUP_REASON in items["Z2"].reasons and "同市可到校" in items["Z2"].reasons
    assert not any("专家组成员" in r for r in items["Z1"].reasons)


def test_pairing_with_another_zone_or_removing_it_gives_no_advantage(session, twins):
    staff, request = twins
    _pair(session, staff, "Z2", "南部片区")  # the zone of Z2's own district, not the request's
    items, order = _recommended(session, staff, request.id)
    assert items["Z1"].score == items["Z2"].score and order[:2] == ["Z1", "Z2"]
    _pair(session, staff, "Z2", "城六区片区", "南部片区")
    assert _recommended(session, staff, request.id)[1][:2] == ["Z2", "Z1"]
    # Membership without the zone (re-paired), then no membership at all: no longer near.
    _pair(session, staff, "Z2")
    items, order = _recommended(session, staff, request.id)
    assert items["Z1"].score == items["Z2"].score and order[:2] == ["Z1", "Z2"]
    _pair(session, staff, "Z2", "城六区片区")
    remove_member(
        session=session,
        center_id=center_named(session=session, name="西安市").id,
        expert_id="Z2",
        user=staff,
    )
    assert zone_pairs(session=session) == {}
    items, order = _recommended(session, staff, request.id)
    assert items["Z1"].score == items["Z2"].score and not any(
        "专家组成员" in r for r in items["Z2"].reasons
    )


def _batch(session, staff, request_id):
    run = run_batch(
        session=session,
        user=staff,
        relevance_factory=fake_relevance,
        request_ids=[request_id],
    )
    pairs = {(p.role, p.expert_id): p for p in session.exec(_pairs_of(run.id)).all()}
    return run, pairs


def _pairs_of(run_id):
    from matching.models import MatchPair  # noqa: PLC0415

    return select(MatchPair).where(MatchPair.run_id == run_id)


def test_a_batch_run_assigns_the_paired_member_and_says_why_until_the_pairing_is_removed(
    session, twins
):
    staff, request = twins
    _pair(session, staff, "Z2", "城六区片区")
    run, pairs = _batch(session, staff, request.id)
    assigned = pairs[("assigned", "Z2")]
    alternate = pairs[("alternate", "Z1")]
    assert assigned.score > alternate.score
    assert GROUP_REASON in assigned.reasons
    discard_run(session=session, run_id=run.id, user=staff)
    _pair(session, staff, "Z2")
    run, pairs = _batch(session, staff, request.id)
    scores = {expert: p.score for (_, expert), p in pairs.items()}
    assert scores == {"Z1": scores["Z2"], "Z2": scores["Z1"]} and scores["Z1"] == scores["Z2"]
    assert not any(GROUP_REASON in p.reasons for p in pairs.values())
