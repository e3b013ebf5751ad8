"""Units and people: the office's directory. Only admins change it; every change is audited,
and nothing is ever deleted: a person who leaves is deactivated (see ``succession``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from duban.engine.audit import canonical
from duban.engine.errors import Conflict, InvalidInput, NotFound, Refused
from duban.engine.models import PERSON, ROLE_LABELS, UNIT, Role
from duban.engine.txn import ReadTxn, Txn
from duban.engine.validation import check_code, check_email, check_login, clean_text, shown


@dataclass(frozen=True)
class NewPerson:
    login: str
    name: str
    unit_code: str | None = None
    roles: tuple[str, ...] = ()
    deputy_login: str | None = None
    email: str | None = None
    phone: str | None = None


def require_admin(txn: Txn) -> None:
    if not txn.actor.has(Role.admin):
        raise Refused(f"{txn.actor.name}无权维护单位和人员: 只有管理员可以")


def add_unit(
    txn: Txn, code: str, name: str, parent: str | None = None, head: str | None = None
) -> dict[str, Any]:
    require_admin(txn)
    row = {
        "code": check_code(code, "单位代码"),
        "name": clean_text(name, "单位名称", max_length=100),
        "parent_code": parent,
        "head_login": head,
        "liaison_login": None,
        "webhook": None,
        "webhook_style": None,
        "created_at": txn.now,
    }
    if _unit_exists(txn.conn, row["code"]):
        raise Conflict(f"单位代码 {row['code']} 已存在")
    if parent is not None and not _unit_exists(txn.conn, parent):
        raise NotFound(f"没有代码为 {shown(parent)} 的上级单位")
    if head is not None:
        _require_person(txn.conn, head)
    txn.begin_directory_change()
    txn.conn.execute(insert(UNIT), row)
    txn.directory_changed()
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="unit_added",
                     payload={"unit": canonical(row)})
    return row


def set_unit_head(txn: Txn, code: str, head: str) -> dict[str, Any]:
    return edit_unit(txn, code, {"head_login": head})


UNIT_FIELDS = {"name": "单位名称", "parent_code": "上级单位", "head_login": "单位负责人",
               "liaison_login": "督查联络员"}


def edit_unit(txn: Txn, code: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Change a unit's name, parent, head or liaison (督查联络员, one per unit)."""
    require_admin(txn)
    unit = get_unit(txn, code)
    unknown = sorted(set(changes) - set(UNIT_FIELDS))
    if unknown or not changes:
        raise InvalidInput(f"可修改的单位信息: {'、'.join(UNIT_FIELDS.values())}")
    values = dict(changes)
    problems = []
    if "name" in values:
        values["name"] = clean_text(values["name"], "单位名称", max_length=100)
    for key in ("head_login", "liaison_login"):
        login = values.get(key)
        if login is not None and not _person_exists(txn.conn, login):
            problems.append(f"没有登录名为 {shown(login)} 的人员")
    parent = values.get("parent_code")
    if parent is not None:
        if not _unit_exists(txn.conn, parent):
            problems.append(f"没有代码为 {shown(parent)} 的上级单位")
        elif code in _ancestors(txn, parent) | {parent}:
            problems.append(f"{parent} 在 {code} 之下, 不能作其上级单位")
    if problems:  # 一次性告知
        raise InvalidInput("; ".join(problems))
    changed = {k: v for k, v in values.items() if unit[k] != v}
    if changed:
        txn.begin_directory_change()
        txn.conn.execute(update(UNIT).where(UNIT.c.code == code).values(changed))
        txn.directory_changed()
        txn.audit.append(at=txn.now, actor=txn.actor.login, action="unit_changed",
                         payload={"unit": code,
                                  "changes": {k: [unit[k], v] for k, v in changed.items()}})
    return {**unit, **changed}


def _ancestors(txn: ReadTxn, code: str) -> set[str]:
    units, found = txn.directory.units, set()
    while code in units and units[code]["parent_code"] and code not in found:
        code = units[code]["parent_code"]
        found.add(code)
    return found


WEBHOOK_STYLES = ("json", "wecom", "dingtalk")


