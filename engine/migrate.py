"""Moving running items from one version of a workflow to another, by an explicit state map.

A changed workflow is a new version; items keep running on the version they started on until
a supervisor migrates them. Every state in use must map onto a state of the new version
(a state of the same name maps onto itself); what does not is reported all at once and
nothing moves. Each migrated item is one ``migrated`` audit event, and its timetable is
planned again from the new version in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select

from duban.engine import items
from duban.engine.errors import InvalidInput, Refused
from duban.engine.models import ITEM, Role
from duban.engine.txn import ReadTxn, Txn
from duban.engine.workflow import Draft, Workflow


@dataclass
class MigrationPlan:
    name: str
    from_version: int
    to_version: int
    moves: dict[str, tuple[str, int]]  # old state → (new state, items)

    @property
    def items(self) -> int:
        return sum(count for _, count in self.moves.values())


def plan(txn: ReadTxn, source: Workflow, target: Workflow, mapping: Mapping[str, str],
         item_ids: list[int] | None = None) -> MigrationPlan:
    """Check the map against both versions and the items; every problem at once."""
    problems = []
    old_states = {state.name for state in source.states}
    new_states = {state.name for state in target.states}
    for old, new in mapping.items():
        if old not in old_states:
            problems.append(f"第{source.version}版没有状态 {old}")
        if new not in new_states:
            problems.append(f"第{target.version}版没有状态 {new}")
    query = (select(ITEM.c.state, func.count()).where(
        ITEM.c.workflow == source.name, ITEM.c.workflow_version == source.version)
        .group_by(ITEM.c.state))
    if item_ids:
        query = query.where(ITEM.c.id.in_(item_ids))
    in_use = dict(txn.conn.execute(query).all())
    moves = {}
    for state, count in sorted(in_use.items()):
        new = mapping.get(state, state if state in new_states else None)
        if new is None:
            problems.append(f"状态 {state}({count} 个事项)在第{target.version}版中不存在, "
                            f"请用 --map {state}=新状态 指定")
        else:
            moves[state] = (new, count)
    if problems:
        raise InvalidInput("; ".join(problems))
    return MigrationPlan(source.name, source.version, target.version, moves)


def migrate(txn: Txn, name: str, from_version: int, to_version: int,
            mapping: Mapping[str, str], item_ids: list[int] | None = None) -> MigrationPlan:
    if not (txn.actor.has(Role.supervisor) or txn.actor.has(Role.admin)):
        raise Refused(f"{txn.actor.name}无权迁移工作流: 只有督查员或管理员可以")
    if from_version == to_version:
        raise InvalidInput("迁移前后的版本相同")
    source = txn.registry.get(name, from_version)
    target = txn.registry.get(name, to_version)
    chosen = plan(txn, source, target, mapping, item_ids)
    query = select(ITEM.c.id).where(ITEM.c.workflow == name,
                                    ITEM.c.workflow_version == from_version).order_by(ITEM.c.id)
    if item_ids:
        query = query.where(ITEM.c.id.in_(item_ids))
    for item_id in txn.conn.execute(query).scalars().all():
        item = items.load(txn, item_id, for_update=True)
        new_state = chosen.moves[item["state"]][0]
        draft = Draft(item)
        draft.set("workflow_version", to_version)
        draft.set("state", new_state)
        items.save(txn, draft, action="migrated", reason=f"工作流 {name} 第{from_version}版 → "
                   f"第{to_version}版", payload={"from_version": from_version,
                                               "to_version": to_version})
    return chosen
