"""Service-type prior: which specialties requests of each service type call for (pure).

A request's service type says something its text may not: in labelled requests, an assessment
request is about 心理测评与量表, a crisis-support request about 心理危机干预, 自杀风险评估 or
心理援助热线, while training and supervision requests spread over many specialties. The need
model reads only the text, so matching multiplies its need distribution by

    prior(s | service type) = (n(type, s) + α) / (n(type) + α·|specialties|)

(α = SMOOTHING, so a specialty never seen with a type keeps a share) and renormalises.

Counts come from labelled requests (`HEART_MATCH_SERVICE_PRIOR`: `builtin` = the table
derived from the dev requests by scripts/derive_labelled_needs.py, a path to such a JSON file,
or `none`). Measured with benchmarks/matching_quality.py (5-fold CV over query ids, the prior
counted from the training folds only; mean grade / grade 2 / filled / worst city):
without 1.618 / 74.0% / 96.3% / 1.00; α 5 at power 0.5: 1.640 / 75.9% / 96.3% / 1.06;
power 1 (used): 1.644 / 75.8% / 96.1% / 1.24.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from marketplace.errors import InvalidInput

SMOOTHING = 5.0
POWER = 1.0
BUILTIN_PRIOR = Path(__file__).resolve().parent / "data" / "service_type_prior.json"


@dataclass(frozen=True)
class ServiceTypePrior:
    counts: Mapping[str, Mapping[str, float]]  # service type -> specialty -> labelled requests
    vocabulary_size: int = 28
    smoothing: float = SMOOTHING
    power: float = POWER

    @classmethod
    def from_labels(
        cls, labelled: Iterable[tuple[str, str]], vocabulary_size: int
    ) -> ServiceTypePrior:
        """From (service type, specialty) pairs of labelled requests."""
        counts: dict[str, dict[str, float]] = {}
        for service_type, specialty in labelled:
            row = counts.setdefault(service_type, {})
            row[specialty] = row.get(specialty, 0.0) + 1.0
        return cls(counts, vocabulary_size)

    def apply(self, need: Mapping[str, float], service_type: str) -> dict[str, float]:
        """The need distribution reweighted by the prior of `service_type` (unchanged when the
        type has no labelled requests or the need is empty)."""
        row = self.counts.get(service_type)
        if not row or not need:
            return dict(need)
        total = sum(row.values()) + self.smoothing * self.vocabulary_size
        weighted = {
            s: p * ((row.get(s, 0.0) + self.smoothing) / total) ** self.power
            for s, p in need.items()
        }
        norm = sum(weighted.values())
        if norm <= 0:
            return dict(need)
        return dict(sorted(((s, w / norm) for s, w in weighted.items()), key=lambda kv: -kv[1]))

    def to_json(self) -> dict:
        return {"counts": {t: dict(sorted(row.items())) for t, row in sorted(self.counts.items())}}


def load_prior(setting: str, vocabulary_size: int) -> ServiceTypePrior | None:
    """The prior a setting names (`builtin`, `none` or a JSON path); None when switched off."""
    choice = (setting or "").strip()
    if not choice or choice.lower() == "none":
        return None
    path = BUILTIN_PRIOR if choice == "builtin" else Path(choice).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        counts = {
            str(t): {str(s): float(n) for s, n in row.items()} for t, row in data["counts"].items()
        }
    except FileNotFoundError:
        raise InvalidInput(f"找不到服务类型先验文件：{path}") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InvalidInput(
            f'服务类型先验文件格式不对：{path}（应为 {{"counts": {{类型: {{专长: 次数}}}}}}）'
        ) from None
    return ServiceTypePrior(counts, vocabulary_size)
