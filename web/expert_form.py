"""Form adapter of an expert's profile (the expert's own page and the staff pool console):
the record as form text and back; the rules stay in marketplace.experts.models."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Form
from sqlmodel import Session

from marketplace.districts.service import list_districts
from marketplace.experts.models import ExpertPublic
from marketplace.vocabulary import Domain, Format, ServiceType

TEXT_FIELDS = ("name", "title", "organization", "bio")
LIST_FIELDS = ("specialties", "certifications", "languages")
NUMBER_FIELDS = ("years_experience", "monthly_capacity_hours")
CHOICE_FIELDS = ("formats", "service_types")
MAX_FIELD_CHARS = 10_000
_LIST_SEPARATORS = re.compile(r"[\n\r,，、;；]+")


def split_list(text: str) -> list[str]:
    return [part.strip() for part in _LIST_SEPARATORS.split(text) if part.strip()]


def form_from_expert(expert: ExpertPublic) -> dict[str, Any]:
    region = expert.region
    return {
        **{name: getattr(expert, name) for name in TEXT_FIELDS},
        **{name: "\n".join(getattr(expert, name)) for name in LIST_FIELDS},
        **{name: str(getattr(expert, name)) for name in NUMBER_FIELDS},
        "formats": [f.value for f in expert.formats],
        "service_types": [s.value for s in expert.service_types],
        "region": f"{region.province}|{region.city}|{region.district}",
        "domain": expert.domain.value,
    }


def blank_form() -> dict[str, Any]:
    """A new expert's form: empty text, 普通话, no choices."""
    form: dict[str, Any] = dict.fromkeys(TEXT_FIELDS + LIST_FIELDS + NUMBER_FIELDS, "")
    form.update(languages="普通话", formats=[], service_types=[], region="", domain="", id="")
    return form


def submitted_form(texts: dict[str, str], formats: list[str], service_types: list[str]) -> dict:
    """The submitted fields, cut to bounded lengths (validation then reports what is too long)."""
    form: dict[str, Any] = {field: value[:MAX_FIELD_CHARS] for field, value in texts.items()}
    form["formats"] = [v[:32] for v in formats][:10]
    form["service_types"] = [v[:32] for v in service_types][:10]
    return form


def changes_from_form(form: dict[str, Any]) -> dict[str, Any]:
    """The submitted form as ExpertUpdate/ExpertCreate input (lists split, region parsed)."""
    data: dict[str, Any] = {name: form[name] for name in TEXT_FIELDS + NUMBER_FIELDS}
    data.update({name: split_list(form[name]) for name in LIST_FIELDS})
    data.update({name: form[name] for name in CHOICE_FIELDS})
    parts = form["region"].split("|")
    data["region"] = (
        {"province": parts[0], "city": parts[1], "district": parts[2]} if len(parts) == 3 else None
    )
    return data


# Form fields are read as plain text (no FastAPI limits) so that every problem is reported next
# to its field by the page, instead of as a whole-page 422; submitted_form bounds them.
FormText = Annotated[str, Form()]
FormChoices = Annotated[list[str] | None, Form()]


@dataclass(frozen=True)
class PostedProfile:
    """The profile fields both expert forms post (the pool's adds the id and the domain)."""

    texts: dict[str, str]
    formats: list[str]
    service_types: list[str]
    region: str


def posted_profile(  # noqa: PLR0913 - one parameter per form field
    name: FormText = "",
    title: FormText = "",
    organization: FormText = "",
    bio: FormText = "",
    specialties: FormText = "",
    certifications: FormText = "",
    languages: FormText = "",
    years_experience: FormText = "",
    monthly_capacity_hours: FormText = "",
    region: FormText = "",
    formats: FormChoices = None,
    service_types: FormChoices = None,
) -> PostedProfile:
    """The posted profile form, as a dependency of the pages that save one."""
    texts = {
        "name": name,
        "title": title,
        "organization": organization,
        "bio": bio,
        "specialties": specialties,
        "certifications": certifications,
        "languages": languages,
        "years_experience": years_experience,
        "monthly_capacity_hours": monthly_capacity_hours,
    }
    return PostedProfile(texts, formats or [], service_types or [], region)


def form_choices(session: Session) -> dict[str, Any]:
    """The form's pickers: districts, domains, formats and service types."""
    return {
        "regions": [
            (f"{d.province}|{d.city}|{d.district}", f"{d.city} · {d.district}")
            for d in list_districts(session=session)
        ],
        "domain_choices": [d.value for d in Domain],
        "format_choices": [f.value for f in Format],
        "service_type_choices": [s.value for s in ServiceType],
    }
