"""the resource library: the publishing resource center as a record

Revision ID: i18_2_resource_center
Revises: i18_1_resources
Depends on: i17_1_centers (the resource_center table)
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i18_2_resource_center"
down_revision: str | Sequence[str] | None = "i18_1_resources"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "i17_1_centers"


def upgrade() -> None:
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.add_column(sa.Column("center_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_resource_center_id"), ["center_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_resource_center_id_resource_center", "resource_center", ["center_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.drop_constraint("fk_resource_center_id_resource_center", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_resource_center_id"))
        batch_op.drop_column("center_id")
