from matching.models import PairPublic
from matching.review import fit_word, review_summary


def _pair(request_id, expert_id, *, score=0.8, role="assigned", status="proposed"):
    return PairPublic(
        request_id=request_id,
        expert_id=expert_id,
        role=role,
        status=status,
        score=score,
        hours=2,
        reasons=[],
        source="solver",
    )


def test_the_summary_counts_the_pairs_as_they_stand_after_a_removal():
    pairs = [
        _pair(1, "A", score=0.9),
        _pair(1, "B", score=0.6, status="removed"),
        _pair(2, "C", score=0.7),
        _pair(2, "D", score=0.5, role="alternate"),
        _pair(3, "E", score=0.4, status="removed"),
    ]
    summary = review_summary(pairs, {1: 2, 2: 1, 3: 1})
    assert (summary.filled, summary.slots) == (2, 4)
    assert (summary.met, summary.partly, summary.open) == ([2], [1], [3])
    assert summary.total_fit == 1.6


def test_fit_is_shown_in_words():
    assert [fit_word(s) for s in (0.9, 0.75, 0.6, 0.3)] == ["很适合", "很适合", "适合", "一般"]
