"""Closed vocabularies shared by every domain module (values as stored and exchanged)."""

from __future__ import annotations

from enum import StrEnum


class Domain(StrEnum):
    education = "education"
    medicine = "medicine"
    psychology = "psychology"
    social_work = "social_work"


class Format(StrEnum):
    online = "online"
    onsite = "onsite"


class ServiceType(StrEnum):
    supervision = "supervision"
    training = "training"
    consultation = "consultation"
    crisis_support = "crisis_support"
    assessment = "assessment"


class ExpertStatus(StrEnum):
    active = "active"
    paused = "paused"
    retired = "retired"


class Role(StrEnum):
    """Who a user is. `staff` is province staff (the value predates city centers and stays)."""

    admin = "admin"
    staff = "staff"
    city_staff = "city_staff"
    district = "district"
    expert = "expert"
    observer = "observer"


class SystemRole(StrEnum):
    """The role of a process acting by itself (the CLI, demo seeding, scheduled jobs, importers).
    Not a `Role`: no account can hold it and nobody logs in with it (see accounts/principal.py)."""

    system = "system"
