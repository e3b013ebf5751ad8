"""Settings: command-line options win over the settings file, which wins over the environment.

Nothing here opens a database or reads a key; it only says where things are.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from pathlib import Path
from typing import Any

from duban.engine.errors import InvalidInput, SetupError
from duban.engine.timeutil import DEFAULT_TIMEZONE
from duban.engine.userfiles import read_bounded, reason, resolved
from duban.engine.validation import shown

ENV_PREFIX = "DUBAN_"
MAX_SETTINGS_FILE = 1024 * 1024  # a settings file is a page of text: /dev/zero is refused
FILE_KEYS = ("db", "audit_key", "workflows_dir", "timezone", "closing_time")
# Tables of the settings file read by other parts (``notifiers.config``): [office], [notices],
# [smtp], [assessment]. Their keys are checked where they are used.
FILE_TABLES = ("office", "notices", "smtp", "assessment", "accounts", "web", "evidence",
               "board", "audit")


def _platform_dirs() -> tuple[Path, Path]:
    import platformdirs

    return Path(platformdirs.user_data_dir("duban")), Path(platformdirs.user_config_dir("duban"))


@dataclass(frozen=True)
class Settings:
    """Where the database, the audit key and the admin's workflows live, and the time zone."""

    db_url: str
    audit_key_path: Path
    workflows_dir: Path | None = None
    timezone: str = DEFAULT_TIMEZONE
    closing_time: time | None = None  # "N 个工作日" ends then, not at midnight, if set
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: Path | None = None  # the settings file read, if any

    def with_db(self, db: str | None) -> Settings:
        return self if not db else replace(self, db_url=normalize_db_url(db))


def normalize_db_url(db: str) -> str:
    """Accept a file path or a URL; plain ``postgresql://`` means the psycopg 3 driver."""
    if "://" not in db:
        return "sqlite:///" + str(resolved(db))
    if db.startswith("postgresql://") or db.startswith("postgres://"):
        return "postgresql+psycopg://" + db.split("://", 1)[1]
    return db


def _read_file(path: Path) -> tuple[dict[str, str], dict[str, dict[str, Any]]] | None:
    """The flat keys and the tables of a settings file; None when there is no file."""
    try:
        if not path.exists() and not path.is_symlink():
            return None
    except OSError as err:  # a name the system cannot take
        raise SetupError(f"配置文件 {shown(path)} 无法读取: {reason(err)}") from None
    try:
        data = tomllib.loads(read_bounded(path, MAX_SETTINGS_FILE, "配置文件").decode())
    except InvalidInput as err:  # a folder, a device, too large, no permission
        raise SetupError(err.message) from None
    except UnicodeDecodeError:
        raise SetupError(f"配置文件 {path} 不是 UTF-8 文本") from None
    except tomllib.TOMLDecodeError as err:
        raise SetupError(f"配置文件 {path} 无法读取: {err}") from None
    except RecursionError:
        raise SetupError(f"配置文件 {path} 嵌套过深, 无法读取") from None
    unknown = sorted(set(data) - set(FILE_KEYS) - set(FILE_TABLES))
    if unknown:
        raise SetupError(f"配置文件 {path} 含未知设置项: {', '.join(unknown)}")
    tables = {}
    for name in FILE_TABLES:
        table = data.pop(name, {})
        if not isinstance(table, dict):
            raise SetupError(f"配置文件 {path}: [{name}] 应是一个表")
        tables[name] = table
    return {key: str(value) for key, value in data.items()}, tables


def load_settings(
    db: str | None = None,
    config_file: str | Path | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Resolve settings from options, then the settings file, then ``DUBAN_*`` variables."""
    env = os.environ if environ is None else environ
    data_dir, config_dir = _platform_dirs()
    file_path = Path(config_file or env.get(ENV_PREFIX + "CONFIG") or config_dir / "duban.toml")
    found = _read_file(file_path)
    from_file, tables = found if found is not None else ({}, {})

    def pick(key: str, option: str | None = None) -> str | None:
        return option or from_file.get(key) or env.get(ENV_PREFIX + key.upper())

    db_value = pick("db", db) or str(data_dir / "duban.db")
    workflows = pick("workflows_dir")
    return Settings(
        db_url=normalize_db_url(db_value),
        audit_key_path=Path(pick("audit_key") or config_dir / "audit.key").expanduser(),
        workflows_dir=Path(workflows).expanduser() if workflows else None,
        timezone=_timezone(pick("timezone") or DEFAULT_TIMEZONE),
        closing_time=_closing(pick("closing_time")),
        tables=tables,
        source=file_path if found is not None else None,
    )


def _timezone(name: str) -> str:
    """An IANA zone the machine knows (Asia/Shanghai), checked once, here."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise SetupError(f"时区 timezone “{name[:60]}” 无效: 应写成 Asia/Shanghai 这样的名称") \
            from None
    return name


def _closing(text: str | None) -> time | None:
    if not text:
        return None
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise SetupError(f"下班时间 closing_time “{text}” 应写成 17:30") from None
