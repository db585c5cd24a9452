"""Login rate limiting: failed attempts per (username, client address) in a sliding window.

In-memory and per process, on purpose: it needs no table and no extra service, and it slows
password guessing against one account from one address, which is what the issue asks for.
Its limits: every worker process counts on its own (N workers allow N times the attempts),
and a restart forgets the counts. Behind a reverse proxy, run uvicorn with --proxy-headers so
that the client address is the user's, not the proxy's.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

# Beyond this many tracked keys the oldest are dropped, so a flood of made-up usernames
# cannot grow memory without bound.
MAX_KEYS = 10_000


class LoginLimiter:
    """Allows at most `max_failures` failed logins per key within `window_seconds`."""

    def __init__(
        self,
        *,
        max_failures: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(username: str, address: str) -> tuple[str, str]:
        return (username.strip().lower()[:64], address)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        stamps = self._failures.get(key)
        if stamps is None:
            return deque()
        while stamps and now - stamps[0] >= self.window:
            stamps.popleft()
        if not stamps:
            del self._failures[key]
        return stamps

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until a login may be tried again; 0 when it may be tried now."""
        key = self.key(username, address)
        with self._lock:
            now = self._clock()
            stamps = self._recent(key, now)
            if len(stamps) < self.max_failures:
                return 0.0
            return max(0.0, self.window - (now - stamps[0]))

    def failed(self, username: str, address: str) -> None:
        """Count one failed attempt."""
        key = self.key(username, address)
        with self._lock:
            now = self._clock()
            stamps = self._recent(key, now)
            if key not in self._failures:
                if len(self._failures) >= MAX_KEYS:
                    self._failures.pop(next(iter(self._failures)))
                self._failures[key] = stamps
            stamps.append(now)

    def succeeded(self, username: str, address: str) -> None:
        """Forget the failures of a key after a successful login."""
        with self._lock:
            self._failures.pop(self.key(username, address), None)
