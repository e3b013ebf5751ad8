"""Admin-loaded calendar years: validated, stored, audited, and what they change.

A year file (TOML) carries one year's arrangement as the State Council publishes it. Loading
it replaces any earlier load of that year; deadlines that were computed provisionally are
recomputed, and every deadline that moves is recorded and tells its unit.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from duban.engine import deadlines, items, notices
from duban.engine.errors import InvalidInput, Refused
from duban.engine.models import CALENDAR_YEAR, ITEM, Role
from duban.engine.timers import Recipient
from duban.engine.timeutil import iso
from duban.engine.txn import Txn
from duban.engine.workcalendar import WorkCalendar, YearArrangement, YearStatus
from duban.engine.workflow import Draft


def stamp(conn: Connection) -> tuple[int, Any]:
    """Changes whenever a year is loaded: cheap to compare on every transaction."""
    row = conn.execute(
        select(func.count(), func.max(CALENDAR_YEAR.c.loaded_at)).select_from(CALENDAR_YEAR)
    ).one()
    return (row[0], row[1])


def loaded_years(conn: Connection) -> list[YearArrangement]:
    return [
        YearArrangement(
            row.year,
            frozenset(date.fromisoformat(d) for d in row.holidays),
            frozenset(date.fromisoformat(d) for d in row.workdays),
            YearStatus(row.status),
            row.source,
        )
        for row in conn.execute(select(CALENDAR_YEAR))
    ]


def read_year_file(path: Path) -> YearArrangement:
    """Parse and check a year file, reporting every problem at once (一次性告知)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"找不到文件 {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InvalidInput(f"{path} 不是有效的 TOML 文件: {err}") from None
    problems: list[str] = []
    year = data.get("year")
    if not isinstance(year, int):
        raise InvalidInput(f"{path}: 缺少 year = 年份")
    status = data.get("status", "official")
    if status not in YearStatus.__members__:
        problems.append(f"status 只能是 official 或 provisional, 不是 {status}")
    days: dict[str, set[date]] = {}
    for key in ("holidays", "workdays"):
        days[key] = set()
        for raw in data.get(key, []):
            try:
                days[key].add(date.fromisoformat(str(raw)))
            except ValueError:
                problems.append(f"{key} 中的 {raw} 不是日期")
    unknown = sorted(set(data) - {"year", "status", "source", "holidays", "workdays"})
    if unknown:
        problems.append(f"未知设置项 {'、'.join(unknown)}")
    arrangement = YearArrangement(
        year, frozenset(days["holidays"]), frozenset(days["workdays"]),
        YearStatus(status) if status in YearStatus.__members__ else YearStatus.provisional,
        str(data.get("source", "")),
    )
    problems += arrangement.problems()
    if problems:
        raise InvalidInput(f"{path}: " + "; ".join(problems))
    return arrangement


def load_year(txn: Txn, arrangement: YearArrangement) -> dict[str, Any]:
    """Store the year, then recompute the provisional deadlines it settles."""
    if not txn.actor.has(Role.admin):
        raise Refused(f"{txn.actor.name}无权加载节假日安排: 只有管理员可以")
    # Lock the items to recompute up front, in id order, as every batch of the daemon does.
    txn.conn.execute(select(ITEM.c.id).where(ITEM.c.deadline_provisional).order_by(ITEM.c.id)
                     .with_for_update())
    calendar = WorkCalendar.from_package([*_others(txn.conn, arrangement.year), arrangement])
    working_days = calendar.workdays_in_year(arrangement.year)
    txn.conn.execute(delete(CALENDAR_YEAR).where(CALENDAR_YEAR.c.year == arrangement.year))
    row = {
        "year": arrangement.year,
        "status": arrangement.status.value,
        "source": arrangement.source,
        "holidays": sorted(d.isoformat() for d in arrangement.holidays),
        "workdays": sorted(d.isoformat() for d in arrangement.workdays),
        "working_days": working_days,
        "loaded_at": txn.now,
        "loaded_by": txn.actor.login,
    }
    txn.conn.execute(insert(CALENDAR_YEAR), row)
    txn.audit.append(at=txn.now, actor=txn.actor.login, action="calendar_loaded",
                     payload={k: v for k, v in row.items() if k != "loaded_at"})
    txn.calendar = calendar
    moved = recompute_provisional(txn)
    return {**row, "moved_items": moved}


def recompute_provisional(txn: Txn) -> list[int]:
    """Recompute every provisional deadline on the transaction's calendar; returns the items
    whose deadline moved. Each change is an audit event; a moved deadline tells its unit."""
    moved = []
    for item_id in provisional_item_ids(txn.conn):
        item = items.load(txn, item_id, for_update=True)
        basis = item["deadline_basis"] or {"date": iso(item["current_deadline"])}
        again = deadlines.recompute(basis, txn.calendar, txn.tz, txn.closing)
        draft = Draft(item)
        if again.at != item["current_deadline"]:
            draft.set("current_deadline", again.at)
            draft.set("deadline_reason", items.RECALCULATED)
            moved.append(item_id)
        draft.set("deadline_provisional", again.provisional)
        items.save(txn, draft, action="recalculated", reason=items.RECALCULATED)
        if item_id in moved:
            notices.request(txn, draft.values, "deadline_changed",
                            key=f"deadline:{item_id}:{draft['deadline_version']}",
                            to=(Recipient.owner, Recipient.unit_head),
                            payload={"from": iso(item["current_deadline"]), "to": iso(again.at)})
    return moved


def _others(conn: Connection, year: int) -> list[YearArrangement]:
    return [a for a in loaded_years(conn) if a.year != year]


def provisional_item_ids(conn: Connection) -> list[int]:
    return list(conn.execute(select(ITEM.c.id).where(ITEM.c.deadline_provisional)).scalars())
