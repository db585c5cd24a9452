"""an expert's reschedule is a proposal the district accepts or declines

The proposed time is kept beside the session's current time, which stays held until the
district decides.

Revision ID: i16_2_reschedule_proposals
Revises: i16_1_calendar_sources
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "i16_2_reschedule_proposals"
down_revision: str | Sequence[str] | None = "i16_1_calendar_sources"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("booking_session", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("proposed_start_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("proposed_end_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("booking_session", schema=None) as batch_op:
        batch_op.drop_column("proposed_end_at")
        batch_op.drop_column("proposed_start_at")