def set_unit_webhook(txn: Txn, code: str, url: str | None, style: str = "json") -> dict[str, Any]:
    """The unit's group robot (企业微信/钉钉群机器人, or any JSON endpoint); None removes it."""
    require_admin(txn)
    unit = get_unit(txn, code)
    if url is not None:
        url = clean_text(url, "Webhook 地址", max_length=500)
        if not url.startswith(("http://", "https://")):
            raise InvalidInput("Webhook 地址应以 http:// 或 https:// 开头")
        if style not in WEBHOOK_STYLES:
            raise InvalidInput(f"Webhook 格式应为 {'、'.join(WEBHOOK_STYLES)} 之一")
    new_style = style if url is not None else None
    txn.begin_directory_change()
    txn.conn.execute(update(UNIT).where(UNIT.c.code == code)
                     .values(webhook=url, webhook_style=new_style))
    txn.directory_changed()
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="unit_changed",
                     payload={"unit": code, "changes": {
                         "webhook": [unit["webhook"], url],
                         "webhook_style": [unit["webhook_style"], new_style]}})
    return {**unit, "webhook": url, "webhook_style": new_style}


def add_person(txn: Txn, spec: NewPerson, *, bootstrap: bool = False) -> dict[str, Any]:
    """Register a person. ``bootstrap`` lets ``init`` register the very first admin."""
    if not bootstrap:
        require_admin(txn)
    row = _checked_person(txn.conn, spec)
    row["created_at"] = txn.now
    txn.begin_directory_change()
    txn.conn.execute(insert(PERSON), row)
    txn.directory_changed()
    actor = spec.login if bootstrap else txn.actor.login
    txn.audit.append(at=txn.now, actor=actor, action="person_added",
                     payload={"person": canonical(row)})
    return row


PERSON_FIELDS = {"name": "姓名", "unit_code": "单位", "roles": "角色", "deputy_login": "B 岗",
                 "email": "邮箱", "phone": "电话"}


