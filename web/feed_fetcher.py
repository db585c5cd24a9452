"""The busy-calendar feed fetcher of a request: the deployment's SSRF-safe fetcher (with the
allowed internal hosts of HEART_CALENDAR_ALLOWED_HOSTS), or the one a test put on the app."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from booking.fetching import fetcher_for


def feed_fetcher(request: Request) -> Callable[[str], bytes]:
    override = getattr(request.app.state, "ics_fetcher", None)
    return override or fetcher_for(request.app.state.settings)
