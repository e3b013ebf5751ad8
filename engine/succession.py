"""When someone leaves: the work they leave open, and handing it over (新官要理旧账).

A hand-over moves, in one transaction, everything open that the person owned or led to their
successor: the items they signed for (责任人), the items they lead as leader, the units they
head or are the liaison of, and the colleagues they stood in for as deputy. Each item's change
is an audit event of its own with both names, so the history keeps who had it before.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from duban.engine import directory, items
from duban.engine.errors import InvalidInput, Refused
from duban.engine.models import ITEM, Role
from duban.engine.txn import ReadTxn, Txn
from duban.engine.validation import clean_text
from duban.engine.workflow import Draft


def open_work(txn: ReadTxn, login: str) -> dict[str, Any]:
    """What a person leaves open: who must take it over is the question it answers."""
    person = directory.get_person_row(txn, login)
    open_states = txn.registry.state_names(lambda state: not state.final)
    rows = [dict(row) for row in txn.conn.execute(
        select(ITEM.c.id, ITEM.c.title, ITEM.c.lead_unit, ITEM.c.lead_leader, ITEM.c.attrs,
               ITEM.c.current_deadline)
        .where(ITEM.c.state.in_(open_states)).order_by(ITEM.c.id)).mappings()]
    units = txn.directory.units
    return {
        "login": login, "name": person["name"], "active": person["active"],
        "owned": [r for r in rows if (r["attrs"] or {}).get("owner") == login],
        "led": [r for r in rows if r["lead_leader"] == login],
        "head_of": sorted(code for code, u in units.items() if u["head_login"] == login),
        "liaison_of": sorted(code for code, u in units.items() if u["liaison_login"] == login),
        "deputy_for": sorted(p["login"] for p in txn.directory.people.values()
                             if p["deputy_login"] == login),
    }


def hand_over(txn: Txn, login: str, successor: str, reason: str, *,
              deactivate: bool = False) -> dict[str, Any]:
    """Move everything open of ``login`` to ``successor``; optionally deactivate ``login``."""
    directory.require_admin(txn)
    reason = clean_text(reason, "理由", max_length=500)
    if successor == login:
        raise InvalidInput("接任者不能是本人")
    work = open_work(txn, login)
    heir = directory.get_person_row(txn, successor)
    if not heir["active"]:
        raise Refused(f"接任者 {heir['name']}({successor}) 已停用")
    problems = [f"事项 {r['id']} 由 {r['lead_unit']} 承办, 接任者不在该单位"
                for r in work["owned"] if heir["unit_code"] != r["lead_unit"]]
    if work["led"] and Role.lead_leader not in heir["roles"]:
        problems.append(f"{heir['name']}不是牵头领导, 不能接任 {len(work['led'])} 个事项的牵头领导")
    if problems:  # 一次性告知
        raise InvalidInput("; ".join(problems))
    note = f"{work['name']}({login}) 移交 {heir['name']}({successor}): {reason}"
    moved = _move_items(txn, work, login, successor, note)
    for code in work["head_of"]:
        directory.edit_unit(txn, code, {"head_login": successor})
    for code in work["liaison_of"]:
        directory.edit_unit(txn, code, {"liaison_login": successor})
    for colleague in work["deputy_for"]:
        deputy = None if colleague == successor else successor
        directory.edit_person(txn, colleague, {"deputy_login": deputy})
    summary = {"from": login, "to": successor, "items": moved, "head_of": work["head_of"],
               "liaison_of": work["liaison_of"], "deputy_for": work["deputy_for"]}
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="handed_over", reason=reason,
                     payload=summary)
    if deactivate:
        directory.set_active(txn, login, False, reason)
    return summary


def _move_items(txn: Txn, work: dict[str, Any], login: str, successor: str,
                note: str) -> list[int]:
    moved = []
    for item_id in sorted({r["id"] for r in (*work["owned"], *work["led"])}):
        item = items.load(txn, item_id, for_update=True)
        draft = Draft(item)
        if draft.attr("owner") == login:
            draft.set_attr("owner", successor)
        if draft["lead_leader"] == login:
            draft.set("lead_leader", successor)
        items.save(txn, draft, action="handed_over", reason=note,
                   payload={"from": login, "to": successor})
        moved.append(item_id)
    return moved
