"""Accounts: how a person signs in where no operating-system login vouches for them.

A person may have a password (argon2id) and any number of tokens (API tokens, web sessions):
random, shown once, kept only as their SHA-256, named, expiring, revocable. An admin opens
an account with a one-time set-up code, or with a temporary password that must be changed at
the first sign-in. Failed sign-ins are counted: after a few, each next attempt waits; after
``lockout_failures`` within the window the account is locked for a while. Every sign-in,
failure, lockout, token creation and revocation is an audit event; no secret is ever stored
or logged.

Password hashing is slow on purpose, so it runs outside any write transaction: the service
reads the account, verifies, and records the outcome in a short transaction of its own.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from duban.engine import seals
from duban.engine.access import Actor
from duban.engine.directory_cache import Directory
from duban.engine.errors import InvalidInput, NotFound, NotSignedIn, Refused, SetupError
from duban.engine.models import ACCOUNT, TOKEN, Role
from duban.engine.signing import Signer
from duban.engine.timeutil import local_text
from duban.engine.txn import ReadTxn, Txn
from duban.engine.validation import shown

TOKEN_PREFIX = "dbn_"
# The same answer for an unknown login: nobody learns who exists.
INVALID_CREDENTIALS = "登录名或密码不正确"
INVALID_TOKEN = "令牌无效、已过期或已吊销"
TOKEN_KINDS = ("api", "session")


@dataclass(frozen=True)
class AccountPolicy:
    """The settings file's ``[accounts]`` table."""

    min_password_length: int = 8
    lockout_failures: int = 5  # failed sign-ins within the window that lock the account
    lockout_window_minutes: float = 15.0
    lockout_minutes: float = 30.0
    slow_after: int = 2  # failures after which each next attempt waits, doubling
    setup_code_hours: float = 72.0
    token_days: float = 90.0  # an API token's default lifetime
    session_hours: float = 8.0  # a web session's lifetime


