"""What the office reads and sends from the whole database: the ledger, the clear-to-zero
view, the period figures, the assessment and its circular, Excel in and out.

Functions take the service, as the ticker does; reads use one read transaction, writes one
write transaction (an import is all or nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from duban.engine import assessment, excel, figures, items, ledger
from duban.engine.access import Identity
from duban.engine.errors import Conflict, InvalidInput, Refused
from duban.engine.models import PERSON, UNIT, Role
from duban.engine.periods import Period

if TYPE_CHECKING:
    from duban.engine.service import Service


def ledger_page(service: Service, flt: ledger.LedgerFilter, *, limit: int | None = 200,
                offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """A page of the ledger, and how many items the filter matches in all."""
    now = service.clock.now()
    with service.reading() as conn:
        rows = ledger.page(conn, service.registry, flt, now=now, tz=service.tz,
                           calendar=service.calendar_for(conn), limit=limit, offset=offset)
        total = ledger.count(conn, service.registry, flt, now, service.tz)
    return rows, total


def clear_to_zero(service: Service, per_unit: int = 5) -> list[dict[str, Any]]:
    with service.reading() as conn:
        return ledger.clear_to_zero(conn, service.registry, service.clock.now(), per_unit)


def period_figures(service: Service, period: Period, by: str = "unit") -> list[figures.Figures]:
    with service.reading() as conn:
        return figures.period_figures(conn, service.registry, period,
                                      now=service.clock.now(), tz=service.tz, by=by)


def weights(service: Service) -> assessment.Weights:
    return assessment.weights_from(service.settings.tables.get("assessment", {}))


def assess(service: Service, period: Period) -> assessment.Assessment:
    chosen = weights(service)
    with service.reading() as conn:
        return assessment.assess(conn, service.registry, period, chosen,
                                 now=service.clock.now(), tz=service.tz)


def circular(service: Service, actor: str | Identity, period: Period) -> dict[str, Any]:
    """Write the period's circular (通报) as a notice to every ranked unit's head, copied to
    the leaders; delivered like every notice. One circular per period."""
    chosen = weights(service)

    def work(txn: Any) -> dict[str, Any]:
        if not txn.actor.has(Role.supervisor):
            raise Refused(f"{txn.actor.name}无权发布通报: 只有督查员可以")
        result = assessment.assess(txn.conn, service.registry, period, chosen, now=txn.now,
                                   tz=txn.tz)
        if not result.standings:
            raise InvalidInput(f"{period.label}没有可通报的事项")
        payload = assessment.circular_payload(txn.conn, service.registry, result, now=txn.now,
                                              tz=txn.tz, calendar=txn.calendar)
        codes = [s.figures.key for s in result.standings]
        heads = [login for (login,) in txn.conn.execute(
            select(UNIT.c.head_login).where(UNIT.c.code.in_(codes), UNIT.c.head_login.is_not(None))
            .order_by(UNIT.c.code))]
        leaders = [p["login"] for p in txn.conn.execute(
            select(PERSON.c.login, PERSON.c.roles).where(PERSON.c.active)
            .order_by(PERSON.c.login)).mappings() if Role.lead_leader in p["roles"]]
        key = f"circular:{period.code}"
        written = txn.outbox.enqueue(txn.conn, txn.audit, item=None, kind="circular", key=key,
                                     to=heads, cc=leaders, payload=payload, now=txn.now,
                                     tz=txn.tz, calendar=txn.calendar, actor=txn.actor.login)
        if written is None:
            raise Conflict(f"{period.label}的通报已经发布过")
        return {"notice": written, "key": key, "payload": payload, "to": heads, "cc": leaders}

    return service._write(actor, "circular", work)


def export_ledger(service: Service, flt: ledger.LedgerFilter, path: Path) -> int:
    """The whole filtered ledger to a workbook, streamed: memory stays flat over any size."""
    clear = clear_to_zero(service)
    now = service.clock.now()
    with service.reading() as conn:
        people = dict(conn.execute(select(PERSON.c.login, PERSON.c.name)).all())
        calendar = service.calendar_for(conn)
        stmt = ledger.query(service.registry, flt, now, service.tz)
        result = conn.execution_options(yield_per=2000).execute(stmt).mappings()

        def rows():
            for chunk in result.partitions():
                yield from ledger.enrich(conn, service.registry, [dict(r) for r in chunk],
                                         now=now, tz=service.tz, calendar=calendar)

        return excel.write_ledger(path, rows(), clear, people, service.tz)


def import_task_list(
    service: Service,
    actor: str | Identity,
    path: Path,
    *,
    workflow: str = "standard",
    progress: Callable[[str, int, int], None] = lambda stage, done, total: None,
) -> list[int]:
    """Check the whole workbook, then create every item in one transaction, or none."""
    from duban.engine.deadlines import compute

    now = service.clock.now()
    with service.reading() as conn:
        units = dict(conn.execute(select(UNIT.c.code, UNIT.c.name)).all())
        people = dict(conn.execute(select(PERSON.c.login, PERSON.c.name)).all())
        calendar = service.calendar_for(conn)

    def deadline(text: str):
        return compute(text, now, calendar, service.tz, service.settings.closing_time).at

    found = excel.read_task_list(path, units=units, people=people, tz=service.tz,
                                 parse_deadline=deadline,
                                 progress=lambda done, total: progress("检查", done, total))
    for row, item in found.items:  # what the engine would refuse, reported with its row
        if item.deadline <= now:
            found.problems.append(excel.Problem(row, "完成时限", "完成时限已经过去"))
        if item.lead_unit in item.co_units:
            found.problems.append(excel.Problem(row, "协办单位", "协办单位不能包含责任单位"))
    if found.problems:
        found.problems.sort(key=lambda p: p.row)
        raise excel.ImportProblems(found.problems)

    def work(txn: Any) -> list[int]:
        created: list[dict[str, Any]] = []
        total = len(found.items)
        specs = [replace(spec, workflow=workflow) for _, spec in found.items]
        for first in range(0, total, 1000):
            created.extend(items.create_many(txn, specs[first:first + 1000]))
            progress("导入", len(created), total)
        _notify_units(txn, created, path.stem)
        return [item["id"] for item in created]

    return service._write(actor, "import", work)


def _notify_units(txn: Any, created: list[dict[str, Any]], list_name: str) -> None:
    """防止增加基层负担: one 交办通知 per unit listing its tasks, not one per task."""
    from duban.engine import notices
    from duban.engine.timers import Recipient
    from duban.engine.timeutil import local_text

    units = dict(txn.conn.execute(select(UNIT.c.code, UNIT.c.name)).all())
    by_unit: dict[str, list[dict[str, Any]]] = {}
    for item in created:
        by_unit.setdefault(item["lead_unit"], []).append(item)
    for code, unit_items in by_unit.items():
        first = unit_items[0]
        rows = [[str(item["id"]), item["title"], local_text(item["current_deadline"], txn.tz)[:10],
                 "、".join(units.get(c, c) for c in item["co_units"])] for item in unit_items]
        txn.outbox.enqueue(
            txn.conn, txn.audit, item=None, kind="assignment_list",
            key=f"import:{first['id']}:{code}",
            to=notices.resolve(txn, first, (Recipient.handlers, Recipient.unit_head)), cc=[],
            payload={"list_name": f"《{list_name}》", "unit": code,
                     "unit_name": units.get(code, code), "rows": rows,
                     "items": [item["id"] for item in unit_items]},
            now=txn.now, tz=txn.tz, calendar=txn.calendar, actor=txn.actor.login)
