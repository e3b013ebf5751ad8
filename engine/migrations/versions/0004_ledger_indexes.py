"""Indexes for the ledger and the period figures: deadlines, creation, audit instants.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_item_current_deadline", "item", ["current_deadline"])
    op.create_index("ix_item_created_at", "item", ["created_at"])
    op.create_index("ix_audit_event_at", "audit_event", ["at", "action", "event", "item_id"])
    op.create_index("ix_item_state_unit_deadline", "item",
                    ["state", "lead_unit", "current_deadline"])
    op.create_index("ix_item_unit_deadline", "item", ["lead_unit", "current_deadline"])


def downgrade() -> None:
    raise NotImplementedError("duban never deletes records: restore a backup to go back")
