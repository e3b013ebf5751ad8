"""The audit key, kept outside the database, and the signatures it makes.

Whoever can write the database can recompute a hash chain; they cannot forge an HMAC without
this key. The key lives in a file readable only by its owner (setting ``audit_key``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from duban.engine.errors import SetupError
from duban.engine.permissions import make_private_dir, readable_by_others

KEY_BYTES = 32


class Signer:
    """Signs and checks checkpoint statements with one key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise SetupError("审计签名密钥过短")
        self._key = key
        self.key_id = hashlib.sha256(key).hexdigest()[:16]

    def sign(self, message: str) -> str:
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def check(self, message: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(message), signature)


def load_signer(path: Path) -> Signer:
    try:
        if readable_by_others(path):
            raise SetupError(f"审计签名密钥 {path} 人人可读, 拒绝使用: 请执行 chmod o-rwx {path}")
        text = path.read_text().strip()
    except FileNotFoundError:
        raise SetupError(
            f"审计签名密钥 {path} 不存在: 请运行 duban init, 或用 DUBAN_AUDIT_KEY 指向已有密钥"
        ) from None
    except OSError as err:
        raise SetupError(f"无法读取审计签名密钥 {path}: {err.strerror}") from None
    try:
        return Signer(bytes.fromhex(text))
    except ValueError:
        raise SetupError(f"审计签名密钥 {path} 格式不对 (应为十六进制)") from None


def ensure_key(path: Path) -> bool:
    """Create the key file if it is missing (owner-only). Returns True when it was created."""
    if path.exists():
        return False
    try:
        make_private_dir(path.parent)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    except OSError as err:
        raise SetupError(f"无法创建审计签名密钥 {path}: {err.strerror}") from None
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_hex(KEY_BYTES) + "\n")
    return True
