"""A generation number of the directory, bumped by the database itself whenever a unit or a
person changes, so that a process may keep the directory between transactions and know for
certain, with one tiny read, whether it is still current.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("unit", "person")
# On SQLite a later batch_alter_table of unit or person copies the table and loses these
# triggers: such a migration must create them again.


def upgrade() -> None:
    op.create_table(
        "directory_generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO directory_generation (id, value) VALUES (1, 0)")
    bump = "UPDATE directory_generation SET value = value + 1 WHERE id = 1"
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE FUNCTION duban_directory_changed() RETURNS trigger LANGUAGE plpgsql "
                   f"AS $$ BEGIN {bump}; RETURN NULL; END $$")
        for table in TABLES:
            op.execute(f"CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE "
                       f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION duban_directory_changed()")
        return
    for table in TABLES:
        for change in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_{change.lower()}_changed AFTER {change} "
                       f"ON {table} BEGIN {bump}; END")


def downgrade() -> None:
    raise NotImplementedError("duban never deletes records: restore a backup to go back")
