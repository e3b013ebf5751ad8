"""Who is acting, and what they are to an item.

The actor is the operating-system login mapped to a person. Acting as someone else is allowed
only to admins, or to anyone in a demo database, where it lets one user play the whole office.
Item-relative roles (handler, unit head, lead leader) pass to a person's deputy while that
person is away (AB岗).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from engine.errors import NotFound, Refused
from engine.models import META, PERSON, ROLE_LABELS, UNIT, Person, Role

ITEM_RELATIVE = (Role.handler, Role.unit_head, Role.lead_leader)


def get_person(conn: Connection, login: str) -> Person | None:
    row = conn.execute(select(PERSON).where(PERSON.c.login == login)).mappings().first()
    return None if row is None else Person(**row)


def is_demo(conn: Connection) -> bool:
    return conn.execute(select(META.c.value).where(META.c.key == "demo")).scalar() == "true"


def identify(conn: Connection, os_login: str, act_as: str | None) -> Person:
    """The person a command acts as; refuses unknown logins and unauthorised ``--as``."""
    me = get_person(conn, os_login)
    if act_as and act_as != os_login:
        if not is_demo(conn) and (me is None or Role.admin not in me.roles):
            raise Refused(f"只有管理员(或演示库中)才能以他人身份(--as {act_as})操作")
        other = get_person(conn, act_as)
        if other is None:
            raise NotFound(f"没有登录名为 {act_as} 的人员")
        me = other
    if me is None:
        raise Refused(f"系统用户 {os_login} 未登记为人员: 请管理员用 duban person add 登记")
    if not me.active:
        raise Refused(f"{me.name}({me.login}) 已停用")
    return me


def roles_on_item(
    conn: Connection,
    person: Person,
    item: Mapping[str, Any],
    now: datetime,
    wanted: tuple[Role, ...] = (),
) -> frozenset[Role]:
    """Global roles plus what the person is to this item, directly or as an away colleague's
    deputy. When a global role already satisfies ``wanted``, the lookups are skipped."""
    roles = {Role(role) for role in person.roles if role in (Role.supervisor, Role.admin)}
    if roles & set(wanted):
        return frozenset(roles)
    head = conn.execute(select(UNIT.c.head_login).where(UNIT.c.code == item["lead_unit"])).scalar()
    roles |= _relative_roles(person, item, head)
    if not roles & set(ITEM_RELATIVE):
        principals = conn.execute(
            select(PERSON).where(PERSON.c.deputy_login == person.login, PERSON.c.active)
        ).mappings()
        for row in principals:
            principal = Person(**row)
            if principal.away_until is not None and principal.away_until > now:
                roles |= _relative_roles(principal, item, head)
    return frozenset(roles)


def _relative_roles(person: Person, item: Mapping[str, Any], head: str | None) -> set[Role]:
    roles: set[Role] = set()
    in_unit = person.unit_code == item["lead_unit"]
    if in_unit and Role.handler in person.roles:
        roles.add(Role.handler)
    if head == person.login or (in_unit and Role.unit_head in person.roles):
        roles.add(Role.unit_head)
    if item["lead_leader"] == person.login:
        roles.add(Role.lead_leader)
    return roles


def role_names(roles: tuple[Role, ...] | frozenset[Role]) -> str:
    return "、".join(ROLE_LABELS[role] for role in roles)
