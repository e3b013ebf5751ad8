"""Seals: the rows that grant rights, signed with the audit key.

The audit chain proves the history; these rows are what the engine acts on today: who may do
what (people, their roles, units and heads, deputies, addresses), whether ``--as`` is open to
everyone (the demo flag), and what lets someone in from the web (accounts' credentials, tokens).
Whoever can write the database could change them without an event. So every change the engine
makes re-signs them with the key kept outside the database, and every read that decides rights
checks the signature first: a row changed around the engine widens nobody's rights. The
directory is one seal (it changes rarely and is read whole); an account and a token carry their
own. ``duban audit verify`` reports a broken seal; ``duban audit reseal``, for the holder of the
key, accepts the directory as it is and takes away credentials whose seal is broken.

What a seal cannot see: the whole directory put back as it was at an earlier seal, together
with that seal. The audit chain still holds every change, and its anchors are outside.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from duban.engine.directory_cache import Directory, read_directory
from duban.engine.errors import IntegrityFailure
from duban.engine.models import ACCOUNT, AUDIT_EVENT, META, TOKEN
from duban.engine.signing import Signer

FIRST_SEALED_REVISION = "0009"  # the schema revision from which these rows are sealed
DIRECTORY_SEAL = "directory_seal"  # the meta row: "<key id>:<signature>"
BROKEN_DIRECTORY = (
    "人员目录(单位、人员、角色或演示标记)与审计签名不符, 可能被绕过 duban 直接改动: 运行 "
    "duban audit verify 查看; 核实后由持有审计密钥的管理员运行 duban audit reseal")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat(timespec="microseconds")
    return str(value)


def _digest(parts: Any) -> str:
    data = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=_plain)
    return hashlib.sha256(data.encode()).hexdigest()


def _table(rows: Mapping[str, Mapping[str, Any]]) -> list[list[Any]]:
    """Rows by key as lists under one header of their sorted column names."""
    if not rows:
        return []
    names = sorted(next(iter(rows.values())))
    return [names, *([rows[key][name] for name in names] for key in sorted(rows))]


def directory_statement(directory: Directory) -> str:
    return "duban-directory/1 " + _digest([_table(directory.units), _table(directory.people),
                                           directory.demo])


def seal_directory(conn: Connection, signer: Signer) -> None:
    """Sign the directory as this transaction leaves it."""
    seal = f"{signer.key_id}:{signer.sign(directory_statement(read_directory(conn)))}"
    if conn.execute(update(META).where(META.c.key == DIRECTORY_SEAL)
                    .values(value=seal)).rowcount == 0:
        conn.execute(insert(META), {"key": DIRECTORY_SEAL, "value": seal})


def directory_intact(directory: Directory, signer: Signer) -> bool:
    if directory.seal is None and not (directory.units or directory.people or directory.demo):
        return True  # a new database: nothing yet to protect
    key_id, _, signature = (directory.seal or "").partition(":")
    return key_id == signer.key_id and signer.check(directory_statement(directory), signature)


def check_directory(directory: Directory, signer: Signer) -> Directory:
    """``directory`` if its seal holds; refused for everyone otherwise."""
    if not directory_intact(directory, signer):
        key_id = (directory.seal or "").partition(":")[0]
        if directory.seal and key_id != signer.key_id:
            raise IntegrityFailure(
                f"本库的人员目录由另一把密钥(编号 {key_id})签名, 当前密钥编号 {signer.key_id}: "
                "请用 DUBAN_AUDIT_KEY 或配置项 audit_key 指向本库的共享密钥")
        raise IntegrityFailure(BROKEN_DIRECTORY)
    return directory


def read_checked(conn: Connection, signer: Signer) -> Directory:
    """The directory read and checked; read once more before refusing, since on PostgreSQL
    its three reads may straddle another writer's commit."""
    directory = read_directory(conn)
    if directory_intact(directory, signer):
        return directory
    return check_directory(read_directory(conn), signer)


# -- credentials ------------------------------------------------------------------------------

def token_seal(signer: Signer, row: Mapping[str, Any]) -> str:
    return signer.sign("duban-token/1 " + _digest(
        [row["login"], row["kind"], row["hash"], row["expires_at"], row["revoked_at"]]))


def account_seal(signer: Signer, row: Mapping[str, Any]) -> str:
    return signer.sign("duban-account/1 " + _digest(
        [row["login"], row["password_hash"], row["must_change"], row["setup_code_hash"],
         row["setup_expires_at"]]))


