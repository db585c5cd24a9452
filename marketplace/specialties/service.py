"""The specialty vocabulary: seeding, look-up, and on-the-fly additions from imports."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import Session, col, select

from marketplace.ids import stored_id
from marketplace.specialties.models import Specialty

DEFAULT_VOCABULARY_FILE = Path(__file__).resolve().parent.parent / "data" / "specialties.json"


def seed_specialties(*, session: Session, path: Path = DEFAULT_VOCABULARY_FILE) -> int:
    """Insert the vocabulary entries not present yet; returns how many were added."""
    existing = {s.name for s in session.exec(select(Specialty)).all()}
    added = 0
    for entry in json.loads(path.read_text(encoding="utf-8")):
        if entry["name"] not in existing:
            session.add(
                Specialty(name=entry["name"], domain=entry["domain"], synonyms=entry["synonyms"])
            )
            added += 1
    session.flush()
    return added


def list_specialties(*, session: Session) -> list[Specialty]:
    """The whole vocabulary, in name order."""
    return list(session.exec(select(Specialty).order_by(Specialty.name)).all())


def ensure_specialties(*, session: Session, names: list[str], domain: str) -> dict[str, int]:
    """Ids for the given names, adding unknown names to the vocabulary under `domain`."""
    found = {
        s.name: stored_id(s)
        for s in session.exec(select(Specialty).where(col(Specialty.name).in_(names))).all()
    }
    for name in names:
        if name not in found:
            specialty = Specialty(name=name, domain=domain, synonyms=[])
            session.add(specialty)
            session.flush()
            found[name] = stored_id(specialty)
    return found
