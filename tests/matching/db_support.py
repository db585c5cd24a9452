"""Database fixtures for matching tests: a small expert pool and a fast fake relevance."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date

import numpy as np
from sqlmodel import Session

from marketplace.accounts.principal import system_principal
from marketplace.experts.importing import import_experts
from marketplace.requests.models import DistrictRequestCreate
from marketplace.requests.service import create_request
from matching.relevance import ExpertText, Relevance
from tests.conftest import expert_record

BEILIN = {"province": "陕西省", "city": "西安市", "district": "碑林区"}
YANTA = {"province": "陕西省", "city": "西安市", "district": "雁塔区"}
WEIBIN = {"province": "陕西省", "city": "宝鸡市", "district": "渭滨区"}


def fake_relevance(texts: Sequence[ExpertText], vocabulary: list[str], synonyms: dict) -> Relevance:
    """Relevance 1 when the text names one of the expert's specialties, else 0.1."""

    def scores(needs: Sequence[str], expert_ids: Sequence[str]) -> np.ndarray:
        held = {t.id: t.specialties for t in texts}
        return np.array(
            [
                [1.0 if any(s in n for s in held.get(e, ())) else 0.1 for e in expert_ids]
                for n in needs
            ]
        )

    def needs(items: Sequence[str]) -> list[dict[str, float]]:
        return [{s: 1.0 for s in vocabulary if s in text} for text in items]

    return Relevance(scores, needs, "fake")


def seed_pool(session: Session) -> None:
    records = [
        expert_record(
            id="M1", name="危机甲", specialties=["心理危机干预"], monthly_capacity_hours=8
        ),
        expert_record(
            id="M2",
            name="危机乙",
            specialties=["心理危机干预"],
            region=YANTA,
            monthly_capacity_hours=8,
        ),
        expert_record(
            id="M3",
            name="家庭丙",
            domain="education",
            specialties=["家庭教育指导"],
            monthly_capacity_hours=8,
        ),
        expert_record(
            id="M4",
            name="宝鸡丁",
            specialties=["心理危机干预"],
            region=WEIBIN,
            monthly_capacity_hours=8,
        ),
    ]
    report = import_experts(
        session=session,
        lines=[json.dumps(r, ensure_ascii=False) for r in records],
        user=system_principal("t"),
    )
    assert report.created == 4


def file_request(session: Session, *, user=None, **overrides: object):  # type: ignore[no-untyped-def]
    """File a request as `user` (default: the system principal, for the district named)."""
    values: dict = {
        "text": "学生自伤，需要心理危机干预",
        "district": "西安市/碑林区",
        "service_type": "crisis_support",
        "format": "onsite",
        "hours": 4,
        "experts_needed": 1,
        "window_start": date(2027, 3, 1),
        "window_end": date(2027, 3, 31),
        "submit": True,
    }
    values.update(overrides)
    return create_request(
        session=session,
        data=DistrictRequestCreate(**values),
        user=user or system_principal("t"),
    )
