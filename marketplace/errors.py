"""Domain errors: each carries a user-facing (Chinese) message and an HTTP-like status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


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