def token_intact(signer: Signer, row: Mapping[str, Any]) -> bool:
    return hmac.compare_digest(token_seal(signer, row), row["seal"] or "")


def account_intact(signer: Signer, row: Mapping[str, Any]) -> bool:
    return hmac.compare_digest(account_seal(signer, row), row["seal"] or "")


def reseal_token(conn: Connection, signer: Signer, token_id: int) -> None:
    row = conn.execute(select(TOKEN).where(TOKEN.c.id == token_id)).mappings().one()
    conn.execute(update(TOKEN).where(TOKEN.c.id == token_id)
                 .values(seal=token_seal(signer, row)))


def reseal_account(conn: Connection, signer: Signer, login: str) -> None:
    row = conn.execute(select(ACCOUNT).where(ACCOUNT.c.login == login)).mappings().first()
    if row is not None:
        conn.execute(update(ACCOUNT).where(ACCOUNT.c.login == login)
                     .values(seal=account_seal(signer, row)))


def broken(conn: Connection, signer: Signer) -> dict[str, Any]:
    """Every seal that does not hold: the directory, token ids, account logins."""
    directory = read_directory(conn)
    tokens = [row["id"] for row in conn.execute(select(TOKEN).order_by(TOKEN.c.id)).mappings()
              if not token_intact(signer, row)]
    accounts = [row["login"] for row in conn.execute(
        select(ACCOUNT).order_by(ACCOUNT.c.login)).mappings()
        if not account_intact(signer, row)]
    return {"directory": not directory_intact(directory, signer), "tokens": tokens,
            "accounts": accounts}


def problems(conn: Connection, signer: Signer) -> list[str]:
    """What ``audit verify`` says of the seals, one line each."""
    found = broken(conn, signer)
    lines = [BROKEN_DIRECTORY] if found["directory"] else []
    if found["tokens"]:
        lines.append("令牌 " + "、".join(map(str, found["tokens"][:20]))
                     + " 的记录与签名不符: 已不能使用")
    if found["accounts"]:
        lines.append("账户 " + "、".join(found["accounts"][:20])
                     + " 的密码或设置码记录与签名不符: 已不能登录")
    return lines


def reseal_all(conn: Connection, signer: Signer, now: datetime) -> dict[str, Any]:
    """The key holder accepts the directory as it is; a token whose seal is broken is revoked
    and an account's broken credentials are cleared (a new set-up code lets the person in
    again). Returns what was found, for the audit event."""
    found = broken(conn, signer)
    seal_directory(conn, signer)
    for token_id in found["tokens"]:
        conn.execute(update(TOKEN).where(TOKEN.c.id == token_id).values(revoked_at=now))
        reseal_token(conn, signer, token_id)
    for login in found["accounts"]:
        conn.execute(update(ACCOUNT).where(ACCOUNT.c.login == login).values(
            password_hash=None, must_change=False, setup_code_hash=None,
            setup_expires_at=None))
        reseal_account(conn, signer, login)
    return found


def refuse_if_sealed_before(conn: Connection) -> None:
    """The upgrade that brings seals signs what exists, once: a database that was sealed
    already (its schema version set back by hand, to have its rows signed) is refused."""
    sealed = conn.execute(select(META.c.key).where(META.c.key == DIRECTORY_SEAL)).first() \
        or conn.execute(select(AUDIT_EVENT.c.seq).where(AUDIT_EVENT.c.action == "sealed")
                        .limit(1)).first()
    if sealed:
        raise IntegrityFailure(
            "本库已签名封存过, 但结构版本记为 0009 之前: 版本号可能被改回, 不会重新签名; "
            "请运行 duban audit verify 查看, 核实后用 duban audit reseal")


def seal_everything(conn: Connection, signer: Signer) -> dict[str, int]:
    """At the upgrade that brings seals: sign what the database holds now."""
    seal_directory(conn, signer)
    token_ids = list(conn.execute(select(TOKEN.c.id)).scalars())
    for token_id in token_ids:
        reseal_token(conn, signer, token_id)
    logins = list(conn.execute(select(ACCOUNT.c.login)).scalars())
    for login in logins:
        reseal_account(conn, signer, login)
    return {"tokens": len(token_ids), "accounts": len(logins)}
