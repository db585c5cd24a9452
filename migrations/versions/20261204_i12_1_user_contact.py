"""e-mail address and phone number on user accounts

Mail used to go to usernames that looked like addresses; those addresses are carried over into
the new `email` column, so nobody stops receiving mail.

Revision ID: i12_1_user_contact
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "i12_1_user_contact"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True)
        )
        batch_op.add_column(
            sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_user_account_email"), ["email"], unique=False)
    op.execute(
        "UPDATE user_account SET email = username "
        "WHERE username LIKE '%_@_%._%' AND username NOT LIKE '% %'"
    )


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_account_email"))
        batch_op.drop_column("phone")
        batch_op.drop_column("email")
