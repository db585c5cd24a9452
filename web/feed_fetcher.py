"""The busy-calendar feed fetcher of this deployment: SSRF-safe, with the allowed internal
hosts from HEART_CALENDAR_ALLOWED_HOSTS (tests may put their own on `app.state.ics_fetcher`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from fastapi import Request

from booking.fetching import allowed_hosts, fetch_ics
from marketplace.settings import Settings


def fetcher_for(settings: Settings) -> Callable[[str], bytes]:
    return partial(fetch_ics, allowed=allowed_hosts(settings.calendar_allowed_hosts))


def feed_fetcher(request: Request) -> Callable[[str], bytes]:
    override = getattr(request.app.state, "ics_fetcher", None)
    return override or fetcher_for(request.app.state.settings)