def edit_person(txn: Txn, login: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Change a person's name, unit, roles (the whole list), deputy or contacts."""
    require_admin(txn)
    person = get_person_row(txn, login)
    unknown = sorted(set(changes) - set(PERSON_FIELDS))
    if unknown or not changes:
        raise InvalidInput(f"可修改的人员信息: {'、'.join(PERSON_FIELDS.values())}")
    merged = {**{k: person[k] for k in PERSON_FIELDS}, **changes}
    if merged["deputy_login"] == login:
        raise InvalidInput("不能指定本人为自己的 B 岗")
    if login == txn.actor.login and Role.admin not in merged["roles"]:
        raise Refused("不能取消自己的管理员角色: 请另一位管理员操作")
    checked = _checked_fields(txn.conn, NewPerson(login=login, **{
        k: tuple(v) if k == "roles" else v for k, v in merged.items()}))
    changed = {k: checked[k] for k in changes if checked[k] != person[k]}
    if changed:
        txn.begin_directory_change()
        txn.conn.execute(update(PERSON).where(PERSON.c.login == login).values(changed))
        txn.directory_changed()
        txn.audit.append(at=txn.now, actor=txn.actor.login, action="person_changed",
                         payload={"person": login, "changes": canonical(
                             {k: [person[k], v] for k, v in changed.items()})})
    return {**person, **changed}


def set_active(txn: Txn, login: str, active: bool, reason: str) -> dict[str, Any]:
    """Deactivate a person (cannot sign in or act, receives nothing; nothing is deleted) or
    bring them back."""
    require_admin(txn)
    person = get_person_row(txn, login)
    reason = clean_text(reason, "理由", max_length=500)
    if login == txn.actor.login:
        raise Refused("不能停用或启用自己: 请另一位管理员操作")
    if person["active"] == active:
        raise Refused(f"{person['name']}({login}) 已{'在用' if active else '停用'}")
    txn.begin_directory_change()
    txn.conn.execute(update(PERSON).where(PERSON.c.login == login).values(active=active))
    txn.directory_changed()
    txn.audit.append(at=txn.now, actor=txn.actor.login,
                     action="person_activated" if active else "person_deactivated",
                     reason=reason, payload={"person": login})
    return {**person, "active": active}


def set_away(txn: Txn, login: str, until: datetime | None, deputy: str | None) -> dict[str, Any]:
    """Mark a person away until a date (AB岗): their deputy then acts for them.

    People may mark themselves away; admins may mark anyone.
    """
    if txn.actor.login != login:
        require_admin(txn)
    person = get_person_row(txn, login)
    changes: dict[str, Any] = {"away_until": until}
    if deputy is not None:
        if deputy == login:
            raise InvalidInput("不能指定本人为自己的 B 岗")
        _require_person(txn.conn, deputy)
        changes["deputy_login"] = deputy
    if until is not None and (changes.get("deputy_login") or person["deputy_login"]) is None:
        raise InvalidInput(f"{person['name']}没有 B 岗, 请用 --deputy 指定代为办理的人")
    txn.begin_directory_change()
    txn.conn.execute(update(PERSON).where(PERSON.c.login == login).values(changes))
    txn.directory_changed()
    txn.audit.append(
        at=txn.now, actor=txn.actor.login, action="person_changed",
        payload={"person": login,
                 "changes": canonical({k: [person[k], v] for k, v in changes.items()})},
    )
    return {**person, **changes}


def get_unit(txn: ReadTxn, code: str) -> dict[str, Any]:
    row = txn.conn.execute(select(UNIT).where(UNIT.c.code == code)).mappings().first()
    if row is None:
        raise NotFound(f"没有代码为 {shown(code)} 的单位")
    return dict(row)


def get_person_row(txn: ReadTxn, login: str) -> dict[str, Any]:
    row = txn.conn.execute(select(PERSON).where(PERSON.c.login == login)).mappings().first()
    if row is None:
        raise NotFound(f"没有登录名为 {shown(login)} 的人员")
    return dict(row)


def list_units(txn: ReadTxn) -> list[dict[str, Any]]:
    return [dict(row) for row in txn.conn.execute(select(UNIT).order_by(UNIT.c.code)).mappings()]


def list_people(txn: ReadTxn, unit: str | None = None) -> list[dict[str, Any]]:
    query = select(PERSON).order_by(PERSON.c.unit_code, PERSON.c.login)
    if unit:
        query = query.where(PERSON.c.unit_code == unit)
    return [dict(row) for row in txn.conn.execute(query).mappings()]


def has_people(conn: Connection) -> bool:
    return conn.execute(select(PERSON.c.login).limit(1)).first() is not None


# Roles a person holds; the others (co-unit, liaison) follow from the units and the items.
ASSIGNABLE_ROLES = (Role.handler, Role.unit_head, Role.lead_leader, Role.supervisor, Role.admin,
                    Role.inspector, Role.evaluator)


def _checked_person(conn: Connection, spec: NewPerson) -> dict[str, Any]:
    login = check_login(spec.login)
    if _person_exists(conn, login):
        raise Conflict(f"登录名 {login} 已存在")
    return _checked_fields(conn, spec)


def _checked_fields(conn: Connection, spec: NewPerson) -> dict[str, Any]:
    problems = []
    login = spec.login
    bad_roles = [role for role in spec.roles if role not in ASSIGNABLE_ROLES]
    if bad_roles:
        allowed = "、".join(f"{r.value}({ROLE_LABELS[r]})" for r in ASSIGNABLE_ROLES)
        problems.append(f"未知角色 {shown('、'.join(bad_roles))}, 可选: {allowed}")
    if spec.unit_code is not None and not _unit_exists(conn, spec.unit_code):
        problems.append(f"未知单位 {shown(spec.unit_code)}")
    if spec.deputy_login is not None and not _person_exists(conn, spec.deputy_login):
        problems.append(f"未知 B 岗人员 {shown(spec.deputy_login)}")
    email = None
    try:
        email = check_email(spec.email)
    except InvalidInput as err:
        problems.append(err.message)
    if problems:
        raise InvalidInput("; ".join(problems))
    return {
        "login": login,
        "name": clean_text(spec.name, "姓名", max_length=50),
        "unit_code": spec.unit_code,
        "roles": sorted(set(spec.roles)),
        "deputy_login": spec.deputy_login,
        "away_until": None,
        "email": email,
        "phone": clean_text(spec.phone, "电话", max_length=40, required=False) or None,
        "active": True,
    }


def _unit_exists(conn: Connection, code: str) -> bool:
    return conn.execute(select(UNIT.c.code).where(UNIT.c.code == code)).first() is not None


def _person_exists(conn: Connection, login: str) -> bool:
    return conn.execute(select(PERSON.c.login).where(PERSON.c.login == login)).first() is not None


def _require_person(conn: Connection, login: str) -> None:
    if not _person_exists(conn, login):
        raise NotFound(f"没有登录名为 {shown(login)} 的人员")
