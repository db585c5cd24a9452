"""procured services, district applications and the allocation ledger

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-28 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "procured_service",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("vendor", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("quantity_hundredths", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("eligible_district_ids", sa.JSON(), nullable=False),
        sa.Column("eligible_zone_ids", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint("quantity_hundredths > 0", name="ck_procured_service_quantity_positive"),
        sa.CheckConstraint("valid_from <= valid_to", name="ck_procured_service_validity_ordered"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("procured_service", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_procured_service_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_procured_service_name"), ["name"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_procured_service_valid_to"), ["valid_to"], unique=False
        )

    op.create_table(
        "service_application",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.Column("quantity_hundredths", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("target_schools", sa.JSON(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("approved_hundredths", sa.Integer(), nullable=True),
        sa.Column("rejection_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("submitted_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "approved_hundredths IS NULL OR approved_hundredths > 0",
            name="ck_service_application_approved_positive",
        ),
        sa.CheckConstraint(
            "quantity_hundredths > 0", name="ck_service_application_quantity_positive"
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["district.id"],
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["procured_service.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("service_application", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_application_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_service_application_district_id"), ["district_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_service_application_service_id"), ["service_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_service_application_status"), ["status"], unique=False)

    op.create_table(
        "allocation_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("hundredths", sa.Integer(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.CheckConstraint("hundredths > 0", name="ck_allocation_ledger_positive"),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["service_application.id"],
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["district.id"],
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["procured_service.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("allocation_ledger", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_allocation_ledger_application_id"), ["application_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_allocation_ledger_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_allocation_ledger_district_id"), ["district_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_allocation_ledger_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_allocation_ledger_reference"), ["reference"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_allocation_ledger_service_id"), ["service_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("allocation_ledger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocation_ledger_service_id"))
        batch_op.drop_index(batch_op.f("ix_allocation_ledger_reference"))
        batch_op.drop_index(batch_op.f("ix_allocation_ledger_kind"))
        batch_op.drop_index(batch_op.f("ix_allocation_ledger_district_id"))
        batch_op.drop_index(batch_op.f("ix_allocation_ledger_at"))
        batch_op.drop_index(batch_op.f("ix_allocation_ledger_application_id"))

    op.drop_table("allocation_ledger")
    with op.batch_alter_table("service_application", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_application_status"))
        batch_op.drop_index(batch_op.f("ix_service_application_service_id"))
        batch_op.drop_index(batch_op.f("ix_service_application_district_id"))
        batch_op.drop_index(batch_op.f("ix_service_application_created_at"))

    op.drop_table("service_application")
    with op.batch_alter_table("procured_service", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_procured_service_valid_to"))
        batch_op.drop_index(batch_op.f("ix_procured_service_name"))
        batch_op.drop_index(batch_op.f("ix_procured_service_kind"))

    op.drop_table("procured_service")
