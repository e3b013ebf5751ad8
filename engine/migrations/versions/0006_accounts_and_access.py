"""People and what each may see: accounts, tokens, unit liaisons, co-units as rows,
inspectors' assignments and third-party evaluations.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("liaison_login", sa.String(length=64), nullable=True))
    op.create_table(
        "item_co_unit",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("lead_unit", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("current_deadline", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.PrimaryKeyConstraint("item_id", "unit_code"),
    )
    op.create_index("ix_item_co_unit_unit", "item_co_unit",
                    ["unit_code", "state", "current_deadline", "item_id", "lead_unit"])
    op.create_index("ix_item_leader_deadline", "item", ["lead_leader", "current_deadline"])
    conn = op.get_bind()
    rows = [{"item_id": item_id, "unit_code": code, "lead_unit": lead, "state": state,
             "current_deadline": deadline}
            for item_id, co_units, lead, state, deadline in conn.execute(sa.text(
                "SELECT id, co_units, lead_unit, state, current_deadline FROM item"))
            for code in (json.loads(co_units) if isinstance(co_units, str) else co_units or [])]
    if rows:
        conn.execute(sa.text(
            "INSERT INTO item_co_unit (item_id, unit_code, lead_unit, state, current_deadline) "
            "VALUES (:item_id, :unit_code, :lead_unit, :state, :current_deadline)"), rows)
    op.create_table(
        "account",
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("must_change", sa.Boolean(), nullable=False),
        sa.Column("setup_code_hash", sa.String(length=64), nullable=True),
        sa.Column("setup_expires_at", sa.DateTime(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", sa.DateTime(), nullable=True),
        sa.Column("retry_after", sa.DateTime(), nullable=True),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("changed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["login"], ["person.login"]),
        sa.PrimaryKeyConstraint("login"),
    )
    op.create_table(
        "token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["login"], ["person.login"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hash"),
    )
    op.create_index("ix_token_login", "token", ["login"])
    op.create_table(
        "idempotency",
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("operation", sa.String(length=80), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("login", "key"),
    )
    op.create_table(
        "inspection",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("assigned_at", sa.DateTime(), nullable=False),
        sa.Column("assigned_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.ForeignKeyConstraint(["login"], ["person.login"]),
        sa.PrimaryKeyConstraint("item_id", "login"),
    )
    op.create_index("ix_inspection_login", "inspection", ["login", "item_id"])
    op.create_table(
        "evaluation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "evaluation_item",
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["evaluation_id"], ["evaluation.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.PrimaryKeyConstraint("evaluation_id", "item_id"),
    )
    op.create_table(
        "evaluation_member",
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["evaluation_id"], ["evaluation.id"]),
        sa.ForeignKeyConstraint(["login"], ["person.login"]),
        sa.PrimaryKeyConstraint("evaluation_id", "login"),
    )
    op.create_index("ix_evaluation_member_login", "evaluation_member", ["login", "evaluation_id"])
    op.create_table(
        "evaluation_rating",
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("rating", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("rated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["evaluation_id"], ["evaluation.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.ForeignKeyConstraint(["login"], ["person.login"]),
        sa.PrimaryKeyConstraint("evaluation_id", "item_id", "login"),
    )


def downgrade() -> None:
    raise NotImplementedError("duban never deletes records: restore a backup to go back")
