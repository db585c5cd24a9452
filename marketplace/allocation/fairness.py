"""The fair proposal for a service's pending applications (pure: plain data in, plain data out).

Rule (weighted max-min fairness by water-filling), shown to staff as RULE_TEXT:

1. Each district's weight is its student population. The proposal raises one common "water
   level" λ (quantity per student, counting what the district already received from this
   service) so that district i gets x_i = clamp(λ·students_i − past_i, 0, requested_i) with
   Σ x_i = capacity: the district with the least per student is topped up first, and nobody
   gets more than it asked for.
2. Districts with no allocation yet start at level zero, so they are served first: a district
   that already holds some gets nothing more until every new district has caught up with its
   level per student (or has all it asked for). A strict "new districts take everything first"
   tier was measured worse (benchmarks/allocation.py): a district that had received one hour
   could end up far below a new one, per student.
3. Quantities are rounded down to whole units (or to the exact request); the units freed by
   rounding go one at a time to the largest fractional parts (ties: districts with no
   allocation yet, then the lower level, then district id).
4. Inside a district, its applications are filled in submission order.
5. Nothing is applied until staff confirm the proposal (the fingerprint ties the confirmation to
   exactly the applications and quantities that were shown).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from marketplace.services.quantity import PER_STUDENTS, format_quantity

RULE_TEXT = (
    "公平分配规则（按学生数加权的最大最小公平，即“注水法”）："
    "① 以各区县在校学生数为权重，抬高统一的“水位线”"
    "（每名学生获得的数量，计入此前已从本服务获得的数量），"
    "人均最低的区县先补足，直到剩余数量用完；任何区县不超过其申请总量。"
    "② 尚未获得本服务分配的区县水位从零开始，因此最先得到补足；"
    "在它们的人均水平追上之前，已获分配的区县不会再分到数量。"
    "③ 数量按整单位取整，取整后多出的数量按小数部分从大到小逐一补给"
    "（同等时尚未获得分配的区县优先）。"
    "④ 同一区县的多份申请按提交先后依次满足。"
    "⑤ 方案仅供参考，须工作人员确认后才生效。"
)


@dataclass(frozen=True)
class PendingApplication:
    application_id: int
    district_id: int
    requested: int  # hundredths


@dataclass(frozen=True)
class DistrictInfo:
    district_id: int
    name: str
    students: int
    past: int  # hundredths of this service the district already holds or used (net of releases)


@dataclass(frozen=True)
class DistrictProposal:
    district_id: int
    name: str
    students: int
    past: int
    requested: int
    proposed: int
    no_allocation_yet: bool
    reasoning: str


@dataclass(frozen=True)
class Proposal:
    capacity: int
    total_requested: int
    total_proposed: int
    rule: str
    fingerprint: str
    districts: list[DistrictProposal]
    allocations: dict[int, int] = field(default_factory=dict)  # application id → hundredths


def fingerprint(
    capacity: int, districts: Sequence[DistrictInfo], applications: Sequence[PendingApplication]
) -> str:
    """A short digest of everything the proposal depends on."""
    parts = [str(capacity)]
    parts += [
        f"a{a.application_id}:{a.district_id}:{a.requested}"
        for a in sorted(applications, key=lambda a: a.application_id)
    ]
    parts += [
        f"d{d.district_id}:{d.students}:{d.past}"
        for d in sorted(districts, key=lambda d: d.district_id)
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def water_fill(
    capacity: int, weights: Sequence[int], past: Sequence[int], demand: Sequence[int]
) -> tuple[Fraction | None, list[Fraction]]:
    """Exact x_i = clamp(λ·w_i − p_i, 0, d_i), Σ x_i = min(capacity, Σ d_i); returns (λ, x).

    λ is None when every demand fits (no level binds).
    """
    n = len(weights)
    if sum(demand) <= capacity:
        return None, [Fraction(d) for d in demand]
    if capacity <= 0:
        return Fraction(0), [Fraction(0)] * n
    starts = [Fraction(p, w) for p, w in zip(past, weights, strict=True)]
    ends = [Fraction(p + d, w) for p, d, w in zip(past, demand, weights, strict=True)]

    def filled(level: Fraction) -> Fraction:
        return sum(
            (
                min(max(level * w - p, Fraction(0)), Fraction(d))
                for w, p, d in zip(weights, past, demand, strict=True)
            ),
            Fraction(0),
        )

    points = sorted(set(starts) | set(ends))
    # filled() is non-decreasing: binary-search the last breakpoint whose fill is ≤ capacity.
    lo, hi = (
        0,
        len(points) - 1,
    )  # filled(points[0]) == 0 ≤ capacity < Σ demand == filled(points[-1])
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if filled(points[mid]) <= capacity:
            lo = mid
        else:
            hi = mid
    base = points[lo]
    slope = sum((w for w, s, e in zip(weights, starts, ends, strict=True) if s <= base < e), 0)
    level = base + (Fraction(capacity) - filled(base)) / slope
    shares = [
        min(max(level * w - p, Fraction(0)), Fraction(d))
        for w, p, d in zip(weights, past, demand, strict=True)
    ]
    return level, shares


def _round(
    shares: list[Fraction],
    demand: list[int],
    budget: int,
    step: int,
    priority: list[tuple[bool, Fraction]],
) -> list[int]:
    """Whole steps (or the exact demand), never above demand, never above budget in total."""
    rounded = []
    for x, d in zip(shares, demand, strict=True):
        rounded.append(d if x >= d else min(d, int(x // step) * step))
    left = budget - sum(rounded)
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - rounded[i]), priority[i], i))
    for i in order:
        if shares[i] - rounded[i] <= 0:
            break
        increment = min(step, demand[i] - rounded[i])
        if 0 < increment <= left:
            rounded[i] += increment
            left -= increment
    return rounded


def propose(
    *,
    capacity: int,
    districts: Sequence[DistrictInfo],
    applications: Sequence[PendingApplication],
    unit: str = "",
    step: int = 100,
) -> Proposal:
    """The fair proposal for `applications` sharing `capacity` hundredths, with reasoning."""
    info = {d.district_id: d for d in districts}
    by_district: dict[int, list[PendingApplication]] = {}
    for a in sorted(applications, key=lambda a: a.application_id):
        by_district.setdefault(a.district_id, []).append(a)
    ids = sorted(by_district)
    demand = {i: sum(a.requested for a in by_district[i]) for i in ids}
    weight = {i: max(info[i].students, 1) for i in ids}
    past = {i: max(info[i].past, 0) for i in ids}
    capacity = max(capacity, 0)

    level, shares = water_fill(
        capacity, [weight[i] for i in ids], [past[i] for i in ids], [demand[i] for i in ids]
    )
    priority = [(past[i] > 0, Fraction(past[i], weight[i])) for i in ids]
    amounts = _round(shares, [demand[i] for i in ids], capacity, step, priority)
    proposed = dict(zip(ids, amounts, strict=True))

    allocations: dict[int, int] = {}
    for i in ids:
        left = proposed[i]
        for a in by_district[i]:
            give = min(left, a.requested)
            allocations[a.application_id] = give
            left -= give

    lines = [
        DistrictProposal(
            district_id=i,
            name=info[i].name,
            students=info[i].students,
            past=past[i],
            requested=demand[i],
            proposed=proposed[i],
            no_allocation_yet=past[i] == 0,
            reasoning=_reason(info[i], past[i], demand[i], proposed[i], level, capacity, unit),
        )
        for i in ids
    ]
    lines.sort(key=lambda line: (-line.proposed, not line.no_allocation_yet, line.district_id))
    return Proposal(
        capacity=capacity,
        total_requested=sum(demand.values()),
        total_proposed=sum(proposed.values()),
        rule=RULE_TEXT,
        fingerprint=fingerprint(capacity, districts, applications),
        districts=lines,
        allocations=allocations,
    )


def _per_10k(amount: Fraction | int, students: int) -> str:
    value = Fraction(amount) * PER_STUDENTS / max(students, 1) / 100
    return f"{float(value):.2f}"


def _reason(
    d: DistrictInfo,
    past: int,
    requested: int,
    proposed: int,
    level: Fraction | None,
    capacity: int,
    unit: str,
) -> str:
    def q(value: int) -> str:
        return f"{format_quantity(value)}{unit}"

    students = f"在校学生 {d.students:,} 人"
    if past == 0:
        head = f"{students}，尚未获得本服务分配，水位从零开始、优先补足"
    else:
        per_10k = _per_10k(past, d.students)
        head = f"{students}，此前已获分配 {q(past)}（每万名学生 {per_10k}{unit}）"
    if proposed >= requested:
        return f"{head}；申请 {q(requested)}，可全部满足。"
    if capacity <= 0 or level is None:
        return f"{head}；该服务已无剩余数量，本次无法分配（申请 {q(requested)}）。"
    water = _per_10k(level * max(d.students, 1), d.students)
    if proposed == 0 and level * max(d.students, 1) <= past:
        return (
            f"{head}；人均已不低于本轮水位线（每万名学生约 {water}{unit}），"
            f"本次暂不分配，先补足人均更低的区县（申请 {q(requested)}）。"
        )
    return (
        f"{head}；剩余数量不足以满足全部申请，按学生数补足到每万名学生约 {water}{unit} 的水位线，"
        f"建议分配 {q(proposed)}（申请 {q(requested)}）。"
    )
