"""What the office reads and sends from the whole database: the ledger, the clear-to-zero
view, the period figures, the assessment and its circular, Excel in and out.

Each function works in the caller's transaction: the service opens it as the acting person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import select

from duban.engine import assessment, excel, figures, items, ledger, notices, visibility
from duban.engine.deadlines import compute
from duban.engine.errors import Conflict, InvalidInput, Refused
from duban.engine.models import PERSON, UNIT, Role
from duban.engine.periods import Period
from duban.engine.timers import Recipient
from duban.engine.timeutil import local_text
from duban.engine.txn import ReadTxn, Txn

Progress = Callable[[str, int, int], None]
IMPORT_BATCH = 1000


def _visible(txn: ReadTxn) -> Any:
    return visibility.item_clause(visibility.scope_of(txn))


def ledger_page(txn: ReadTxn, flt: ledger.LedgerFilter, *, limit: int | None = 200,
                offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """A page of the ledger the reader may see, and how many such items match in all."""
    first = None if limit is None else offset + limit
    branches = visibility.item_branches(
        visibility.scope_of(txn), ledger.narrowing(txn.registry, flt, txn.now, txn.tz, first))
    rows = ledger.page(txn.conn, txn.registry, flt, now=txn.now, tz=txn.tz,
                       calendar=txn.calendar, limit=limit, offset=offset, branches=branches,
                       units=txn.directory.units)
    return rows, ledger.count(txn.conn, txn.registry, flt, txn.now, txn.tz, branches)


def clear_to_zero(txn: ReadTxn, per_unit: int = 5) -> list[dict[str, Any]]:
    return ledger.clear_to_zero(txn.conn, txn.registry, txn.now, per_unit, _visible(txn))


def period_figures(txn: ReadTxn, period: Period, by: str = "unit") -> list[figures.Figures]:
    """A period's figures: of every unit for leaders and the office, a unit's own for it;
    by leader or by problem category only for leaders and the office."""
    visibility.require_figures(txn)
    if by != "unit" and not visibility.scope_of(txn).sees_figures:
        raise Refused(f"{txn.actor.name}无权查看按{'领导' if by == 'leader' else '类别'}"
                      "的统计: 只有领导和督查室可以")
    rows = figures.period_figures(txn.conn, txn.registry, period, now=txn.now, tz=txn.tz, by=by)
    return visibility.figures_for(txn, rows)


def assess(txn: ReadTxn, period: Period, weights: assessment.Weights) -> assessment.Assessment:
    """The assessment: every unit's score for leaders and the office, a unit's own for it."""
    visibility.require_figures(txn)
    result = assessment.assess(txn.conn, txn.registry, period, weights, now=txn.now, tz=txn.tz)
    if visibility.scope_of(txn).sees_figures:
        return result
    own = [s for s in result.standings if s.figures.key in visibility.scope_of(txn).units]
    return replace(result, standings=own, total=figures.totals([s.figures for s in own]))


def circular(txn: Txn, period: Period, weights: assessment.Weights) -> dict[str, Any]:
    """Write the period's circular (通报) as a notice to every ranked unit's head, copied to
    the leaders; delivered like every notice. One circular per period."""
    if not txn.actor.has(Role.supervisor):
        raise Refused(f"{txn.actor.name}无权发布通报: 只有督查员可以")
    result = assessment.assess(txn.conn, txn.registry, period, weights, now=txn.now, tz=txn.tz)
    if not result.standings:
        raise InvalidInput(f"{period.label}没有可通报的事项")
    payload = assessment.circular_payload(txn.conn, txn.registry, result, now=txn.now,
                                          tz=txn.tz, calendar=txn.calendar)
    codes = [s.figures.key for s in result.standings]
    heads = [login for (login,) in txn.conn.execute(
        select(UNIT.c.head_login).where(UNIT.c.code.in_(codes), UNIT.c.head_login.is_not(None))
        .order_by(UNIT.c.code))]
    leaders = [p["login"] for p in txn.conn.execute(
        select(PERSON.c.login, PERSON.c.roles).where(PERSON.c.active)
        .order_by(PERSON.c.login)).mappings() if Role.lead_leader in p["roles"]]
    key = f"circular:{period.code}"
    written = notices.write(txn, None, "circular", key=key, to=heads, cc=leaders,
                            payload=payload)
    if written is None:
        raise Conflict(f"{period.label}的通报已经发布过")
    return {"notice": written, "key": key, "payload": payload, "to": heads, "cc": leaders}


def export_ledger(txn: ReadTxn, flt: ledger.LedgerFilter, path: Path) -> int:
    """The whole filtered ledger to a workbook, streamed: memory stays flat over any size."""
    clear = clear_to_zero(txn)
    people = {login: person["name"] for login, person in txn.directory.people.items()}
    stmt = ledger.query(txn.registry, flt, txn.now, txn.tz, _visible(txn))
    result = txn.conn.execution_options(yield_per=2000).execute(stmt).mappings()

    def rows():
        for chunk in result.partitions():
            yield from ledger.enrich(txn.conn, txn.registry, [dict(r) for r in chunk],
                                     now=txn.now, tz=txn.tz, calendar=txn.calendar,
                                     units=txn.directory.units)

    units = {code: unit["name"] for code, unit in txn.directory.units.items()}
    return excel.write_ledger(path, rows(), clear, people, txn.tz, made=txn.now,
                              scope=ledger.describe(flt, txn.registry, units, people),
                              workflows=ledger.workflow_labels(txn.registry))


def check_task_list(txn: ReadTxn, path: Path, progress: Progress) -> excel.TaskList:
    """Read and check a whole task list; every problem is reported at once (一次性告知)."""
    units = dict(txn.conn.execute(select(UNIT.c.code, UNIT.c.name)).all())
    people = dict(txn.conn.execute(select(PERSON.c.login, PERSON.c.name)).all())

    def deadline(text: str):
        return compute(text, txn.now, txn.calendar, txn.tz, txn.closing).at

    found = excel.read_task_list(path, units=units, people=people, tz=txn.tz,
                                 parse_deadline=deadline,
                                 progress=lambda done, total: progress("检查", done, total))
    for row, item in found.items:  # what the engine would refuse, reported with its row
        if item.deadline <= txn.now:
            found.problems.append(excel.Problem(row, "完成时限", "完成时限已经过去"))
        if item.lead_unit in item.co_units:
            found.problems.append(excel.Problem(row, "协办单位", "协办单位不能包含责任单位"))
    if found.problems:
        found.problems.sort(key=lambda p: p.row)
        raise excel.ImportProblems(found.problems)
    return found


def create_task_list(txn: Txn, found: excel.TaskList, workflow: str, list_name: str,
                     progress: Progress) -> list[int]:
    """Create every item of a checked task list, all in this transaction."""
    created: list[dict[str, Any]] = []
    total = len(found.items)
    specs = [replace(spec, workflow=workflow) for _, spec in found.items]
    for first in range(0, total, IMPORT_BATCH):
        created.extend(items.create_many(txn, specs[first:first + IMPORT_BATCH]))
        progress("导入", len(created), total)
    _notify_units(txn, created, list_name)
    return [item["id"] for item in created]


def _notify_units(txn: Txn, created: list[dict[str, Any]], list_name: str) -> None:
    """防止增加基层负担: one 交办通知 per unit listing its tasks, not one per task."""
    units = {code: unit["name"] for code, unit in txn.directory.units.items()}
    by_unit: dict[str, list[dict[str, Any]]] = {}
    for item in created:
        by_unit.setdefault(item["lead_unit"], []).append(item)
    for code, unit_items in by_unit.items():
        first = unit_items[0]
        rows = [[str(item["id"]), item["title"], local_text(item["current_deadline"], txn.tz)[:10],
                 "、".join(units.get(c, c) for c in item["co_units"])] for item in unit_items]
        notices.write(
            txn, None, "assignment_list", key=f"import:{first['id']}:{code}",
            to=notices.resolve(txn, first, (Recipient.handlers, Recipient.unit_head)),
            payload={"list_name": f"《{list_name}》", "unit": code,
                     "unit_name": units.get(code, code), "rows": rows,
                     "items": [item["id"] for item in unit_items]})
