"""the resource library: resources (one row per version), their files, and their use

Revision ID: i18_1_resources
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "i18_1_resources"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "resource",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lineage_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", S(length=16), nullable=False),
        sa.Column("status", S(length=24), nullable=False),
        sa.Column("title", S(length=200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("audiences", sa.JSON(), nullable=False),
        sa.Column("specialties", sa.JSON(), nullable=False),
        sa.Column("author_expert_ids", sa.JSON(), nullable=False),
        sa.Column("author_names", sa.JSON(), nullable=False),
        sa.Column("center", S(length=128), nullable=False),
        sa.Column("licence", S(length=200), nullable=False),
        sa.Column("access", S(length=16), nullable=False),
        sa.Column("region_city_id", sa.Integer(), nullable=True),
        sa.Column("video_url", S(length=500), nullable=False),
        sa.Column("scale_abbreviation", S(length=32), nullable=False),
        sa.Column("scale_items", sa.Integer(), nullable=True),
        sa.Column("scale_age_range", S(length=64), nullable=False),
        sa.Column("scale_minutes", sa.Integer(), nullable=True),
        sa.Column("scale_norm_source", S(length=300), nullable=False),
        sa.Column("scale_scoring_notes", sa.Text(), nullable=False),
        sa.Column("licensed_by_service_id", sa.Integer(), nullable=True),
        sa.Column("privacy_confirmed", sa.Boolean(), nullable=False),
        sa.Column("submitted_by", sa.Integer(), nullable=True),
        sa.Column("decision_reason", S(length=1000), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("submitted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("published_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint("version >= 1", name="ck_resource_version_positive"),
        sa.ForeignKeyConstraint(["region_city_id"], ["city.id"]),
        sa.ForeignKeyConstraint(["licensed_by_service_id"], ["procured_service.id"]),
        sa.ForeignKeyConstraint(["submitted_by"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("lineage_id", "kind", "status", "submitted_by"):
        op.create_index(op.f(f"ix_resource_{column}"), "resource", [column], unique=False)
    op.create_table(
        "resource_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("sha256", S(length=64), nullable=False),
        sa.Column("filename", S(length=200), nullable=False),
        sa.Column("media_type", S(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_status", S(length=16), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["resource_id"], ["resource.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_resource_file_resource_id"), "resource_file", ["resource_id"])
    op.create_index(op.f("ix_resource_file_sha256"), "resource_file", ["sha256"])
    op.create_table(
        "resource_use",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("lineage_id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column("action", S(length=16), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["resource_id"], ["resource.id"]),
        sa.ForeignKeyConstraint(["file_id"], ["resource_file.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["district_id"], ["district.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("resource_id", "lineage_id", "district_id", "at"):
        op.create_index(op.f(f"ix_resource_use_{column}"), "resource_use", [column])


def downgrade() -> None:
    op.drop_table("resource_use")
    op.drop_table("resource_file")
    op.drop_table("resource")
