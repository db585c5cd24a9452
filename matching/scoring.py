"""Affinity of an expert for a district request, with its reasons in Chinese (pure, no I/O).

Two entry points share one definition of the rules and weights:
* `explain(need, expert, relevance, specialty_fit)`: one pair, with the parts and reasons shown
  to staff and districts;
* `score_matrix(needs, pool, relevance, specialty_fit)`: every pair of a batch at once (numpy),
  for the solver; infeasible pairs get `-inf`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import permutations

import numpy as np

from marketplace import messages
from search.ranking import NEED_POWER, sharpen

URGENCY_ORDER = {"crisis": 0, "urgent": 1, "normal": 2}


@dataclass(frozen=True)
class Place:
    province: str
    city: str
    district: str
    zone: str | None = None


@dataclass(frozen=True)
class ExpertProfile:
    """What matching needs to know about an expert."""

    id: str
    place: Place
    specialties: tuple[str, ...] = ()
    service_types: frozenset[str] = frozenset()
    formats: frozenset[str] = frozenset()
    capacity_hours: int = 0  # monthly
    booked_hours: float = 0.0  # already committed this month
    years_experience: int = 0
    served_districts: frozenset[tuple[str, str]] = frozenset()  # (city, district) served before
    active: bool = True
    # (city, zone) of the zones (片区) the expert is paired with as a member of that city's
    # expert group: requests from those zones' districts count the expert as near ("zone").
    zones: frozenset[tuple[str, str]] = frozenset()

    @property
    def remaining_hours(self) -> float:
        return max(0.0, self.capacity_hours - self.booked_hours)


@dataclass(frozen=True)
class Need:
    """A request as matching sees it."""

    id: str
    text: str
    place: Place
    service_type: str
    format: str
    hours: int
    experts_needed: int = 1
    excluded: frozenset[str] = frozenset()
    urgency: str = "normal"
    min_years: int | None = None


@dataclass(frozen=True)
class Weights:
    """How the parts of the affinity trade off; the shares sum to 1, so affinity is in [0, 1].

    Relevance first, soft preferences as tie-breakers. The specialty part is the need model's
    expected gain for the expert: ``Σ_s p(s)·[holds s]`` (+ ``related_gain``·p(s) for a related
    specialty), with ``p`` sharpened to ``p ** need_power`` (search.ranking.sharpen: the need
    model's posteriors are under-confident). It is an absolute expected grade, not normalised
    per request, so the solver gives contended experts where they are most surely right.
    Region, capacity, continuity and seniority only break ties between equally fitting experts:
    the need model is right for ~62% of the dev requests (top-1), and every point of weight a
    preference takes from the specialty lets it overrule a likelier specialist. A request that
    asks for seniority (``min_years``) gets it at ``seniority_asked`` instead.

    Measured with benchmarks/matching_quality.py --ablations (solver, dev, 300 requests; mean
    grade / % grade 2; CV = 5-fold over query ids, seeds 0/1/2), with the lexical need model of
    the time (no encoder, no fit floor, no service-type prior):

    =====================================================  ====================  ==================
    variant                                                bios only             CV (seed 0/1/2)
    =====================================================  ====================  ==================
    before: raw mass, weights .05/.75/.08/.04/.04/.04      1.348 / 60.5%         1.385 / 1.380 / 1.359
    + sharpen p**1.5                                       1.385 / 62.0%         1.369 (seed 0)
    + preferences as tie-breakers (.05/.9/.02/.01/.01/.01) 1.385 / 61.8%         1.377 / 1.408 / 1.398
    + related specialties at gain 0.25 (current)           1.395 / 61.0%         1.458 / 1.455 / 1.445
    current minus sharpening / related / tie-breaking      1.382 / 1.385 / 1.387 1.403 / 1.377 / 1.448 (s0)
      related gain 0.5 / 0.15                              1.348 / 1.406         1.393 / 1.437 (s0)
      related map at lift ≥ 2 instead of 1.5               1.403                 1.429 / 1.432 / 1.416
    BM25 share 0 / 0.1 (specialty 0.95 / 0.85)             1.374 / 1.366         1.385 / 1.372 (s0)
    fairness floor off / α 0.5 / α 0.85 (default 0.7)      1.385 / 1.385 / 1.390 1.377 for all three
    =====================================================  ====================  ==================

    The related map comes from the directory itself (specialties co-held far above chance,
    `related_specialties`), never from judgements; grade 1 ("closely related") is worth half a
    grade 2, but the map is noisy, so its measured best gain is lower (0.25). The fairness
    floor neither helps nor hurts the grade here: the low cities are low because their onsite
    specialists are few, not because the solver starves them. Differences below ~0.02 are
    noise at 383 slots.

    Re-measured with the current need model (bge-small-zh dense view, MIN_FIT 0.05, service-type
    prior in CV; mean grade / % grade 2 / % filled): bios only 1.578 / 72.2% / 96.6%, CV
    1.644 / 75.8% / 96.1%. Switching one choice back: no sharpening 1.566 | 1.639; no related
    specialties 1.615 / 92.2% filled | 1.702 / 91.9% filled (the related gain is what lets
    experts of a close specialty pass the fit floor, so without it fewer than 95% of slots
    are filled); preferences at the old shares 1.573 | 1.660.
    """

    relevance: float = 0.05
    specialty: float = 0.9
    region: float = 0.02
    capacity: float = 0.01
    continuity: float = 0.01
    seniority: float = 0.01
    seniority_asked: float = 0.1  # replaces `seniority` when the request sets min_years
    need_power: float = NEED_POWER
    related_gain: float = 0.25
    # Batch assignment proposes no expert whose specialty fit (expected gain) is below this;
    # such a request is left to staff with the closest expert as its alternate. See MIN_FIT.
    min_fit: float = 0.05


DEFAULT_WEIGHTS = Weights()
# Why a fit floor (Weights.min_fit): an onsite request can only be served from its own city,
# and where that city has nobody who fits, the solver used to send whoever was free (an expert
# with a 5% chance of holding the needed specialty costs the school a day and the expert hours
# another district could use). Measured with benchmarks/matching_quality.py (5-fold CV, dev,
# bge-small-zh need model, before the service-type prior; mean grade / grade 2 / slots filled /
# worst city):
#   floor 0: 1.563 / 71.5% / 99.7% / 0.90 | 0.05: 1.618 / 74.0% / 96.3% / 1.00
#   0.1: 1.633 / 74.8% / 95.3% / 1.06 | 0.2: 1.638 / 75.4% / 94.5% | 0.25: 1.692 / 78.7% / 90.6% / 1.23
# 0.05 keeps a margin on both the grade and the ≥ 95% filled goals (0.1 fills 95.3%, too close
# for unseen batches); the needs left open get a reason and an alternate.
# Region part for onsite service; online service ignores distance (part = 1 for every expert).
REGION_SCORES = {"district": 1.0, "zone": 0.75, "city": 0.5, "province": 0.0}
# Two specialties are related when experts hold them together this much more often than chance
# (lift) and at least this many experts do (measured: lift 1.5 → 2 costs 0.02-0.03 in CV).
RELATED_MIN_LIFT = 1.5
RELATED_MIN_EXPERTS = 5
# A specialty is named as a reason when the need model gives it at least this probability.
SPECIALTY_REASON_MIN = 0.15


@dataclass
class PairExplanation:
    expert_id: str
    feasible: bool
    score: float
    parts: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)  # why this expert (feasible pairs)
    violations: list[str] = field(default_factory=list)  # why not (infeasible pairs)

    @property
    def summary(self) -> str:
        return " · ".join(self.reasons if self.feasible else self.violations)


def _label(table: Mapping[str, str], key: str) -> str:
    return table.get(key, key)


def rule_violations(need: Need, expert: ExpertProfile, *, check_capacity: bool = True) -> list[str]:
    """The hard rules this pair breaks, as Chinese reasons (empty list: feasible)."""
    service = _label(messages.SERVICE_TYPE_LABELS, need.service_type)
    out = []
    if not expert.active:
        out.append(messages.PAIR_RULE_INACTIVE)
    if need.service_type not in expert.service_types:
        out.append(messages.PAIR_RULE_SERVICE.format(service=service))
    if need.format not in expert.formats:
        out.append(
            messages.PAIR_RULE_FORMAT.format(format=_label(messages.FORMAT_LABELS, need.format))
        )
    if need.format == "onsite" and (expert.place.province, expert.place.city) != (
        need.place.province,
        need.place.city,
    ):
        out.append(messages.PAIR_RULE_CITY.format(city=expert.place.city))
    if expert.id in need.excluded:
        out.append(messages.PAIR_RULE_EXCLUDED)
    if check_capacity and expert.remaining_hours < need.hours:
        out.append(
            messages.PAIR_RULE_CAPACITY.format(
                left=_hours(expert.remaining_hours), hours=need.hours
            )
        )
    return out


def paired_with_zone(need: Need, expert: ExpertProfile) -> bool:
    """Whether the expert's city expert group pairs them with the zone of the need's district."""
    return bool(need.place.zone) and (need.place.city, need.place.zone) in expert.zones


def _place_level(need: Place, expert: Place) -> str:
    if need.province != expert.province:
        return "other"
    if need.city != expert.city:
        return "province"
    if need.district == expert.district:
        return "district"
    if need.zone and need.zone == expert.zone:
        return "zone"
    return "city"


def region_level(need: Need, expert: ExpertProfile) -> str:
    """How close the expert works to the district: district, zone (the same zone, or paired
    with it through the city's expert group), city, province or other."""
    level = _place_level(need.place, expert.place)
    return "zone" if level == "city" and paired_with_zone(need, expert) else level


def _region_part(need: Need, expert: ExpertProfile) -> float:
    if need.format != "onsite":
        return 1.0
    return REGION_SCORES.get(region_level(need, expert), 0.0)


def _seniority_part(need: Need, expert: ExpertProfile) -> float:
    if not need.min_years:
        return 1.0
    return min(1.0, expert.years_experience / need.min_years)


def related_specialties(
    holdings: Iterable[Iterable[str]],
    *,
    min_lift: float = RELATED_MIN_LIFT,
    min_experts: int = RELATED_MIN_EXPERTS,
) -> dict[str, frozenset[str]]:
    """Specialty → the specialties experts hold together with it far more often than chance."""
    sets = [set(h) for h in holdings]
    sets = [h for h in sets if h]
    count: Counter[str] = Counter(x for h in sets for x in h)
    together: Counter[tuple[str, str]] = Counter(
        pair for h in sets for pair in permutations(sorted(h), 2)
    )
    out: dict[str, set[str]] = {}
    for (a, b), n in together.items():
        if n >= min_experts and n * len(sets) >= min_lift * count[a] * count[b]:
            out.setdefault(a, set()).add(b)
    return {a: frozenset(b) for a, b in sorted(out.items())}


def specialty_part(
    need: Mapping[str, float],
    held: Iterable[str],
    *,
    related: Mapping[str, frozenset[str]] | None = None,
    weights: Weights = DEFAULT_WEIGHTS,
) -> float:
    """Expected gain of an expert under the (sharpened) need distribution, capped at 1."""
    held = set(held)
    total = 0.0
    for s, p in need_gain(need, weights.need_power).items():
        if s in held:
            total += p
        elif weights.related_gain and related and held & related.get(s, frozenset()):
            total += weights.related_gain * p
    return min(1.0, total)


def _seniority_weight(need: Need, weights: Weights) -> float:
    return weights.seniority_asked if need.min_years else weights.seniority


def _capacity_part(need: Need, expert: ExpertProfile) -> float:
    if expert.capacity_hours <= 0:
        return 0.0
    return max(0.0, expert.remaining_hours - need.hours) / expert.capacity_hours


def _hours(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def explain(
    need: Need,
    expert: ExpertProfile,
    *,
    relevance: float,
    specialty_weights: Mapping[str, float] | None = None,
    weights: Weights = DEFAULT_WEIGHTS,
    related: Mapping[str, frozenset[str]] | None = None,
) -> PairExplanation:
    """Affinity of one pair with its parts and Chinese reasons; infeasible pairs say why.

    `related` is the pool's related-specialty map (`related_specialties`; the batch passes
    its own so that a pair scores the same here as in `score_row`)."""
    violations = rule_violations(need, expert)
    specialty_weights = specialty_weights or {}
    sharpened = need_gain(specialty_weights, weights.need_power)
    held = [(sharpened.get(s, 0.0), s) for s in expert.specialties]
    specialty_fit = specialty_part(
        specialty_weights, expert.specialties, related=related, weights=weights
    )
    continuity = 1.0 if (need.place.city, need.place.district) in expert.served_districts else 0.0
    parts = {
        "relevance": float(np.clip(relevance, 0.0, 1.0)),
        "specialty": specialty_fit,
        "region": _region_part(need, expert),
        "capacity": _capacity_part(need, expert),
        "continuity": continuity,
        "seniority": _seniority_part(need, expert),
    }
    shares = {k: getattr(weights, k) for k in parts} | {
        "seniority": _seniority_weight(need, weights)
    }
    score = sum(shares[k] * v for k, v in parts.items())
    reasons: list[str] = []
    named = sorted((h for h in held if h[0] >= SPECIALTY_REASON_MIN), reverse=True)
    if named:
        reasons.append(
            messages.REASON_SPECIALTY.format(specialty="、".join(s for _, s in named[:2]))
        )
    elif parts["relevance"] >= 0.5:
        reasons.append(messages.REASON_RELEVANT)
    if need.format == "onsite":
        label = {
            "district": messages.REASON_SAME_DISTRICT,
            "zone": messages.REASON_SAME_ZONE,
            "city": messages.REASON_SAME_CITY,
        }.get(_place_level(need.place, expert.place))
        if label:
            # the pairing first: it is what staff set up, and short lists show two reasons
            if paired_with_zone(need, expert):
                reasons.append(messages.REASON_ZONE_GROUP.format(zone=need.place.zone))
            reasons.append(label)
    else:
        reasons.append(messages.REASON_ONLINE)
    reasons.append(messages.REASON_REMAINING.format(hours=_hours(expert.remaining_hours)))
    if continuity:
        reasons.append(messages.REASON_CONTINUITY)
    if need.min_years:
        template = (
            messages.REASON_SENIORITY_MET
            if expert.years_experience >= need.min_years
            else messages.REASON_SENIORITY_SHORT
        )
        reasons.append(template.format(years=expert.years_experience, need=need.min_years))
    return PairExplanation(
        expert_id=expert.id,
        feasible=not violations,
        score=round(float(score), 4),
        parts=parts,
        reasons=reasons,
        violations=violations,
    )


# --- the whole batch at once --------------------------------------------------------------


@dataclass
class ExpertArrays:
    """The pool as column arrays, built once per batch for vectorised scoring."""

    ids: list[str]
    index: dict[str, int]
    city_key: np.ndarray  # int code of (province, city)
    district_key: np.ndarray  # int code of (province, city, district)
    zone_key: np.ndarray  # int code of (province, city, zone); -1 without zone
    service_mask: dict[str, np.ndarray]
    format_mask: dict[str, np.ndarray]
    active: np.ndarray
    capacity: np.ndarray  # monthly hours
    remaining: np.ndarray  # monthly hours minus booked
    years: np.ndarray
    specialty_matrix: np.ndarray  # experts × specialty labels (0/1)
    related_matrix: (
        np.ndarray
    )  # experts × labels: 1 where the expert holds a related specialty only
    related: dict[str, frozenset[str]]
    labels: list[str]
    served: dict[tuple[str, str], np.ndarray]  # (city, district) -> expert indices served
    codes: dict[tuple, int]
    # (city, zone) -> indices of the experts paired with that zone (city expert groups)
    paired: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)


def expert_arrays(
    pool: Sequence[ExpertProfile],
    labels: Sequence[str] = (),
    related: Mapping[str, frozenset[str]] | None = None,
) -> ExpertArrays:
    """Column arrays of the pool; `labels` orders the specialty columns (default: all held);
    `related` defaults to the pool's own related-specialty map."""
    codes: dict[tuple, int] = {}

    def code(key: tuple) -> int:
        return codes.setdefault(key, len(codes))

    labels = list(labels) or sorted({s for e in pool for s in e.specialties})
    label_index = {s: i for i, s in enumerate(labels)}
    n = len(pool)
    spec = np.zeros((n, len(labels)), dtype=np.float32)
    served: dict[tuple[str, str], list[int]] = {}
    paired: dict[tuple[str, str], list[int]] = {}
    for i, e in enumerate(pool):
        for s in e.specialties:
            if s in label_index:
                spec[i, label_index[s]] = 1.0
        for key in e.served_districts:
            served.setdefault(key, []).append(i)
        for key in e.zones:
            paired.setdefault(key, []).append(i)
    related = (
        dict(related) if related is not None else related_specialties(e.specialties for e in pool)
    )
    related_matrix = np.zeros_like(spec)
    for j, s in enumerate(labels):
        columns = [label_index[r] for r in related.get(s, ()) if r in label_index]
        if columns:
            related_matrix[:, j] = (spec[:, columns].max(axis=1) > 0) & (spec[:, j] == 0)
    services = {s for e in pool for s in e.service_types}
    formats = {f for e in pool for f in e.formats}
    return ExpertArrays(
        ids=[e.id for e in pool],
        index={e.id: i for i, e in enumerate(pool)},
        city_key=np.array(
            [code(("c", e.place.province, e.place.city)) for e in pool], dtype=np.int64
        ),
        district_key=np.array(
            [code(("d", e.place.province, e.place.city, e.place.district)) for e in pool],
            dtype=np.int64,
        ),
        zone_key=np.array(
            [
                code(("z", e.place.province, e.place.city, e.place.zone)) if e.place.zone else -1
                for e in pool
            ],
            dtype=np.int64,
        ),
        service_mask={
            s: np.array([s in e.service_types for e in pool], dtype=bool) for s in services
        },
        format_mask={f: np.array([f in e.formats for e in pool], dtype=bool) for f in formats},
        active=np.array([e.active for e in pool], dtype=bool),
        capacity=np.array([e.capacity_hours for e in pool], dtype=np.float64),
        remaining=np.array([e.remaining_hours for e in pool], dtype=np.float64),
        years=np.array([e.years_experience for e in pool], dtype=np.float64),
        specialty_matrix=spec,
        related_matrix=related_matrix,
        related=related,
        labels=labels,
        served={k: np.array(v, dtype=np.int64) for k, v in served.items()},
        codes=codes,
        paired={k: np.array(v, dtype=np.int64) for k, v in paired.items()},
    )


@dataclass
class Screening:
    """How many experts survive each hard rule, in order (for unserved-request reasons)."""

    active: int
    service: int
    format: int
    city: int
    not_excluded: int
    hours_fit: int  # monthly capacity ≥ hours
    not_booked: int  # remaining (capacity − booked) ≥ hours
    most_capacity: float  # largest monthly capacity among experts passing the rules before hours
    fitting: int = (
        -1
    )  # of those, experts whose specialty fit reaches Weights.min_fit (-1: not screened)


def feasible_mask(need: Need, arrays: ExpertArrays) -> tuple[np.ndarray, Screening]:
    """Experts that may serve `need` (all hard rules, capacity before this batch) and the funnel."""
    n = len(arrays.ids)
    mask = arrays.active.copy()
    active = int(mask.sum())
    mask &= arrays.service_mask.get(need.service_type, np.zeros(n, dtype=bool))
    service = int(mask.sum())
    mask &= arrays.format_mask.get(need.format, np.zeros(n, dtype=bool))
    fmt = int(mask.sum())
    if need.format == "onsite":
        city = arrays.codes.get(("c", need.place.province, need.place.city), -2)
        mask &= arrays.city_key == city
    city_count = int(mask.sum())
    for expert_id in need.excluded:
        i = arrays.index.get(expert_id)
        if i is not None:
            mask[i] = False
    not_excluded = int(mask.sum())
    most = float(arrays.capacity[mask].max()) if not_excluded else 0.0
    mask &= arrays.capacity >= need.hours
    hours_fit = int(mask.sum())
    mask &= arrays.remaining >= need.hours
    return mask, Screening(
        active, service, fmt, city_count, not_excluded, hours_fit, int(mask.sum()), most
    )


def need_gain(need: Mapping[str, float], power: float = 1.0) -> dict[str, float]:
    """The need distribution as used for specialty fit: ``p ** power`` renormalised."""
    if power == 1.0 or not need:
        return dict(need)
    return sharpen(need, power)


def specialty_fit_rows(
    specialty_weights: Sequence[Mapping[str, float]],
    arrays: ExpertArrays,
    *,
    weights: Weights = DEFAULT_WEIGHTS,
) -> np.ndarray:
    """needs × experts: `specialty_part` of every pair (expected gain under the sharpened need)."""
    label_index = {s: i for i, s in enumerate(arrays.labels)}
    dense = np.zeros((len(specialty_weights), len(arrays.labels)), dtype=np.float32)
    for row, need in enumerate(specialty_weights):
        for s, w in need_gain(need, weights.need_power).items():
            if s in label_index:
                dense[row, label_index[s]] = w
    gain = arrays.specialty_matrix + weights.related_gain * arrays.related_matrix
    return np.minimum(dense @ gain.T, 1.0)


def score_row(
    need: Need,
    arrays: ExpertArrays,
    *,
    relevance: np.ndarray,
    specialty_fit: np.ndarray,
    mask: np.ndarray,
    weights: Weights = DEFAULT_WEIGHTS,
) -> np.ndarray:
    """Affinity of every expert for one need (same formula as `explain`); -inf where infeasible."""
    score = weights.relevance * np.clip(relevance, 0.0, 1.0) + weights.specialty * specialty_fit
    if need.format == "onsite":
        region = np.full(len(arrays.ids), REGION_SCORES["city"])
        zone = arrays.codes.get(("z", need.place.province, need.place.city, need.place.zone), -2)
        if need.place.zone:
            region[arrays.zone_key == zone] = REGION_SCORES["zone"]
            # experts of the city paired with the zone by its expert group count as the zone's
            paired = arrays.paired.get((need.place.city, need.place.zone))
            if paired is not None:
                city = arrays.codes.get(("c", need.place.province, need.place.city), -2)
                region[paired[arrays.city_key[paired] == city]] = REGION_SCORES["zone"]
        district = arrays.codes.get(
            ("d", need.place.province, need.place.city, need.place.district), -2
        )
        region[arrays.district_key == district] = REGION_SCORES["district"]
        score = score + weights.region * region
    else:
        score = score + weights.region
    with np.errstate(divide="ignore", invalid="ignore"):
        cap = np.where(
            arrays.capacity > 0, np.maximum(arrays.remaining - need.hours, 0) / arrays.capacity, 0.0
        )
    score = score + weights.capacity * cap
    served = arrays.served.get((need.place.city, need.place.district))
    if served is not None:
        score[served] += weights.continuity
    if need.min_years:
        score = score + weights.seniority_asked * np.minimum(arrays.years / need.min_years, 1.0)
    else:
        score = score + weights.seniority
    return np.where(mask, score, -np.inf)
