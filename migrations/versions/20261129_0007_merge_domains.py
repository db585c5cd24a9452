"""Join the domain branches (booking, services, matching, login sessions) into one head.

The domains were built in parallel, each on its own branch from the baseline; from here on
new revisions follow this single head.

Revision ID: 0007
Revises: 0002, 0003, 0004, 0006_login_sessions
Create Date: 2026-11-29
"""

from collections.abc import Sequence

revision: str = "0007"
down_revision: str | Sequence[str] | None = ("0002", "0003", "0004", "0006_login_sessions")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
