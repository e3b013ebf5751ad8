"""Seals on the rows that grant rights: an account's credentials and a token carry the audit
key's signature, the directory's is a meta row. ``duban init`` signs what exists at the
upgrade (the key is not the migration's to read).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account") as batch_op:
        batch_op.add_column(sa.Column("seal", sa.String(length=64), nullable=True))
    with op.batch_alter_table("token") as batch_op:
        batch_op.add_column(sa.Column("seal", sa.String(length=64), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("duban never deletes records: restore a backup to go back")
