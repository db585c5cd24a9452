"""resource centers: the province center and one per city; staff and services belong to one

Existing installations move forward: a center is created for every province and city already
there, today's staff (role `staff`, now province staff) belong to the province center, and every
existing procured service belongs to the province center.

Revision ID: i17_1_centers
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "i17_1_centers"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resource_center",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("province_id", sa.Integer(), nullable=False),
        sa.Column("city_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["city_id"], ["city.id"]),
        sa.ForeignKeyConstraint(["province_id"], ["province.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("city_id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index(
        op.f("ix_resource_center_province_id"), "resource_center", ["province_id"], unique=False
    )
    op.execute(
        "INSERT INTO resource_center (name, province_id, city_id) "
        "SELECT name, id, NULL FROM province ORDER BY id"
    )
    op.execute(
        "INSERT INTO resource_center (name, province_id, city_id) "
        "SELECT name, province_id, id FROM city ORDER BY id"
    )
    for table in ("user_account", "procured_service"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("center_id", sa.Integer(), nullable=True))
            batch_op.create_index(batch_op.f(f"ix_{table}_center_id"), ["center_id"], unique=False)
            batch_op.create_foreign_key(
                f"fk_{table}_center_id_resource_center", "resource_center", ["center_id"], ["id"]
            )
    # Today's staff and services belong to the (first) province's center.
    op.execute(
        "UPDATE user_account SET center_id = "
        "(SELECT MIN(id) FROM resource_center WHERE city_id IS NULL) WHERE role = 'staff'"
    )
    op.execute(
        "UPDATE procured_service SET center_id = "
        "(SELECT MIN(id) FROM resource_center WHERE city_id IS NULL)"
    )


def downgrade() -> None:
    for table in ("procured_service", "user_account"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_center_id_resource_center", type_="foreignkey")
            batch_op.drop_index(batch_op.f(f"ix_{table}_center_id"))
            batch_op.drop_column("center_id")
    op.drop_index(op.f("ix_resource_center_province_id"), table_name="resource_center")
    op.drop_table("resource_center")
