"""Create or upgrade the schema with Alembic; check it cheaply on every other command.

Every command but ``init`` only compares the stored Alembic revision with
:data:`SCHEMA_REVISION`, so that ordinary commands never import Alembic.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, inspect, text

from duban.engine.errors import SetupError

SCHEMA_REVISION = "0011"
MIGRATIONS = Path(__file__).parent / "migrations"


def upgrade(conn: Connection) -> tuple[str | None, str]:
    """Bring the schema to the newest revision inside the caller's transaction.

    Returns the revision before and after. Running it twice changes nothing the second time.
    """
    from alembic import command
    from alembic.config import Config

    before = stored_revision(conn)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
    return before, stored_revision(conn) or ""


def stored_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def require_current(conn: Connection) -> None:
    """Refuse to work on a database that is missing or behind the code."""
    try:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:
        conn.rollback()
        raise SetupError("数据库尚未初始化: 请先运行 duban init") from None
    if revision != SCHEMA_REVISION:
        raise SetupError(
            f"数据库结构版本为 {revision}, 程序需要 {SCHEMA_REVISION}: 请运行 duban init 升级"
        )
