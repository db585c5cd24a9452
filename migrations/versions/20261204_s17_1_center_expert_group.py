"""city expert groups: experts attached to a city center (center_expert)

Existing installations move forward: an expert paired with a zone of a city already counted as
that city's group; they become members of the city center's group (their zone pairs stay).

Revision ID: s17_1_center_expert_group
Revises: i17_1_centers
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "s17_1_center_expert_group"
down_revision: str | Sequence[str] | None = "i17_1_centers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "center_expert",
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(["center_id"], ["resource_center.id"]),
        sa.ForeignKeyConstraint(["expert_id"], ["expert.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("center_id", "expert_id"),
    )
    with op.batch_alter_table("center_expert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_center_expert_expert_id"), ["expert_id"], unique=False)
    op.execute(
        "INSERT INTO center_expert (center_id, expert_id) "
        "SELECT DISTINCT c.id, ze.expert_id FROM zone_expert ze "
        "JOIN zone z ON z.id = ze.zone_id JOIN resource_center c ON c.city_id = z.city_id"
    )


def downgrade() -> None:
    with op.batch_alter_table("center_expert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_center_expert_expert_id"))
    op.drop_table("center_expert")
