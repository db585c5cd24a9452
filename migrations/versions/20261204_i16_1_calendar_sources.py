"""busy calendars keep their source; the slot grid step joins the availability policy

A busy calendar stores the .ics it was read from and the window its busy times were expanded
for, so later windows are expanded on demand (a weekly series keeps blocking for as long as it
recurs); `notes` lists events skipped one by one. `slot_step_minutes` (15, 30 or 60) is the
grid that booking starts must lie on.

Revision ID: i16_1_calendar_sources
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "i16_1_calendar_sources"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("busy_calendar", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_ics", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("expanded_from", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("expanded_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True)
        )
    with op.batch_alter_table("availability_profile", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("slot_step_minutes", sa.Integer(), nullable=False, server_default="30")
        )


def downgrade() -> None:
    with op.batch_alter_table("availability_profile", schema=None) as batch_op:
        batch_op.drop_column("slot_step_minutes")
    with op.batch_alter_table("busy_calendar", schema=None) as batch_op:
        batch_op.drop_column("notes")
        batch_op.drop_column("expanded_until")
        batch_op.drop_column("expanded_from")
        batch_op.drop_column("source_ics")
