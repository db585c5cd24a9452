import numpy as np

from matching.assign import Problem, assign, greedy, lp_relaxation, validate


def problem(**overrides) -> Problem:
    values = dict(
        hours=np.array([4.0, 4.0]),
        slots=np.array([1, 1]),
        priority=np.array([1.0, 1.0]),
        group=np.array([0, 1]),
        capacity=np.array([4.0, 4.0]),
        pair_need=np.array([0, 0, 1]),
        pair_expert=np.array([0, 1, 0]),
        pair_affinity=np.array([0.9, 0.8, 0.85]),
    )
    values.update(overrides)
    return Problem(**values)


def test_the_solver_beats_greedy_when_greedy_takes_the_only_expert_another_request_needs():
    p = problem()
    assert greedy(p).total_affinity == 0.9  # request 0 takes expert 0; request 1 has nobody left
    best = assign(p, fairness=None)
    assert round(best.total_affinity, 6) == 1.65
    assert best.chosen.tolist() == [False, True, True]


def test_assignments_never_exceed_an_experts_hours_or_a_requests_slots():
    rng = np.random.default_rng(7)
    n_needs, n_experts = 40, 15
    pairs = [(r, e) for r in range(n_needs) for e in rng.choice(n_experts, 6, replace=False)]
    p = Problem(
        hours=rng.integers(1, 9, n_needs).astype(float),
        slots=rng.integers(1, 4, n_needs),
        priority=rng.choice([1.0, 2.0, 4.0], n_needs),
        group=rng.integers(0, 5, n_needs),
        capacity=rng.integers(0, 20, n_experts).astype(float),
        pair_need=np.array([r for r, _ in pairs]),
        pair_expert=np.array([e for _, e in pairs]),
        pair_affinity=rng.random(len(pairs)),
    )
    exact, large_batch_path = assign(p), assign(p, exact_up_to=0)  # MILP; LP + fix-and-repair
    bound = lp_relaxation(p).value
    for solution in (exact, large_batch_path, greedy(p)):
        assert validate(p, solution.chosen) == []
        assert solution.objective <= bound + 1e-6
    assert large_batch_path.objective >= 0.97 * exact.objective


def test_crisis_requests_get_contended_capacity_first():
    p = problem(priority=np.array([1.0, 4.0]))
    solution = assign(p, fairness=None)
    assert solution.chosen[2]  # the crisis request 1 gets expert 0


def test_the_same_input_gives_the_same_assignment():
    p = problem(pair_affinity=np.array([0.5, 0.5, 0.5]))
    first, second = assign(p), assign(p)
    assert first.chosen.tolist() == second.chosen.tolist()


def test_the_fairness_floor_lifts_a_district_left_far_behind():
    # District 0's request 0 gains most from expert 3, but expert 3 is district 1's only good
    # expert: pure efficiency leaves district 1 with 0.1 of its ideal 0.5.
    p = Problem(
        hours=np.array([4.0, 4.0, 4.0]),
        slots=np.array([1, 1, 1]),
        priority=np.ones(3),
        group=np.array([0, 0, 1]),
        capacity=np.array([4.0, 4.0, 4.0, 4.0]),
        pair_need=np.array([0, 0, 1, 2, 2]),
        pair_expert=np.array([3, 0, 1, 3, 2]),
        pair_affinity=np.array([0.9, 0.3, 0.9, 0.5, 0.1]),
    )

    def district_1(solution):
        return round(float(p.pair_affinity[solution.chosen & (p.group[p.pair_need] == 1)].sum()), 6)

    assert district_1(assign(p, fairness=None)) == 0.1
    fair = assign(p, fairness=0.7)
    assert district_1(fair) == 0.5
    assert validate(p, fair.chosen) == []


def test_an_empty_batch_is_a_valid_empty_solution():
    empty = np.zeros(0, dtype=np.int64)
    p = Problem(
        empty.astype(float),
        empty,
        empty.astype(float),
        empty,
        np.array([5.0]),
        empty,
        empty,
        empty.astype(float),
    )
    solution = assign(p)
    assert solution.chosen.size == 0 and solution.total_affinity == 0
