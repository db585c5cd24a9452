"""Reading untrusted calendars in a worker process that is killed when it overruns its budget.

Recurrence expansion is CPU-bound library code that cannot be interrupted from a thread: a
rule that rarely or never occurs makes it walk millions of candidate days. Each read therefore
runs in a child process (`python -m booking.sandbox`) with a hard CPU limit and a wall-clock
deadline; the caller's thread only waits for it, and the event loop never runs the parse.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from booking.ical import BusyRead, IcsRejected, read_busy

CPU_SECONDS = 2
WALL_SECONDS = 5.0
MEMORY_BYTES = 1024 * 1024 * 1024
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
# Exit codes of a child stopped by its limits (CPU time, or killed).
_OVER_BUDGET = {-signal.SIGXCPU, -signal.SIGKILL}


def read_busy_bounded(
    data: bytes,
    *,
    start: datetime,
    end: datetime,
    timezone: str = "Asia/Shanghai",
    owner_addresses: frozenset[str] = frozenset(),
    cpu_seconds: int = CPU_SECONDS,
    wall_seconds: float = WALL_SECONDS,
) -> BusyRead:
    """`ical.read_busy` in a killable worker; IcsRejected("too_complex") when over budget."""
    request = {
        "data": base64.b64encode(data).decode("ascii"),
        "start": start.isoformat(),
        "end": end.isoformat(),
        "timezone": timezone,
        "owners": sorted(owner_addresses),
        "cpu": cpu_seconds,
    }
    # The child finds this package wherever the parent found it (an editable install, a test
    # run's PYTHONPATH or a plain checkout).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([_PACKAGE_ROOT, *sys.path])}
    try:
        done = subprocess.run(  # noqa: S603  (our own interpreter and module, no shell)
            [sys.executable, "-m", "booking.sandbox"],
            input=json.dumps(request).encode("utf-8"),
            capture_output=True,
            timeout=wall_seconds,
            check=False,
            env=env,
        )
    except subprocess.TimeoutExpired:  # run() has killed the child
        raise IcsRejected("too_complex", f"> {wall_seconds:g} s") from None
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        if done.returncode in _OVER_BUDGET:  # killed by its CPU or memory limit
            raise IcsRejected("too_complex", f"exit {done.returncode}") from None
        # Anything else is the sandbox itself failing, not the file: a server error.
        raise RuntimeError(
            f"calendar sandbox failed ({done.returncode}): {done.stderr[-500:]!r}"
        ) from None
    if answer["status"] != "ok":
        raise IcsRejected(answer["reason"], answer["detail"])
    intervals = [(datetime.fromisoformat(s), datetime.fromisoformat(e)) for s, e in answer["busy"]]
    return BusyRead(intervals, list(answer["skipped"]))


def _serve() -> None:
    request = json.loads(sys.stdin.buffer.read())
    try:
        import resource

        cpu = int(request["cpu"])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    except (ImportError, ValueError, OSError):  # pragma: no cover (no rlimits: the wall clock)
        pass
    try:
        read = read_busy(
            base64.b64decode(request["data"]),
            start=datetime.fromisoformat(request["start"]),
            end=datetime.fromisoformat(request["end"]),
            timezone=request["timezone"],
            owner_addresses=frozenset(request["owners"]),
        )
        answer: dict = {
            "status": "ok",
            "busy": [(s.isoformat(), e.isoformat()) for s, e in read.intervals],
            "skipped": read.skipped,
        }
    except IcsRejected as rejected:
        answer = {"status": "rejected", "reason": rejected.reason, "detail": rejected.detail}
    except Exception as exc:  # noqa: BLE001  (anything else in the parser is a bad file)
        answer = {"status": "rejected", "reason": "malformed", "detail": type(exc).__name__}
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    _serve()
