"""Plain records (the JSONL exchange formats) → matching's value types; no database."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from marketplace import messages
from marketplace.requests.models import RequestLine
from marketplace.validation import describe_errors
from matching.relevance import ExpertText
from matching.scoring import ExpertProfile, Need, Place

REGIONS_FILE = Path(__file__).resolve().parent.parent / "marketplace" / "data" / "regions.json"
SPECIALTIES_FILE = (
    Path(__file__).resolve().parent.parent / "marketplace" / "data" / "specialties.json"
)


def zone_map(path: Path = REGIONS_FILE) -> dict[tuple[str, str, str], str]:
    """(province, city, district) → zone name, from a regions file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        (data["province"], city["name"], district["name"]): zone["name"]
        for city in data["cities"]
        for zone in city.get("zones", [])
        for district in zone["districts"]
    }


def vocabulary(path: Path = SPECIALTIES_FILE) -> tuple[list[str], dict[str, list[str]]]:
    """Specialty names and synonyms of a vocabulary file."""
    entries = json.loads(path.read_text(encoding="utf-8"))
    return [e["name"] for e in entries], {e["name"]: list(e.get("synonyms", [])) for e in entries}


def place_of(region: Mapping[str, str], zones: Mapping[tuple[str, str, str], str]) -> Place:
    key = (region["province"], region["city"], region["district"])
    return Place(*key, zone=zones.get(key))


def expert_from_record(record: Mapping, zones: Mapping[tuple[str, str, str], str]) -> ExpertProfile:
    """An import-format expert record as a matching profile (nothing booked)."""
    return ExpertProfile(
        id=record["id"],
        place=place_of(record["region"], zones),
        specialties=tuple(record.get("specialties", ())),
        service_types=frozenset(record.get("service_types", ())),
        formats=frozenset(record.get("formats", ())),
        capacity_hours=int(record.get("monthly_capacity_hours", 0)),
        years_experience=int(record.get("years_experience", 0)),
        active=record.get("status", "active") == "active",
    )


def text_from_record(record: Mapping) -> ExpertText:
    return ExpertText(
        record["id"],
        tuple(record.get("specialties", ())),
        record.get("title", ""),
        record.get("bio", ""),
    )


def need_from_line(line: RequestLine, zones: Mapping[tuple[str, str, str], str]) -> Need:
    return Need(
        id=line.id,
        text=line.text,
        place=place_of(line.district.model_dump(), zones),
        service_type=line.service_type.value,
        format=line.format.value,
        hours=line.hours,
        experts_needed=line.experts_needed,
        excluded=frozenset(line.exclude_experts),
        urgency=line.urgency.value,
        min_years=line.min_years_experience,
    )


@dataclass
class ParsedRequests:
    """Valid request lines, and (id or line label, reason) for every line that is not."""

    lines: list[RequestLine] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def parse_request_lines(lines: Iterable[str]) -> ParsedRequests:
    """Parse JSONL request lines; bad lines are reported by id (or line number), never dropped."""
    parsed = ParsedRequests()
    seen: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        label = f"第{number}行"
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            parsed.rejected.append(
                (
                    label,
                    messages.MATCH_FILE_LINE_INVALID.format(line=number, reason="不是有效的 JSON"),
                )
            )
            continue
        if isinstance(data, dict) and isinstance(data.get("id"), str) and data["id"].strip():
            label = data["id"].strip()
        try:
            line = RequestLine.model_validate(data)
        except ValidationError as exc:
            reason = describe_errors(exc.errors())
            parsed.rejected.append(
                (label, messages.MATCH_FILE_LINE_INVALID.format(line=number, reason=reason))
            )
            continue
        if line.id in seen:
            parsed.notes.append(messages.MATCH_FILE_DUPLICATE.format(line=number))
            continue
        seen.add(line.id)
        parsed.lines.append(line)
    return parsed
