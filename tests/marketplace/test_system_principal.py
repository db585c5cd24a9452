"""The system principal: the CLI, demo seeding, scheduled jobs and importers act as a never
stored principal whose scopes are the policy's `system` entries; no account can hold that role,
nobody logs in with it (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlmodel import select

from marketplace.accounts.models import User
from marketplace.accounts.permissions import POLICY, Action, Scope, scope_of
from marketplace.accounts.principal import actor_for, system_principal
from marketplace.audit.models import AuditEntry
from marketplace.errors import InvalidInput
from marketplace.experts.importing import import_experts
from marketplace.vocabulary import Role, SystemRole
from tests.conftest import TEST_PASSWORD, auth_headers, expert_record, make_user


def test_the_system_principal_acts_everywhere_for_its_actions_and_nowhere_else():
    cli = system_principal("cli")
    assert scope_of(cli, Action.expert_manage) is Scope.all
    assert scope_of(cli, Action.match_run) is Scope.all
    # What no process needs stays refused: reading the audit log, one's own account.
    assert scope_of(cli, Action.audit_read) is None
    assert scope_of(cli, Action.account) is None


def test_its_audit_actor_is_its_label_without_an_account():
    actor = actor_for(system_principal("job:escalate"))
    assert (actor.label, actor.user_id) == ("job:escalate", None)


def test_the_system_role_is_no_role_a_person_can_hold():
    assert SystemRole.system.value not in {role.value for role in Role}
    assert all(
        isinstance(role, Role) for row in POLICY.values() for role in row if role != "system"
    )


def test_storing_a_system_principal_is_refused(session):
    session.add(system_principal("cli"))
    with pytest.raises(InvalidInput) as refused:
        session.flush()
    assert refused.value.code == "system_role"
    session.rollback()


def test_changing_an_account_to_the_system_role_is_refused(session):
    user = make_user(session, Role.staff)
    user.role = SystemRole.system.value
    session.add(user)
    with pytest.raises(InvalidInput):
        session.flush()
    session.rollback()


@pytest.mark.parametrize("path", ["/api/users"])
def test_no_api_creates_a_system_account(client, session, settings, path):
    admin = make_user(session, Role.admin)
    response = client.post(
        path,
        json={"username": "robot", "password": TEST_PASSWORD, "role": "system"},
        headers=auth_headers(admin, settings),
    )
    assert response.status_code == 422
    assert session.exec(select(User).where(User.username == "robot")).first() is None


def test_a_stored_row_claiming_the_system_role_can_neither_log_in_nor_act(client, session):
    user = make_user(session, Role.staff, username="sneaky")
    # Written behind the model's back (as a hand-edited database would).
    session.execute(text("UPDATE user_account SET role = 'system' WHERE id = :id"), {"id": user.id})
    session.commit()
    session.refresh(user)
    assert scope_of(user, Action.expert_manage) is None
    response = client.post(
        "/api/auth/token", data={"username": "sneaky", "password": TEST_PASSWORD}
    )
    assert response.status_code == 401


def test_cli_import_is_recorded_under_the_cli_label(session):
    report = import_experts(
        session=session,
        lines=[json.dumps(expert_record(id="SYS001"), ensure_ascii=False)],
        user=system_principal("cli"),
    )
    assert report.created == 1
    entry = session.exec(select(AuditEntry).where(AuditEntry.entity_id == "SYS001")).first()
    assert entry is not None and (entry.actor, entry.actor_id) == ("cli", None)
