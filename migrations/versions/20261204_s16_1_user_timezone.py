"""each account reads times in its own time zone (IANA name, Beijing time by default)

Revision ID: s16_1_user_timezone
Revises: i16_2_reschedule_proposals
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "s16_1_user_timezone"
down_revision: str | Sequence[str] | None = "i16_2_reschedule_proposals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "timezone",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default="Asia/Shanghai",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("timezone")
