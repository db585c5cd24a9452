"""the resource library: "a center's region" access follows the publishing center; who published
each version and why it changed

Existing rows open to "a city" (region_city_id) are published by that city's center, whose
region is the same districts; rows without a center get the province center (what a new
submission gets). Published rows whose index access changes are queued for the search index.

Revision ID: s18_1_resource_region
Revises: i18_2_resource_center
Create Date: 2026-12-04
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "s18_1_resource_region"
down_revision: str | Sequence[str] | None = "i18_2_resource_center"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("change_reason", sa.String(length=1000), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("published_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_resource_published_by_user_account", "user_account", ["published_by"], ["id"]
        )
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "UPDATE resource SET center_id = (SELECT c.id FROM resource_center c "
            "WHERE c.city_id = resource.region_city_id) "
            "WHERE access = 'region' AND region_city_id IS NOT NULL"
        )
    )
    bind.execute(
        sa.text(
            "UPDATE resource SET center_id = (SELECT MIN(c.id) FROM resource_center c "
            "WHERE c.city_id IS NULL) WHERE center_id IS NULL"
        )
    )
    changed = bind.execute(
        sa.text("SELECT id FROM resource WHERE status = 'published' AND access <> 'all'")
    ).all()
    now = datetime.now(UTC).replace(tzinfo=None)
    for (resource_id,) in changed:
        bind.execute(
            sa.text(
                "INSERT INTO index_outbox (entity_type, entity_id, operation, created_at, "
                "attempts) VALUES ('resource', :id, 'upsert', :now, 0)"
            ),
            {"id": str(resource_id), "now": now},
        )
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.drop_column("region_city_id")
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.alter_column("change_reason", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.add_column(sa.Column("region_city_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_resource_region_city_id_city", "city", ["region_city_id"], ["id"]
        )
    op.get_bind().execute(
        sa.text(
            "UPDATE resource SET region_city_id = (SELECT c.city_id FROM resource_center c "
            "WHERE c.id = resource.center_id) WHERE access = 'region'"
        )
    )
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.drop_constraint("fk_resource_published_by_user_account", type_="foreignkey")
        batch_op.drop_column("published_by")
        batch_op.drop_column("change_reason")
