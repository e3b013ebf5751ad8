"""Checks on text that users type: sane lengths, no control characters, codes of a known shape."""

from __future__ import annotations

import re
import unicodedata

from duban.engine.errors import InvalidInput

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
LOGIN_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$")
ALLOWED_CONTROLS = {"\n", "\t"}
# Control and format characters, surrogates, and U+2028/U+2029 (line and paragraph
# separators: a line break to anything that renders them, so a one-line field refuses them).
INVISIBLE = ("Cc", "Cf", "Cs", "Zl", "Zp")


def shown(value: object, limit: int | None = 80) -> str:
    """Echo a user's input in a message with its invisible characters spelled out, so that
    the message can always be printed and stored (PostgreSQL text cannot hold NUL)."""
    raw = str(value)
    head = raw if limit is None else raw[:limit + 1]  # escaping only lengthens: cut first
    text = "".join(
        f"\\u{ord(char):04x}" if unicodedata.category(char) in INVISIBLE else char
        for char in head
    )
    return text if limit is None or len(text) <= limit else text[:limit] + "…"


def clean_text(
    value: str | None,
    label: str,
    *,
    max_length: int,
    required: bool = True,
    multiline: bool = False,
) -> str:
    """Trim a user's text and refuse what would corrupt a ledger or a notice."""
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidInput(f"缺少{label}")
        return ""
    if len(text) > max_length:
        raise InvalidInput(f"{label}过长: {len(text)} 字, 最多 {max_length} 字")
    allowed = ALLOWED_CONTROLS if multiline else set()
    for char in text:
        if unicodedata.category(char) in INVISIBLE and char not in allowed:
            raise InvalidInput(f"{label}含有不可见的控制字符 U+{ord(char):04X}, 请删除后重试")
    return text


def check_code(value: str, label: str) -> str:
    code = (value or "").strip()
    if not CODE_PATTERN.match(code):
        raise InvalidInput(f"{label}“{shown(value)}”不合规: 只能用字母、数字和 _ . -, 最长 32 位")
    return code


def check_login(value: str) -> str:
    login = (value or "").strip()
    if not LOGIN_PATTERN.match(login):
        raise InvalidInput(f"登录名“{shown(value)}”不合规: 只能用字母、数字和 _ . @ -, 最长 64 位")
    return login


EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def check_email(value: str | None) -> str | None:
    """One plain address (name@example.cn) or nothing: never a display name, a second
    recipient or a line break that a mail header would take for more."""
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > 200 or not EMAIL_PATTERN.match(text):
        raise InvalidInput(f"邮箱“{shown(value)}”不是一个有效地址: 应写成 name@example.cn, "
                           "只写一个地址")
    return text
