"""scheduled jobs: job state, one run per job and period, the scheduler lease

Revision ID: i19_1_jobs
Revises: 0007
Create Date: 2026-12-04 17:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "i19_1_jobs"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

String = sqlmodel.sql.sqltypes.AutoString
UTC = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "job_state",
        sa.Column("name", String(length=64), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("last_started_at", UTC(), nullable=True),
        sa.Column("last_finished_at", UTC(), nullable=True),
        sa.Column("last_success_at", UTC(), nullable=True),
        sa.Column("last_error_at", UTC(), nullable=True),
        sa.Column("last_error", String(length=1000), nullable=True),
        sa.Column("last_summary", String(length=500), nullable=True),
        sa.Column("last_duration_ms", sa.Integer(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("next_run_at", UTC(), nullable=True),
        sa.Column("run_requested_at", UTC(), nullable=True),
        sa.Column("run_requested_by", String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "job_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", String(length=64), nullable=False),
        sa.Column("period_start", UTC(), nullable=False),
        sa.Column("trigger", String(length=16), nullable=False),
        sa.Column("holder", String(length=128), nullable=False),
        sa.Column("status", String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", UTC(), nullable=False),
        sa.Column("finished_at", UTC(), nullable=True),
        sa.Column("retry_at", UTC(), nullable=True),
        sa.Column("error", String(length=1000), nullable=True),
        sa.Column("summary", String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job", "period_start", name="uq_job_run_period"),
    )
    with op.batch_alter_table("job_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_run_job"), ["job"], unique=False)
    op.create_table(
        "scheduler_lease",
        sa.Column("name", String(length=32), nullable=False),
        sa.Column("holder", String(length=128), nullable=False),
        sa.Column("acquired_at", UTC(), nullable=True),
        sa.Column("expires_at", UTC(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("scheduler_lease")
    with op.batch_alter_table("job_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_run_job"))
    op.drop_table("job_run")
    op.drop_table("job_state")
