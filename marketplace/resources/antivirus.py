"""The optional antivirus hook: every uploaded file is piped to a scanner command before it is
stored (e.g. `clamdscan --no-summary -`), with a time limit, outside any write lock.

Exit status as clamscan/clamdscan: 0 clean, 1 infected (the scanner's line names the finding);
anything else, a timeout or a scanner that cannot be started is a failure, and the upload is
refused (fail closed): an unscanned file is never stored while a scanner is configured.
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass

from marketplace import messages
from marketplace.errors import InvalidInput

SCAN_SECONDS = 30.0


@dataclass(frozen=True)
class Antivirus:
    command: str  # a command line reading the file on standard input
    seconds: float = SCAN_SECONDS

    def check(self, data: bytes) -> None:
        """Refuse `data` when the scanner finds something or cannot give a verdict."""
        try:
            done = subprocess.run(  # noqa: S603 - the operator's configured command, no shell
                shlex.split(self.command),
                input=data,
                capture_output=True,
                timeout=self.seconds,
                check=False,
            )
        except (subprocess.TimeoutExpired, OSError, ValueError):
            raise _failed() from None
        if done.returncode == 0:
            return
        if done.returncode == 1:
            raise InvalidInput(
                messages.RESOURCE_FILE_INFECTED.format(name=_finding(done.stdout)),
                details={"code": "infected", "field": "file"},
            )
        raise _failed()


def _failed() -> InvalidInput:
    return InvalidInput(
        messages.RESOURCE_SCAN_FAILED, details={"code": "scan_failed", "field": "file"}
    )


def _finding(output: bytes) -> str:
    """The signature name of a clamd-style line (`stream: Eicar-Signature FOUND`)."""
    for line in output.decode("utf-8", "replace").splitlines():
        if line.rstrip().endswith("FOUND"):
            return line.rsplit(":", 1)[-1].removesuffix("FOUND").strip()[:80] or "病毒"
    return "病毒"


def antivirus_from(command: str, seconds: float) -> Antivirus | None:
    """The configured scanner, or None when no command is set (no scan)."""
    return Antivirus(command.strip(), seconds) if command.strip() else None
