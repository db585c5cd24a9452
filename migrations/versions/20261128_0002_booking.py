"""booking: availability, busy calendars, sessions, trainings, ratings, feeds, notifications

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 23:30:00

No double booking is enforced by the database itself: on PostgreSQL an exclusion constraint
(btree_gist) over expert and time range for live sessions, on SQLite triggers that refuse an
overlapping live session (SQLite has a single writer, so the check sees every commit).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "('requested', 'confirmed')"

PG_EXCLUSION = f"""
ALTER TABLE booking_session ADD CONSTRAINT booking_session_no_overlap
EXCLUDE USING gist (expert_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&)
WHERE (status IN {LIVE})
"""

SQLITE_OVERLAP = """
CREATE TRIGGER booking_session_no_overlap_{event}
BEFORE {event_sql} ON booking_session
WHEN NEW.status IN {live}
BEGIN
    SELECT RAISE(ABORT, 'booking_overlap: booking_session_no_overlap')
    WHERE EXISTS (
        SELECT 1 FROM booking_session AS other
        WHERE other.expert_id = NEW.expert_id
          AND other.id IS NOT NEW.id
          AND other.status IN {live}
          AND other.start_at < NEW.end_at
          AND other.end_at > NEW.start_at
    );
END
"""


def upgrade() -> None:
    op.create_table(
        "calendar_feed_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_type", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(
        op.f("ix_calendar_feed_token_owner_id"), "calendar_feed_token", ["owner_id"], unique=False
    )
    op.create_table(
        "availability_exception",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("start_minute", sa.Integer(), nullable=True),
        sa.Column("end_minute", sa.Integer(), nullable=True),
        sa.Column("start_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("end_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(["expert_id"], ["expert.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_availability_exception_expert_id"),
        "availability_exception",
        ["expert_id"],
        unique=False,
    )
    op.create_table(
        "availability_profile",
        sa.Column("expert_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("buffer_before_minutes", sa.Integer(), nullable=False),
        sa.Column("buffer_after_minutes", sa.Integer(), nullable=False),
        sa.Column("min_notice_minutes", sa.Integer(), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("daily_limit_hours", sa.Float(), nullable=True),
        sa.Column("monthly_limit_hours", sa.Float(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["expert_id"], ["expert.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("expert_id"),
    )
    op.create_table(
        "availability_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["expert_id"], ["expert.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_availability_rule_expert_id"), "availability_rule", ["expert_id"], unique=False
    )
    op.create_table(
        "booking_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("expert_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("format", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("start_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("end_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("decline_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("cancel_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("cancelled_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("escalated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("charged", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["district.id"],
        ),
        sa.ForeignKeyConstraint(
            ["expert_id"],
            ["expert.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uid"),
    )
    op.create_index(
        op.f("ix_booking_session_district_id"), "booking_session", ["district_id"], unique=False
    )
    op.create_index(
        op.f("ix_booking_session_expert_id"), "booking_session", ["expert_id"], unique=False
    )
    op.create_index(
        op.f("ix_booking_session_request_id"), "booking_session", ["request_id"], unique=False
    )
    op.create_index(
        op.f("ix_booking_session_start_at"), "booking_session", ["start_at"], unique=False
    )
    op.create_index(op.f("ix_booking_session_status"), "booking_session", ["status"], unique=False)
    op.create_table(
        "busy_calendar",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("synced_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(["expert_id"], ["expert.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_busy_calendar_expert_id"), "busy_calendar", ["expert_id"], unique=False
    )
    op.create_table(
        "booking_notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("ics", sa.Text(), nullable=True),
        sa.Column("ics_method", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("dedupe_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("claimed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["booking_session.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index(
        op.f("ix_booking_notification_booking_id"),
        "booking_notification",
        ["booking_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_booking_notification_claimed_at"),
        "booking_notification",
        ["claimed_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_booking_notification_sent_at"), "booking_notification", ["sent_at"], unique=False
    )
    op.create_table(
        "booking_rating",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("feedback", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["booking_id"], ["booking_session.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["district.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("booking_id"),
    )
    op.create_index(
        op.f("ix_booking_rating_district_id"), "booking_rating", ["district_id"], unique=False
    )
    op.create_table(
        "busy_time",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("calendar_id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("start_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("end_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["calendar_id"], ["busy_calendar.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_busy_time_calendar_id"), "busy_time", ["calendar_id"], unique=False)
    op.create_index(op.f("ix_busy_time_expert_id"), "busy_time", ["expert_id"], unique=False)
    op.create_table(
        "training_registration",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.Column("school", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["booking_id"], ["booking_session.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["district.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_training_registration_booking_id"),
        "training_registration",
        ["booking_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_training_registration_district_id"),
        "training_registration",
        ["district_id"],
        unique=False,
    )

    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(PG_EXCLUSION)
    elif dialect == "sqlite":
        for event, event_sql in (
            ("insert", "INSERT"),
            ("update", "UPDATE OF start_at, end_at, status, expert_id"),
        ):
            op.execute(SQLITE_OVERLAP.format(event=event, event_sql=event_sql, live=LIVE))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS booking_session_no_overlap_insert")
        op.execute("DROP TRIGGER IF EXISTS booking_session_no_overlap_update")
    op.drop_index(op.f("ix_training_registration_booking_id"), table_name="training_registration")
    op.drop_index(op.f("ix_training_registration_district_id"), table_name="training_registration")
    op.drop_table("training_registration")
    op.drop_index(op.f("ix_busy_time_calendar_id"), table_name="busy_time")
    op.drop_index(op.f("ix_busy_time_expert_id"), table_name="busy_time")
    op.drop_table("busy_time")
    op.drop_index(op.f("ix_booking_rating_district_id"), table_name="booking_rating")
    op.drop_table("booking_rating")
    op.drop_index(op.f("ix_booking_notification_booking_id"), table_name="booking_notification")
    op.drop_index(op.f("ix_booking_notification_claimed_at"), table_name="booking_notification")
    op.drop_index(op.f("ix_booking_notification_sent_at"), table_name="booking_notification")
    op.drop_table("booking_notification")
    op.drop_index(op.f("ix_busy_calendar_expert_id"), table_name="busy_calendar")
    op.drop_table("busy_calendar")
    op.drop_index(op.f("ix_booking_session_district_id"), table_name="booking_session")
    op.drop_index(op.f("ix_booking_session_expert_id"), table_name="booking_session")
    op.drop_index(op.f("ix_booking_session_request_id"), table_name="booking_session")
    op.drop_index(op.f("ix_booking_session_start_at"), table_name="booking_session")
    op.drop_index(op.f("ix_booking_session_status"), table_name="booking_session")
    op.drop_table("booking_session")
    op.drop_index(op.f("ix_availability_rule_expert_id"), table_name="availability_rule")
    op.drop_table("availability_rule")
    op.drop_table("availability_profile")
    op.drop_index(op.f("ix_availability_exception_expert_id"), table_name="availability_exception")
    op.drop_table("availability_exception")
    op.drop_index(op.f("ix_calendar_feed_token_owner_id"), table_name="calendar_feed_token")
    op.drop_table("calendar_feed_token")
