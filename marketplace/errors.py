"""Domain errors: each carries a user-facing (Chinese) message and an HTTP-like status, and may
carry a stable `code` (what went wrong, for callers to branch on) and the `field` it concerns
(for forms to show it in place). Callers branch on `code`/`field`, never on the message text."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        code: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.code = code
        self.field = field


class InvalidInput(DomainError):
    status_code = 422


class NotFound(DomainError):
    status_code = 404


class Forbidden(DomainError):
    status_code = 403


class Unauthorized(DomainError):
    status_code = 401


class Conflict(DomainError):
    status_code = 409


class Unavailable(DomainError):
    status_code = 503


class TooManyRequests(DomainError):
    status_code = 429


class PasswordChangeRequired(Forbidden):
    """The user logged in with a temporary password and must set their own first."""
