"""Every table of the hub, imported once so that SQLModel.metadata is complete (Alembic, tests).

It lives beside Alembic, above every layer: a new table module is imported here, never from
`marketplace` (which must not import `booking` or `matching`)."""

from sqlmodel import SQLModel

from booking.busy.models import BusyCalendar, BusyTime
from booking.feeds.models import CalendarFeedToken
from booking.notifications.models import BookingNotification
from booking.schedule.models import AvailabilityException, AvailabilityProfile, AvailabilityRule
from booking.sessions.models import Booking, BookingRating
from booking.time_requests.models import TimeRequest
from booking.trainings.models import TrainingRegistration
from marketplace.accounts.models import User
from marketplace.allocation.models import LedgerEntry
from marketplace.applications.models import ServiceApplication
from marketplace.audit.models import AuditEntry
from marketplace.centers.models import CenterExpert, ResourceCenter
from marketplace.districts.models import City, District, Province, Zone, ZoneExpert
from marketplace.experts.models import Expert, ExpertSpecialty
from marketplace.jobs.models import JobRun, JobState, SchedulerLease
from marketplace.login_sessions.models import LoginFailure, LoginSession
from marketplace.notifications.models import Notification
from marketplace.organizations.models import Organization
from marketplace.outbox.models import IndexOutbox
from marketplace.requests.models import DistrictRequest
from marketplace.resources.models import Resource, ResourceFile, ResourceUse
from marketplace.services.models import ProcuredService
from marketplace.specialties.models import Specialty
from matching.models import MatchPair, MatchRun

metadata = SQLModel.metadata

__all__ = [
    "AvailabilityException",
    "AvailabilityProfile",
    "AvailabilityRule",
    "Booking",
    "CenterExpert",
    "BookingNotification",
    "BookingRating",
    "BusyCalendar",
    "BusyTime",
    "CalendarFeedToken",
    "TimeRequest",
    "TrainingRegistration",
    "AuditEntry",
    "City",
    "District",
    "DistrictRequest",
    "Expert",
    "ExpertSpecialty",
    "IndexOutbox",
    "JobRun",
    "JobState",
    "LedgerEntry",
    "LoginFailure",
    "LoginSession",
    "MatchPair",
    "MatchRun",
    "Notification",
    "Organization",
    "ProcuredService",
    "ResourceCenter",
    "SchedulerLease",
    "Province",
    "Resource",
    "ResourceFile",
    "ResourceUse",
    "ServiceApplication",
    "Specialty",
    "User",
    "Zone",
    "ZoneExpert",
    "metadata",
]
