"""Who is acting, and what they are to an item.

The actor is the operating-system login mapped to a person. Acting as someone else is allowed
only to admins, or to anyone in a demo database, where it lets one user play the whole office.
Item-relative roles (handler, unit head, lead leader, co-unit, the unit's liaison) pass to a
person's deputy while that person is away (AB岗); the deputy then acts on their behalf (代办).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from duban.engine.errors import NotFound, Refused
from duban.engine.models import ROLE_LABELS, Role
from duban.engine.validation import shown

if TYPE_CHECKING:
    from duban.engine.directory_cache import Directory

ITEM_RELATIVE = (Role.handler, Role.unit_head, Role.lead_leader, Role.co_unit, Role.liaison)
GLOBAL_ROLES = (Role.supervisor, Role.admin)



@dataclass(frozen=True)
class Actor:
    """A person as the engine needs them while acting: a plain value, cheap to build."""

    login: str
    name: str
    unit_code: str | None
    roles: frozenset[str]
    deputy_login: str | None = None
    away_until: datetime | None = None
    active: bool = True

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Actor:
        return cls(row["login"], row["name"], row["unit_code"], frozenset(row["roles"]),
                   row["deputy_login"], row["away_until"], row["active"])

    def has(self, role: Role) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class Identity:
    """Who runs a command: the operating-system login and, maybe, whom they act as."""

    os_login: str
    act_as: str | None = None


@dataclass(frozen=True)
class Bearer:
    """A token presented by a client (the API, a web session, ``duban --token``)."""

    token: str = field(repr=False)

    @property
    def label(self) -> str:
        """How a refusal names the bearer: the token's first characters, never the token."""
        return "token:" + self.token[4:12]


SYSTEM = Actor("system", "督办系统", None, frozenset({Role.supervisor}))


def get_actor(directory: Directory, login: str) -> Actor | None:
    row = directory.people.get(login)
    return None if row is None else Actor.from_row(row)


def identify(directory: Directory, os_login: str, act_as: str | None) -> Actor:
    """The person a command acts as; refuses unknown logins and unauthorised ``--as``."""
    me = get_actor(directory, os_login)
    if act_as and act_as != os_login:
        if not directory.demo and (me is None or not me.has(Role.admin)):
            raise Refused(f"只有管理员(或演示库中)才能以他人身份(--as {shown(act_as)})操作")
        other = get_actor(directory, act_as)
        if other is None:
            raise NotFound(f"没有登录名为 {shown(act_as)} 的人员")
        me = other
    if me is None:
        raise Refused(f"系统用户 {shown(os_login)} 未登记为人员: 请管理员用 duban person add 登记")
    if not me.active:
        raise Refused(f"{me.name}({me.login}) 已停用")
    return me


def roles_on_item(
    directory: Directory,
    actor: Actor,
    item: Mapping[str, Any],
    now: datetime,
    wanted: tuple[Role, ...] = (),
) -> frozenset[Role]:
    """Global roles plus what the person is to this item, directly or as an away colleague's
    deputy. Lookups stop as soon as a role in ``wanted`` is found."""
    return standing(directory, actor, item, now, wanted).roles


class Standing(NamedTuple):
    """What a person is to an item, and whose place they take when they act as a deputy."""

    roles: frozenset[Role]
    on_behalf_of: str | None = None  # the away colleague (代办)


def standing(
    directory: Directory,
    actor: Actor,
    item: Mapping[str, Any],
    now: datetime,
    wanted: tuple[Role, ...] = (),
) -> Standing:
    roles = {Role(role) for role in actor.roles if role in GLOBAL_ROLES}
    wanted_set = set(wanted)
    if roles & wanted_set:
        return Standing(frozenset(roles))
    units = _UnitLookup(directory, item["lead_unit"])
    roles |= _relative_roles(actor, item, units, wanted_set)
    on_behalf_of = None
    if not roles & set(ITEM_RELATIVE):
        for row in directory.people.values():
            if row["deputy_login"] != actor.login or not row["active"]:
                continue
            principal = Actor.from_row(row)
            if principal.away_until is not None and principal.away_until > now:
                theirs = _relative_roles(principal, item, units, set())
                if theirs and on_behalf_of is None:
                    on_behalf_of = principal.login
                roles |= theirs
    return Standing(frozenset(roles), on_behalf_of)


class _UnitLookup:
    """The lead unit's registered head and liaison, and the units a person is the liaison
    of, from the transaction's directory."""

    def __init__(self, directory: Directory, unit_code: str) -> None:
        self.directory = directory
        self._lead = directory.units.get(unit_code) or {}

    def head(self) -> str | None:
        return self._lead.get("head_login")

    def liaison(self) -> str | None:
        return self._lead.get("liaison_login")

    def liaison_of(self, login: str) -> set[str]:
        return {code for code, unit in self.directory.units.items()
                if unit["liaison_login"] == login}


def _relative_roles(
    actor: Actor, item: Mapping[str, Any], units: _UnitLookup, wanted: set[Role]
) -> set[Role]:
    roles: set[Role] = set()
    in_unit = actor.unit_code == item["lead_unit"]
    if in_unit and actor.has(Role.handler):
        roles.add(Role.handler)
    if item["lead_leader"] == actor.login:
        roles.add(Role.lead_leader)
    if roles & wanted:
        return roles
    if (in_unit and actor.has(Role.unit_head)) or units.head() == actor.login:
        roles.add(Role.unit_head)
    if units.liaison() == actor.login:  # the unit's liaison acts for the unit
        roles |= {Role.liaison, Role.handler}
    co_units = set(item["co_units"] or ())
    if co_units and (actor.unit_code in co_units and (
            actor.has(Role.handler) or actor.has(Role.unit_head))
            or not roles and co_units & units.liaison_of(actor.login)):
        roles.add(Role.co_unit)
    return roles


def role_names(roles: tuple[Role, ...] | frozenset[Role]) -> str:
    return "、".join(ROLE_LABELS[role] for role in roles)
