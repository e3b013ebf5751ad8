"""双随机一公开: inspected units and their inspectors drawn at random, openly and reproducibly.

The draw is a published procedure anyone can re-run by hand or in any language: every
candidate is ranked by ``SHA-256("<seed>|<campaign>|unit|<code>")`` (inspectors of a drawn unit
by ``SHA-256("<seed>|<campaign>|<unit code>|<login>")``), the lowest hashes first. The seed is
fixed before the draw (a value announced in advance, e.g. a lottery number or the closing
index of a named day), so nobody can steer the result once the lists are known. An inspector
never inspects their own unit. The inputs and the result are one audit event (``draw``), and
the public board shows it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from duban.engine.errors import InvalidInput, NotFound, Refused
from duban.engine.models import AUDIT_EVENT, Role
from duban.engine.txn import ReadTxn, Txn
from duban.engine.validation import clean_text, shown

MAX_DRAWN = 10_000


@dataclass(frozen=True)
class DrawSpec:
    campaign: str
    seed: str
    units: int  # how many units to inspect
    inspectors: int  # inspectors per drawn unit
    unit_pool: tuple[str, ...] = ()  # unit codes; empty: every unit of the directory
    inspector_pool: tuple[str, ...] = ()  # logins; empty: every active inspector


def rank(seed: str, campaign: str, scope: str, names: Sequence[str]) -> list[str]:
    """``names`` in the order of the published procedure."""
    def key(name: str) -> str:
        return hashlib.sha256(f"{seed}|{campaign}|{scope}|{name}".encode()).hexdigest()

    return sorted(names, key=lambda name: (key(name), name))


def draw(txn: Txn, spec: DrawSpec) -> dict[str, Any]:
    """Draw, record and return the result (the office only)."""
    if not txn.actor.has(Role.supervisor):
        raise Refused(f"{txn.actor.name}无权组织抽查: 只有督查员可以")
    campaign = clean_text(spec.campaign, "抽查名称", max_length=120, required=True)
    seed = clean_text(spec.seed, "随机种子", max_length=200, required=True)
    if _already_drawn(txn, campaign):
        raise Refused(f"抽查“{campaign}”已经抽取过: 结果已公开, 不能重抽")
    if not 1 <= spec.units <= MAX_DRAWN or not 1 <= spec.inspectors <= MAX_DRAWN:
        raise InvalidInput(f"抽取数量应在 1 至 {MAX_DRAWN} 之间")
    units = _unit_pool(txn, spec.unit_pool)
    inspectors = _inspector_pool(txn, spec.inspector_pool)
    if spec.units > len(units):
        raise InvalidInput(f"被抽查单位名单只有 {len(units)} 个, 不能抽取 {spec.units} 个")
    people = txn.directory.people
    result = []
    for code in rank(seed, campaign, "unit", units)[:spec.units]:
        eligible = [login for login in inspectors if people[login]["unit_code"] != code]
        if len(eligible) < spec.inspectors:
            raise InvalidInput(f"检查人员名单中可派往 {code} 的(本单位人员回避)只有 "
                               f"{len(eligible)} 名, 不足 {spec.inspectors} 名")
        team = rank(seed, campaign, code, eligible)[:spec.inspectors]
        result.append({"unit": code, "unit_name": txn.directory.units[code]["name"],
                       "inspectors": team,
                       "inspector_names": [people[login]["name"] for login in team]})
    payload = {"campaign": campaign, "seed": seed, "units": spec.units,
               "inspectors": spec.inspectors, "unit_pool": units, "inspector_pool": inspectors,
               "procedure": "各单位按 SHA-256(“种子|抽查名称|unit|单位代码”) 的十六进制值由小到大"
                            "排序, 取前若干个; 每个被抽中单位的检查人员(回避本单位人员)按 "
                            "SHA-256(“种子|抽查名称|单位代码|登录名”) 由小到大排序取前若干名",
               "result": result}
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="draw", payload=payload)
    return {**payload, "at": txn.now, "by": txn.actor.login}


def draws(txn: ReadTxn, campaign: str | None = None) -> list[dict[str, Any]]:
    """The draws recorded, oldest first (their inputs and results are public)."""
    query = select(AUDIT_EVENT.c.at, AUDIT_EVENT.c.actor, AUDIT_EVENT.c.payload).where(
        AUDIT_EVENT.c.action == "draw").order_by(AUDIT_EVENT.c.seq)
    found = [{**row.payload, "at": row.at, "by": row.actor} for row in txn.conn.execute(query)]
    if campaign is not None:
        found = [d for d in found if d["campaign"] == campaign]
        if not found:
            raise NotFound(f"没有名为“{shown(campaign)}”的抽查")
    return found


def _already_drawn(txn: ReadTxn, campaign: str) -> bool:
    return any(d["campaign"] == campaign for d in draws(txn))


def _unit_pool(txn: ReadTxn, given: Sequence[str]) -> list[str]:
    units = txn.directory.units
    codes = sorted(set(given)) if given else sorted(units)
    unknown = [code for code in codes if code not in units]
    if unknown:
        raise InvalidInput(f"没有单位 {shown('、'.join(unknown))}")
    if not codes:
        raise InvalidInput("被抽查单位名单为空")
    return codes


def _inspector_pool(txn: ReadTxn, given: Sequence[str]) -> list[str]:
    people = txn.directory.people
    if given:
        logins = sorted(set(given))
        unknown = [login for login in logins if login not in people]
        if unknown:
            raise InvalidInput(f"没有人员 {shown('、'.join(unknown))}")
        inactive = [login for login in logins if not people[login]["active"]]
        if inactive:
            raise InvalidInput(f"人员 {'、'.join(inactive)} 已停用, 不能参加抽查")
        return logins
    logins = sorted(login for login, p in people.items()
                    if p["active"] and Role.inspector.value in (p["roles"] or ()))
    if not logins:
        raise InvalidInput("没有可抽取的检查人员: 请用 --inspector 指定, 或登记特邀督查员")
    return logins
