"""The fair-proposal rule, on plain data (no database)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.allocation.fairness import DistrictInfo, PendingApplication, propose


def district(i, students, past=0, name=None):
    return DistrictInfo(district_id=i, name=name or f"区{i}", students=students, past=past)


def test_when_everything_fits_every_application_gets_its_request():
    proposal = propose(
        capacity=10_000,
        districts=[district(1, 100_000), district(2, 50_000)],
        applications=[PendingApplication(1, 1, 2_000), PendingApplication(2, 2, 3_000)],
    )
    assert proposal.allocations == {1: 2_000, 2: 3_000}
    assert all("全部满足" in line.reasoning for line in proposal.districts)


def test_scarce_quantity_is_shared_in_proportion_to_students_among_new_districts():
    proposal = propose(
        capacity=3_000,
        districts=[district(1, 200_000), district(2, 100_000)],
        applications=[PendingApplication(1, 1, 5_000), PendingApplication(2, 2, 5_000)],
    )
    assert proposal.allocations == {1: 2_000, 2: 1_000}


def test_districts_without_any_allocation_are_topped_up_before_others_get_more():
    # Same population; 甲 already holds 10 units, 乙 nothing: 乙 is filled up to 甲's level first.
    proposal = propose(
        capacity=1_000,
        districts=[district(1, 100_000, past=1_000), district(2, 100_000, past=0)],
        applications=[PendingApplication(1, 1, 1_000), PendingApplication(2, 2, 1_000)],
        unit="小时",
    )
    assert proposal.allocations == {2: 1_000, 1: 0}
    held_back = next(line for line in proposal.districts if line.district_id == 1)
    assert "人均已不低于本轮水位线" in held_back.reasoning
    new = next(line for line in proposal.districts if line.district_id == 2)
    assert new.no_allocation_yet and "水位从零开始" in new.reasoning


def test_a_small_earlier_allocation_does_not_starve_a_populous_district():
    # A strict "new districts first" tier would give 乙 (10k students) all, 甲 (100k) nothing.
    proposal = propose(
        capacity=1_000,
        districts=[district(1, 100_000, past=100), district(2, 10_000, past=0)],
        applications=[PendingApplication(1, 1, 1_000), PendingApplication(2, 2, 1_000)],
    )
    assert proposal.allocations[1] > proposal.allocations[2] > 0


def test_past_allocation_counts_towards_the_water_level():
    proposal = propose(
        capacity=1_000,
        districts=[district(1, 100_000, past=1_000), district(2, 100_000, past=100)],
        applications=[PendingApplication(1, 1, 1_000), PendingApplication(2, 2, 1_000)],
    )
    # Level: (1000 + 100 + 1000) / 200k → 乙 is topped up to 甲's level first, then they share.
    assert proposal.allocations == {1: 100, 2: 900} or proposal.allocations == {1: 0, 2: 1_000}
    assert sum(proposal.allocations.values()) == 1_000
    assert proposal.allocations[2] >= 900


def test_a_districts_share_fills_its_applications_in_submission_order():
    proposal = propose(
        capacity=700,
        districts=[district(1, 100_000)],
        applications=[PendingApplication(5, 1, 500), PendingApplication(9, 1, 500)],
    )
    assert proposal.allocations == {5: 500, 9: 200}


def test_the_reasoning_is_chinese_and_names_students_and_the_water_level():
    proposal = propose(
        capacity=500,
        districts=[district(1, 118_600, name="碑林区"), district(2, 133_000, name="雁塔区")],
        applications=[PendingApplication(1, 1, 600), PendingApplication(2, 2, 600)],
        unit="小时",
    )
    line = proposal.districts[0]
    assert "在校学生" in line.reasoning and "水位线" in line.reasoning and "小时" in line.reasoning
    assert "注水法" in proposal.rule


def test_the_fingerprint_changes_when_any_input_changes():
    districts = [district(1, 100_000)]
    apps = [PendingApplication(1, 1, 500)]
    base = propose(capacity=1_000, districts=districts, applications=apps).fingerprint
    assert propose(capacity=900, districts=districts, applications=apps).fingerprint != base
    assert (
        propose(
            capacity=1_000, districts=districts, applications=[PendingApplication(1, 1, 600)]
        ).fingerprint
        != base
    )
    assert propose(capacity=1_000, districts=districts, applications=apps).fingerprint == base


@settings(max_examples=80, deadline=None)
@given(
    capacity=st.integers(0, 50_000),
    rows=st.lists(
        st.tuples(
            st.integers(0, 300_000),
            st.integers(0, 3_000),
            st.lists(st.integers(1, 5_000), min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_a_proposal_never_exceeds_capacity_or_any_request_and_wastes_less_than_a_unit_per_district(
    capacity, rows
):
    districts = [district(i, students, past) for i, (students, past, _) in enumerate(rows, start=1)]
    apps = []
    for i, (_, _, requests) in enumerate(rows, start=1):
        for r in requests:
            apps.append(PendingApplication(len(apps) + 1, i, r))
    proposal = propose(capacity=capacity, districts=districts, applications=apps)
    requested = {a.application_id: a.requested for a in apps}
    assert sum(proposal.allocations.values()) <= capacity
    assert all(0 <= proposal.allocations[a] <= requested[a] for a in requested)
    total_demand = sum(requested.values())
    # Rounding to whole units may leave less than one unit per district unallocated.
    assert proposal.total_proposed >= min(capacity, total_demand) - 100 * len(rows)
