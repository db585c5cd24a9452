"""district requests and matching proposals

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-28 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "district_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.Column("service_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("format", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("hours", sa.Integer(), nullable=False),
        sa.Column("experts_needed", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.Date(), nullable=False),
        sa.Column("window_end", sa.Date(), nullable=False),
        sa.Column("urgency", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("excluded_expert_ids", sa.JSON(), nullable=False),
        sa.Column("min_years_experience", sa.Integer(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["district_id"], ["district.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("external_id"),
    )
    op.create_index("ix_district_request_district_id", "district_request", ["district_id"])
    op.create_index("ix_district_request_status", "district_request", ["status"])

    op.create_table(
        "match_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("request_ids", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("unassigned", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_match_run_status", "match_run", ["status"])

    op.create_table(
        "match_pair",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("hours", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["expert_id"], ["expert.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["district_request.id"]),
        sa.ForeignKeyConstraint(["run_id"], ["match_run.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "request_id", "expert_id"),
    )
    op.create_index("ix_match_pair_expert_id", "match_pair", ["expert_id"])
    op.create_index("ix_match_pair_request_id", "match_pair", ["request_id"])
    op.create_index("ix_match_pair_run_id", "match_pair", ["run_id"])
    op.create_index("ix_match_pair_status", "match_pair", ["status"])


def downgrade() -> None:
    op.drop_table("match_pair")
    op.drop_table("match_run")
    op.drop_table("district_request")
