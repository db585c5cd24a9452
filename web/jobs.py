"""Every scheduled job of the hub, collected from the packages that own them."""

from __future__ import annotations

from collections.abc import Callable

from booking.jobs import booking_jobs
from marketplace.jobs.domain import marketplace_jobs
from marketplace.jobs.service import JobSpec
from search.jobs import search_jobs
from search.service import SearchService


def all_jobs(search: Callable[[], SearchService]) -> list[JobSpec]:
    """The job list `heart serve` and `heart worker` schedule (search: the process's service)."""
    return [*booking_jobs(), *search_jobs(search), *marketplace_jobs()]