def policy_from(table: Mapping[str, Any]) -> AccountPolicy:
    known = {f.name: f for f in fields(AccountPolicy)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise SetupError(f"配置 [accounts] 含未知设置项: {', '.join(unknown)}")
    values = {}
    for key, value in table.items():
        kind = type(known[key].default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise SetupError(f"配置 [accounts] {key} 应为正数")
        values[key] = kind(value)
    return AccountPolicy(**values)


def _hasher() -> Any:
    from argon2 import PasswordHasher  # only the sign-in paths pay for it

    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def password_matches(stored: str | None, password: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from; a hash is computed even when
    there is none, so that the time taken does not tell whether an account exists."""
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = _hasher()
    try:
        if stored is None:
            hasher.verify(_dummy_hash(), password)
            return False
        return hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    """A hash of nothing in particular, made on first use."""
    return _hasher().hash(secrets.token_hex(16))


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_new_password(login: str, password: str, policy: AccountPolicy) -> str:
    """A password a person may choose: every problem named at once."""
    problems = []
    if len(password) < policy.min_password_length:
        problems.append(f"至少 {policy.min_password_length} 位")
    if password.strip() != password or any(ord(c) < 32 for c in password):
        problems.append("不能以空格开头或结尾, 不能含控制字符")
    if password.lower() == login.lower():
        problems.append("不能与登录名相同")
    if len(set(password)) < 4:
        problems.append("至少含 4 种不同的字符")
    if problems:
        raise InvalidInput("新密码不合要求: " + "; ".join(problems))
    return password


# -- opening an account ----------------------------------------------------------------------

def issue_setup(txn: Txn, login: str, *, temporary: bool, password_hash: str | None,
                secret: str, policy: AccountPolicy) -> dict[str, Any]:
    """Open (or reset) a person's account: a one-time set-up code, or a temporary password
    (already hashed by the caller) that must be changed at the first sign-in."""
    if not txn.actor.has(Role.admin):
        raise Refused(f"{txn.actor.name}无权开通账户: 只有管理员可以")
    person = _person(txn, login)
    values: dict[str, Any] = {"failures": 0, "first_failure_at": None, "retry_after": None,
                              "locked_until": None, "changed_at": txn.now}
    if temporary:
        values.update(password_hash=password_hash, must_change=True, setup_code_hash=None,
                      setup_expires_at=None)
    else:
        values.update(password_hash=None, must_change=False, setup_code_hash=digest(secret),
                      setup_expires_at=txn.now + timedelta(hours=policy.setup_code_hours))
    _upsert(txn, login, values)
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="account_setup",
                     payload={"person": login, "by": "temporary_password" if temporary
                              else "setup_code",
                              "expires_at": values.get("setup_expires_at")})
    return {"login": login, "name": person["name"], "temporary": temporary,
            "expires_at": values.get("setup_expires_at")}


def activate(txn: Txn, login: str, code: str, password_hash: str) -> None:
    """Set the first password with a set-up code; the code is spent."""
    account = get(txn, login)
    expired = account is None or not seals.account_intact(_signer(txn), account) \
        or account["setup_expires_at"] is None \
        or account["setup_expires_at"] <= txn.now
    code = code.strip().upper()
    if expired or not hmac.compare_digest(account["setup_code_hash"] or "", digest(code)):
        raise Refused("设置码无效或已过期: 请管理员重新发放")
    _upsert(txn, login, {"password_hash": password_hash, "must_change": False,
                         "setup_code_hash": None, "setup_expires_at": None,
                         "changed_at": txn.now})
    txn.audit.append(at=txn.now, actor=login, action="password_set",
                     payload={"person": login, "by": "setup_code"})


def change_password(txn: Txn, login: str, password_hash: str) -> None:
    """Record a new password chosen by its owner (the old one was checked by the caller)."""
    _upsert(txn, login, {"password_hash": password_hash, "must_change": False,
                         "setup_code_hash": None, "setup_expires_at": None,
                         "changed_at": txn.now})
    txn.audit.append(at=txn.now, actor=login, action="password_changed",
                     payload={"person": login})


def unlock(txn: Txn, login: str) -> None:
    if not txn.actor.has(Role.admin):
        raise Refused(f"{txn.actor.name}无权解锁账户: 只有管理员可以")
    _person(txn, login)
    if get(txn, login) is None:
        raise NotFound(f"{login} 尚未开通账户")
    _upsert(txn, login, {"failures": 0, "first_failure_at": None, "retry_after": None,
                         "locked_until": None})
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="unlocked",
                     payload={"person": login})


# -- signing in --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Gate:
    """Whether a sign-in attempt may be checked now, from the account as it was read."""

    account: dict[str, Any] | None
    refusal: str | None  # locked or slowed down: the attempt is not even checked


def gate(txn: ReadTxn, login: str) -> Gate:
    account = get(txn, login)
    person = txn.directory.people.get(login)
    if account is None or person is None:
        return Gate(None, None)
    if not seals.account_intact(_signer(txn), account):  # written around the engine
        account = {**account, "password_hash": None}
    if not person["active"]:
        return Gate(account, f"{person['name']}({login}) 已停用")
    if account["locked_until"] is not None and account["locked_until"] > txn.now:
        until = local_text(account["locked_until"], txn.tz)
        return Gate(account, f"账户因多次登录失败已锁定至 {until}, 可请管理员解锁")
    if account["retry_after"] is not None and account["retry_after"] > txn.now:
        wait = int((account["retry_after"] - txn.now).total_seconds()) + 1
        return Gate(account, f"登录失败次数过多, 请 {wait} 秒后再试")
    return Gate(account, None)


@dataclass(frozen=True)
class SignIn:
    login: str
    name: str
    must_change: bool


def record_success(txn: Txn, login: str) -> SignIn:
    account = get(txn, login)
    _upsert(txn, login, {"failures": 0, "first_failure_at": None, "retry_after": None,
                         "locked_until": None})
    txn.audit.append(at=txn.now, actor=login, action="sign_in", payload={"person": login})
    person = txn.directory.people[login]
    return SignIn(login, person["name"], bool(account and account["must_change"]))


def record_failure(txn: Txn, login: str, policy: AccountPolicy, reason: str) -> str:
    """Count a failed attempt (slow down, lock); returns the message the person sees."""
    account = get(txn, login)
    txn.audit.append(at=txn.now, actor=login, action="sign_in_failed", reason=reason,
                     payload={"person": login})
    if account is None:
        return INVALID_CREDENTIALS
    window = timedelta(minutes=policy.lockout_window_minutes)
    first = account["first_failure_at"]
    failures = account["failures"] + 1
    if first is None or txn.now - first > window:
        first, failures = txn.now, 1
    values: dict[str, Any] = {"failures": failures, "first_failure_at": first,
                              "retry_after": None}
    message = INVALID_CREDENTIALS
    if failures >= policy.lockout_failures:
        values["locked_until"] = txn.now + timedelta(minutes=policy.lockout_minutes)
        txn.audit.append(at=txn.now, actor=login, action="locked",
                         payload={"person": login, "failures": failures,
                                  "until": values["locked_until"]})
        message += f"; 已连续失败 {failures} 次, 账户锁定 {policy.lockout_minutes:g} 分钟"
    elif failures > policy.slow_after:
        wait = 2 ** (failures - policy.slow_after)
        values["retry_after"] = txn.now + timedelta(seconds=wait)
        message += f"; 请 {wait} 秒后再试"
    _upsert(txn, login, values)
    return message


# -- tokens ------------------------------------------------------------------------------------

def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


SETUP_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud, typed by hand


def new_setup_code() -> str:
    """A one-time set-up code: 16 characters in groups of four (80 bits)."""
    code = "".join(secrets.choice(SETUP_ALPHABET) for _ in range(16))
    return "-".join(code[i:i + 4] for i in range(0, 16, 4))


def new_temporary() -> str:
    """A temporary password, to be changed at the first sign-in."""
    return secrets.token_urlsafe(12)


def create_token(txn: Txn, login: str, name: str, *, kind: str, lifetime: timedelta,
                 secret: str) -> dict[str, Any]:
    """Store a token for ``login`` (the caller shows ``secret`` once and forgets it)."""
    if kind not in TOKEN_KINDS:
        raise InvalidInput(f"令牌类型应为 {'、'.join(TOKEN_KINDS)} 之一")
    if login != txn.actor.login and not txn.actor.has(Role.admin):
        raise Refused(f"{txn.actor.name}无权为他人创建令牌: 只有管理员可以")
    person = _person(txn, login)
    if not person["active"]:
        raise Refused(f"{person['name']}({login}) 已停用")
    name = name.strip()
    if not name or len(name) > 80:
        raise InvalidInput("令牌名称不能为空, 最长 80 字")
    row = {"login": login, "kind": kind, "name": name, "hash": digest(secret),
           "prefix": secret[len(TOKEN_PREFIX):][:8], "created_at": txn.now,
           "expires_at": txn.now + lifetime, "revoked_at": None}
    row["seal"] = seals.token_seal(_signer(txn), row)
    row["id"] = txn.conn.execute(insert(TOKEN).returning(TOKEN.c.id), row).scalar_one()
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="token_created",
                     payload={"token": row["id"], "person": login, "kind": kind, "name": name,
                              "prefix": row["prefix"], "expires_at": row["expires_at"]})
    return {k: v for k, v in row.items() if k not in ("hash", "seal")}


def revoke_token(txn: Txn, token_id: int) -> dict[str, Any]:
    row = txn.conn.execute(select(TOKEN).where(TOKEN.c.id == token_id)).mappings().first()
    if row is None or (row["login"] != txn.actor.login and not txn.actor.has(Role.admin)):
        raise NotFound(f"没有编号为 {token_id} 的令牌")
    if row["revoked_at"] is not None:
        raise Refused(f"令牌 {token_id} 已于 {local_text(row['revoked_at'], txn.tz)} 吊销")
    txn.conn.execute(update(TOKEN).where(TOKEN.c.id == token_id).values(revoked_at=txn.now))
    seals.reseal_token(txn.conn, _signer(txn), token_id)
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="token_revoked",
                     payload={"token": token_id, "person": row["login"], "name": row["name"]})
    return {**{k: v for k, v in row.items() if k not in ("hash", "seal")},
            "revoked_at": txn.now}


def end_session(txn: Txn, secret: str) -> None:
    """Sign out: the session token the person holds is revoked."""
    row = txn.conn.execute(select(TOKEN.c.id, TOKEN.c.revoked_at).where(
        TOKEN.c.hash == digest(secret), TOKEN.c.login == txn.actor.login)).first()
    if row is not None and row.revoked_at is None:
        txn.conn.execute(update(TOKEN).where(TOKEN.c.id == row.id).values(revoked_at=txn.now))
        seals.reseal_token(txn.conn, _signer(txn), row.id)
        txn.audit.append(at=txn.now, actor=txn.actor.login, action="signed_out",
                         payload={"token": row.id})


def tokens_of(txn: ReadTxn, login: str) -> list[dict[str, Any]]:
    if login != txn.actor.login and not txn.actor.has(Role.admin):
        raise Refused(f"{txn.actor.name}无权查看他人的令牌: 只有管理员可以")
    rows = txn.conn.execute(select(TOKEN).where(TOKEN.c.login == login).order_by(TOKEN.c.id))
    return [{k: v for k, v in row.items() if k not in ("hash", "seal")}
            for row in rows.mappings()]


TOKEN_BY_HASH = select(TOKEN).where(TOKEN.c.hash == bindparam("hash"))


def authenticate_token(conn: Connection, secret: str, now: datetime, directory: Directory,
                       signer: Signer) -> Actor:
    """The person a presented token stands for, or a refusal that says nothing more. A token
    row whose seal does not hold (written around the engine) lets nobody in."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise NotSignedIn(INVALID_TOKEN)
    row = conn.execute(TOKEN_BY_HASH, {"hash": digest(secret)}).mappings().first()
    person = directory.people.get(row["login"]) if row is not None else None
    if row is None or person is None or row["revoked_at"] is not None \
            or row["expires_at"] <= now or not person["active"] \
            or not seals.token_intact(signer, row):
        raise NotSignedIn(INVALID_TOKEN)
    return Actor.from_row(person)


# -- reading ---------------------------------------------------------------------------------

def get(txn: ReadTxn, login: str) -> dict[str, Any] | None:
    row = txn.conn.execute(select(ACCOUNT).where(ACCOUNT.c.login == login)).mappings().first()
    return None if row is None else dict(row)


def state(txn: ReadTxn, login: str) -> dict[str, Any]:
    """What an admin (or the person) may know of an account: never a hash or a code."""
    if login != txn.actor.login and not txn.actor.has(Role.admin):
        raise Refused(f"{txn.actor.name}无权查看他人的账户: 只有管理员可以")
    person = _person(txn, login)
    account = get(txn, login) or {}
    return {
        "login": login, "name": person["name"], "active": person["active"],
        "has_password": bool(account.get("password_hash")),
        "must_change": bool(account.get("must_change")),
        "setup_pending": bool(account.get("setup_code_hash")),
        "setup_expires_at": account.get("setup_expires_at"),
        "failures": account.get("failures", 0),
        "locked_until": account.get("locked_until"),
        "changed_at": account.get("changed_at"),
        "tokens": len([t for t in tokens_of(txn, login)
                       if t["revoked_at"] is None and t["expires_at"] > txn.now]),
    }


def _person(txn: ReadTxn, login: str) -> dict[str, Any]:
    person = txn.directory.people.get(login)
    if person is None:
        raise NotFound(f"没有登录名为 {shown(login)} 的人员")
    return person


def _upsert(txn: Txn, login: str, values: dict[str, Any]) -> None:
    found = txn.conn.execute(update(ACCOUNT).where(ACCOUNT.c.login == login)
                             .values(values)).rowcount
    if not found:
        base = {"login": login, "password_hash": None, "must_change": False,
                "setup_code_hash": None, "setup_expires_at": None, "failures": 0,
                "first_failure_at": None, "retry_after": None, "locked_until": None,
                "changed_at": None}
        txn.conn.execute(insert(ACCOUNT), {**base, **values})
    if CREDENTIALS <= values.keys():  # the engine set every credential: sign them
        seals.reseal_account(txn.conn, _signer(txn), login)


# What an account's seal covers. Counting failures leaves a seal as it was, so a credential
# changed around the engine stays unusable however often someone tries it.
CREDENTIALS = {"password_hash", "must_change", "setup_code_hash", "setup_expires_at"}


def _signer(txn: ReadTxn) -> Signer:
    if txn.signer is None:
        raise SetupError("此事务没有审计签名密钥")
    return txn.signer
