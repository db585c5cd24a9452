"""Who acts: the acting principal of every service call, and the audit actor derived from it.

People act as their `User`. A process acting by itself (the CLI, demo seeding, scheduled jobs,
importers) acts as a *system principal*: a `User` that is never stored, holds the role
`system` (its scopes are the `SystemRole.system` entries of `permissions.POLICY`) and carries
the label the audit log names it by ("cli", "demo", "scheduler"…). Storing such a user is
refused (see `_refuse_stored_system_user`), and a stored row claiming the role is no principal
at all (`permissions.scope_of` gives it no scope, login refuses it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.audit.service import Actor
from marketplace.errors import InvalidInput
from marketplace.vocabulary import SystemRole

# A password hash nothing verifies against (Argon2 hashes start with "$argon2").
_NO_PASSWORD = "!system"  # noqa: S105 - not a password: a hash nothing matches


def system_principal(label: str) -> User:
    """The principal of a process acting by itself; `label` names it in the audit log."""
    return User(
        username=label,
        display_name=label,
        password_hash=_NO_PASSWORD,
        role=SystemRole.system.value,
        is_active=True,
    )


def actor_for(user: User) -> Actor:
    """The audit log's actor for `user`: a person by username and id, a process by its label."""
    return Actor(label=user.username, user_id=user.id)


@event.listens_for(User, "before_insert")
@event.listens_for(User, "before_update")
def _refuse_stored_system_user(_mapper: Any, _connection: Any, target: User) -> None:
    """No account may hold the system role, whichever path tries to write one."""
    if target.role == SystemRole.system.value:
        raise InvalidInput(messages.SYSTEM_ROLE_NOT_AN_ACCOUNT, code="system_role", field="role")
