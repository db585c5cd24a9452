"""The fair proposal for a service's pending applications (pure: plain data in, plain data out).

Rule (weighted max-min fairness by water-filling), shown to staff as RULE_TEXT:

1. Districts with no allocation of this service yet form the first group and are served first;
   whatever the first group cannot use goes to the districts that already hold some (second group).
2. Within a group each district's weight is its student population. The proposal raises a common
   "water level" λ (quantity per student, counting what the district already received) so that
   district i gets x_i = clamp(λ·students_i − past_i, 0, requested_i), with Σ x_i = capacity.
   The least-served district per student is topped up first; nobody gets more than requested.
3. Quantities are rounded down to whole units (or to the exact request); the units freed by
   rounding go one at a time to the largest fractional parts (ties: lower level, then district id).
4. Inside a district, its applications are filled in submission order.
5. Nothing is applied until staff confirm the proposal (the fingerprint ties the confirmation to
   exactly the applications and quantities that were shown).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from marketplace.services.quantity import format_quantity

RULE_TEXT = (
    "公平分配规则（按学生数加权的最大最小公平，即“注水法”）："
    "① 尚未获得本服务任何分配的区县为第一组，优先分配；"
    "第一组满足后，剩余数量再分给已获分配的区县（第二组）。"
    "② 组内以在校学生数为权重，抬高统一的“水位线”（每名学生获得的数量，计入此前已分配的数量），"
    "人均最低的区县先补足，直到剩余数量用完；任何区县不超过其申请总量。"
    "③ 数量按整单位取整，取整后多出的数量按小数部分从大到小逐一补给。"
    "④ 同一区县的多份申请按提交先后依次满足。"
    "⑤ 方案仅供参考，须工作人员确认后才生效。"
)
PER_STUDENTS = 10_000  # levels are shown per 10,000 students


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
    first_group: bool
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
    values = [filled(b) for b in points]
    k = bisect_right(values, capacity) - 1  # last breakpoint whose fill is ≤ capacity
    base = points[k]
    slope = sum((w for w, s, e in zip(weights, starts, ends, strict=True) if s <= base < e), 0)
    level = base + (Fraction(capacity) - values[k]) / slope
    shares = [
        min(max(level * w - p, Fraction(0)), Fraction(d))
        for w, p, d in zip(weights, past, demand, strict=True)
    ]
    return level, shares


def _round(
    shares: list[Fraction], demand: list[int], budget: int, step: int, levels: list[Fraction]
) -> list[int]:
    """Whole steps (or the exact demand), never above demand, never above budget in total."""
    rounded = []
    for x, d in zip(shares, demand, strict=True):
        rounded.append(d if x >= d else min(d, int(x // step) * step))
    left = budget - sum(rounded)
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - rounded[i]), levels[i], i))
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

    proposed: dict[int, int] = {}
    group_level: dict[bool, Fraction | None] = {}
    group_budget: dict[bool, int] = {}
    budget = capacity
    for first in (True, False):
        group = [i for i in ids if (past[i] == 0) == first]
        if not group:
            continue
        level, shares = water_fill(
            budget, [weight[i] for i in group], [past[i] for i in group], [demand[i] for i in group]
        )
        levels = [Fraction(past[i], weight[i]) for i in group]
        amounts = _round(shares, [demand[i] for i in group], budget, step, levels)
        group_level[first] = level
        group_budget[first] = budget
        for i, amount in zip(group, amounts, strict=True):
            proposed[i] = amount
        budget -= sum(amounts)

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
            first_group=past[i] == 0,
            reasoning=_reason(
                info[i],
                past[i],
                demand[i],
                proposed[i],
                group_level.get(past[i] == 0),
                group_budget.get(past[i] == 0, 0),
                unit,
            ),
        )
        for i in ids
    ]
    lines.sort(key=lambda line: (not line.first_group, -line.proposed, line.district_id))
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
    budget: int,
    unit: str,
) -> str:
    def q(value: int) -> str:
        return f"{format_quantity(value)}{unit}"

    students = f"在校学生 {d.students:,} 人"
    if past == 0:
        head = f"{students}，尚未获得本服务分配，按规则列入优先组"
    else:
        per_10k = _per_10k(past, d.students)
        head = f"{students}，此前已获分配 {q(past)}（每万名学生 {per_10k}{unit}），列入第二组"
    if proposed >= requested:
        return f"{head}；申请 {q(requested)}，可全部满足。"
    if budget <= 0:
        return f"{head}；优先组用完了剩余数量，本次暂不分配（申请 {q(requested)}）。"
    assert level is not None  # some demand is unmet, so the level binds
    water = _per_10k(level * max(d.students, 1), d.students)
    if proposed == 0 and level * max(d.students, 1) <= past:
        return (
            f"{head}；人均已不低于本轮水位线（每万名学生约 {water}{unit}），"
            f"本次暂不分配（申请 {q(requested)}）。"
        )
    return (
        f"{head}；剩余数量不足以满足全部申请，按学生数补足到每万名学生约 {water}{unit} 的水位线，"
        f"建议分配 {q(proposed)}（申请 {q(requested)}）。"
    )
