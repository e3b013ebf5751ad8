"""How an office sends its notices: who signs them, where they go, how often to retry.

Read from the settings file's ``[office]``, ``[notices]`` and ``[smtp]`` tables; the SMTP
password may come from ``DUBAN_SMTP_PASSWORD`` instead, so it need not sit in a file.
Everything has a default that works on one machine: notices go to an outbox folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any

from duban.engine.errors import SetupError
from duban.engine.settings import Settings

CHANNELS = ("file", "smtp", "webhook")
SMTP_SECURITY = ("plain", "starttls", "ssl")


@dataclass(frozen=True)
class Office:
    """The issuing office as it appears on every document (GB/T 9704 版头 and 落款)."""

    name: str = "教育督查办公室"
    signature: str = ""  # 落款; the office name when empty
    doc_prefix: str = "督办"  # 督办〔2026〕12号
    circular_prefix: str = "督通"  # 督通〔2026〕3号
    contact: str = ""
    phone: str = ""
    # 问责建议 go to the education authority and the local government (主送).
    accountability_to: str = "教育局党组、本级人民政府"
    circular_to: str = "各有关单位"  # 主送 of a circular (通报)
    # 签发人: the head who signs documents sent up (上行文: 问责建议, 批示件办理情况报告);
    # empty leaves the line out.
    signer: str = ""

    @property
    def signed_by(self) -> str:
        return self.signature or self.name


@dataclass(frozen=True)
class Smtp:
    host: str = ""
    port: int = 0
    security: str = "plain"
    user: str = ""
    password: str = ""
    sender: str = ""
    timeout: float = 15.0
    cafile: str = ""  # a private CA for STARTTLS/SSL, e.g. the office's own

    @property
    def configured(self) -> bool:
        return bool(self.host and self.sender)

    @property
    def effective_port(self) -> int:
        return self.port or {"plain": 25, "starttls": 587, "ssl": 465}[self.security]


@dataclass(frozen=True)
class NoticeConfig:
    office: Office = field(default_factory=Office)
    channels: tuple[str, ...] = ("file",)
    outbox: Path = Path("outbox")
    templates_dir: Path | None = None
    max_attempts: int = 6
    backoff_seconds: float = 60.0  # first retry after about a minute, then doubling
    backoff_cap_seconds: float = 6 * 3600.0
    lease_seconds: float = 300.0  # a claimed delivery another sender may take after this
    webhook_timeout: float = 10.0
    digest_at: time | None = None  # merge one recipient's mail of a working day, sent then
    attach_docx: bool = False  # add the .docx to mail and to the outbox folder
    smtp: Smtp = field(default_factory=Smtp)


def notice_config(settings: Settings, environ: Mapping[str, str] | None = None) -> NoticeConfig:
    """The notice settings, checked: an unknown key or a bad value stops with one line."""
    env = os.environ if environ is None else environ
    tables = settings.tables
    office = _build(Office, tables.get("office", {}), "office")
    raw = dict(tables.get("notices", {}))
    smtp_raw = dict(tables.get("smtp", {}))
    if "password" not in smtp_raw and env.get("DUBAN_SMTP_PASSWORD"):
        smtp_raw["password"] = env["DUBAN_SMTP_PASSWORD"]
    smtp = _build(Smtp, smtp_raw, "smtp")
    if smtp.security not in SMTP_SECURITY:
        raise SetupError(f"[smtp] security 应为 {'、'.join(SMTP_SECURITY)} 之一")
    channels = tuple(raw.pop("channels", ("file",)))
    for channel in channels:
        if channel not in CHANNELS:
            known = "、".join(CHANNELS)
            raise SetupError(f"[notices] channels 含未知渠道 {channel}; 可用: {known}")
    if "smtp" in channels and not smtp.configured:
        raise SetupError("[notices] 启用了 smtp 渠道, 但 [smtp] 未设置 host 与 sender")
    outbox = raw.pop("outbox", None)
    templates = raw.pop("templates_dir", None)
    digest = raw.pop("digest_at", None)
    values: dict[str, Any] = {
        "channels": channels,
        "outbox": Path(outbox).expanduser() if outbox else default_outbox(settings),
        "templates_dir": Path(templates).expanduser() if templates else None,
        "digest_at": _time(digest) if digest else None,
    }
    config = _build(NoticeConfig, raw, "notices", values)
    if config.max_attempts < 1:
        raise SetupError("[notices] max_attempts 至少为 1")
    return NoticeConfig(**{**config.__dict__, "office": office, "smtp": smtp})


def default_outbox(settings: Settings) -> Path:
    """Beside a SQLite database; under the user's data folder for a server database."""
    if settings.db_url.startswith("sqlite:///"):
        db_path = Path(settings.db_url.removeprefix("sqlite:///"))
        return db_path.with_name(db_path.stem + "-outbox")
    import platformdirs

    return Path(platformdirs.user_data_dir("duban")) / "outbox"


def _build(kind: type, raw: Mapping[str, Any], table: str, extra: dict | None = None) -> Any:
    known = set(kind.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SetupError(f"配置 [{table}] 含未知设置项: {', '.join(unknown)}")
    values = dict(extra or {})
    for key, value in raw.items():
        default = kind.__dataclass_fields__[key].default
        if isinstance(default, bool) and not isinstance(value, bool):
            raise SetupError(f"配置 [{table}] {key} 应为 true 或 false")
        if isinstance(default, int | float) and not isinstance(default, bool):
            try:
                value = type(default)(value)
            except (TypeError, ValueError):
                raise SetupError(f"配置 [{table}] {key} 应为数字") from None
        values[key] = value
    return kind(**values)


def _time(text: str) -> time:
    try:
        return time.fromisoformat(str(text))
    except ValueError:
        raise SetupError(f"[notices] digest_at “{text}” 应写成 16:30") from None
