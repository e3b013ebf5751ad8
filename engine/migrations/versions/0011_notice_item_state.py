"""A notice keeps the item as the event or step that wrote it left it: what its document is
rendered from, also when the rendering comes after the commit (timer batches, a template that
was broken). Notices written before have none and are rendered from the item as it is.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notice") as batch_op:
        batch_op.add_column(sa.Column("item_state", sa.JSON(), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("duban never deletes records: restore a backup to go back")
