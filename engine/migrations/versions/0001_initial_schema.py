"""Initial schema: units, people, items, the audit chain and its signed checkpoints.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("audit_checkpoint",
    sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column("head_hash", sa.String(length=64), nullable=False),
    sa.Column("at", sa.DateTime(), nullable=False),
    sa.Column("key_id", sa.String(length=16), nullable=False),
    sa.Column("signature", sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint("seq")
    )
    op.create_table("audit_event",
    sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column("at", sa.DateTime(), nullable=False),
    sa.Column("actor", sa.String(length=64), nullable=False),
    sa.Column("item_id", sa.Integer(), nullable=True),
    sa.Column("action", sa.String(length=40), nullable=False),
    sa.Column("event", sa.String(length=64), nullable=True),
    sa.Column("from_state", sa.String(length=64), nullable=True),
    sa.Column("to_state", sa.String(length=64), nullable=True),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("payload", sa.JSON(), nullable=False),
    sa.Column("prev_hash", sa.String(length=64), nullable=False),
    sa.Column("hash", sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint("seq")
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_item_id"), ["item_id"], unique=False)

    op.create_table("meta",
    sa.Column("key", sa.String(length=64), nullable=False),
    sa.Column("value", sa.String(length=400), nullable=False),
    sa.PrimaryKeyConstraint("key")
    )
    op.create_table("unit",
    sa.Column("code", sa.String(length=32), nullable=False),
    sa.Column("name", sa.String(length=100), nullable=False),
    sa.Column("parent_code", sa.String(length=32), nullable=True),
    sa.Column("head_login", sa.String(length=64), nullable=True),
    sa.Column("webhook", sa.String(length=500), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(["parent_code"], ["unit.code"], ),
    sa.PrimaryKeyConstraint("code")
    )
    op.create_table("item",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("workflow", sa.String(length=64), nullable=False),
    sa.Column("workflow_version", sa.Integer(), nullable=False),
    sa.Column("state", sa.String(length=64), nullable=False),
    sa.Column("title", sa.String(length=200), nullable=False),
    sa.Column("goal", sa.Text(), nullable=False),
    sa.Column("measures", sa.Text(), nullable=False),
    sa.Column("source", sa.String(length=32), nullable=False),
    sa.Column("lead_leader", sa.String(length=64), nullable=True),
    sa.Column("lead_unit", sa.String(length=32), nullable=False),
    sa.Column("co_units", sa.JSON(), nullable=False),
    sa.Column("original_deadline", sa.DateTime(), nullable=False),
    sa.Column("current_deadline", sa.DateTime(), nullable=False),
    sa.Column("deadline_reason", sa.String(length=200), nullable=True),
    sa.Column("public", sa.Boolean(), nullable=False),
    sa.Column("parent_id", sa.Integer(), nullable=True),
    sa.Column("attrs", sa.JSON(), nullable=False),
    sa.Column("created_by", sa.String(length=64), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(["lead_unit"], ["unit.code"], ),
    sa.ForeignKeyConstraint(["parent_id"], ["item.id"], ),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_item_state"), ["state"], unique=False)
        batch_op.create_index("ix_item_unit_state", ["lead_unit", "state"], unique=False)

    op.create_table("person",
    sa.Column("login", sa.String(length=64), nullable=False),
    sa.Column("name", sa.String(length=50), nullable=False),
    sa.Column("unit_code", sa.String(length=32), nullable=True),
    sa.Column("roles", sa.JSON(), nullable=False),
    sa.Column("deputy_login", sa.String(length=64), nullable=True),
    sa.Column("away_until", sa.DateTime(), nullable=True),
    sa.Column("email", sa.String(length=200), nullable=True),
    sa.Column("phone", sa.String(length=40), nullable=True),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(["unit_code"], ["unit.code"], ),
    sa.PrimaryKeyConstraint("login")
    )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_unit_code"), ["unit_code"], unique=False)



def downgrade() -> None:
    # Downgrading the first revision would drop every table and the audit chain with it.
    raise NotImplementedError("the initial schema cannot be downgraded without losing data")
