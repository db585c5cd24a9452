"""requests for a time (提交预约意向): a district asks an expert for a session in a window

Revision ID: s12_1_time_requests
Revises: i16_2_reschedule_proposals
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "s12_1_time_requests"
down_revision: str | Sequence[str] | None = "i16_2_reschedule_proposals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "booking_time_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("format", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("earliest_day", sa.Date(), nullable=False),
        sa.Column("latest_day", sa.Date(), nullable=False),
        sa.Column("day_part", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=True),
        sa.Column("decline_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("answered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["booking_id"], ["booking_session.id"]),
        sa.ForeignKeyConstraint(["district_id"], ["district.id"]),
        sa.ForeignKeyConstraint(["expert_id"], ["expert.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("booking_time_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_booking_time_request_expert_id"), ["expert_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_booking_time_request_district_id"), ["district_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_booking_time_request_request_id"), ["request_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_booking_time_request_status"), ["status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("booking_time_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_booking_time_request_status"))
        batch_op.drop_index(batch_op.f("ix_booking_time_request_request_id"))
        batch_op.drop_index(batch_op.f("ix_booking_time_request_district_id"))
        batch_op.drop_index(batch_op.f("ix_booking_time_request_expert_id"))
    op.drop_table("booking_time_request")
