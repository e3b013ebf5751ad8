"""The scheme of each audit event's hash: version 1 for the events that exist (a canonical
JSON of the decoded event), version 2 for those written from now on (what is stored, hashed
as stored; see engine/audit.py). Existing events keep verifying as they were written.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant default: neither database rewrites the table to add the column.
    with op.batch_alter_table("audit_event") as batch_op:
        batch_op.add_column(sa.Column("hash_version", sa.SmallInteger(), nullable=False,
                                      server_default=sa.text("1")))


def downgrade() -> None:
    raise NotImplementedError("duban never deletes records: restore a backup to go back")
