"""Admin-loaded calendar years: validated, stored, audited, and what they change.

A year file (TOML) carries one year's arrangement as the State Council publishes it. Loading
it replaces any earlier load of that year; deadlines that were computed provisionally are
recomputed, and every deadline that moves is recorded and tells its unit.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from duban.engine import deadlines, items, notices, userfiles
from duban.engine.errors import InvalidInput, Refused
from duban.engine.models import CALENDAR_YEAR, ITEM, Role
from duban.engine.timers import Recipient
from duban.engine.timeutil import iso
from duban.engine.txn import Txn
from duban.engine.workcalendar import WorkCalendar, YearArrangement, YearStatus
from duban.engine.workflow import Draft

# A year file is a few hundred bytes; anything near this is not one.
MAX_FILE_BYTES = userfiles.MEGABYTE
FIRST_YEAR, LAST_YEAR = 2000, 2100
MAX_SOURCE = 200  # the title of the State Council's notice, or a note
MAX_DAYS = 366
MAX_REPORTED = 20  # problems of one kind listed before "另有 N 项"
# Only to name the field when tomllib gives up on nesting: a key opening many brackets.
DEEP_NESTING = re.compile(r"^\s*([\w.\"'-]+)\s*=\s*(?:[\[{]\s*){32}", re.MULTILINE)


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
    """Parse and check a year file, reporting every problem at once (一次性告知).

    The file is read within ``MAX_FILE_BYTES`` (a device such as /dev/zero or a pipe is
    refused before reading), and every field is checked for its type and range before it is
    used, so a hostile file is answered in one line naming the field."""
    where = userfiles.shown(path)
    raw = userfiles.read_bounded(path, MAX_FILE_BYTES, "日历文件")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"{where} 不是 UTF-8 编码的文本文件") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InvalidInput(f"{where} 不是有效的 TOML 文件: {err}") from None
    except RecursionError:  # tomllib recurses once per level of nested arrays or tables
        deep = DEEP_NESTING.search(text)
        field = f"{deep[1]} 的" if deep else ""
        raise InvalidInput(f"{where} 不是有效的 TOML 文件: {field}数组或表嵌套层数过多") from None
    problems: list[str] = []
    year = data.get("year")
    if year is None:
        raise InvalidInput(f"{where}: 缺少 year = 年份")
    if not _is_int(year) or not FIRST_YEAR <= year <= LAST_YEAR:
        problems.append(f"year 应为 {FIRST_YEAR} 到 {LAST_YEAR} 之间的整数年份, 不是 "
                        f"{_shown(year)}")
        year = None
    status = data.get("status", "official")
    if not isinstance(status, str) or status not in YearStatus.__members__:
        problems.append(f"status 只能是 official 或 provisional, 不是 {_shown(status)}")
        status = YearStatus.provisional.value
    source = data.get("source", "")
    if not isinstance(source, str):
        problems.append(f"source 应为文字, 不是 {_shown(source)}")
        source = ""
    elif len(source) > MAX_SOURCE:
        problems.append(f"source 过长({len(source)} 字), 最多 {MAX_SOURCE} 字")
        source = ""
    elif any(char < " " or char == "\x7f" for char in source):
        problems.append("source 含有控制字符或换行, 应为一行文字")
        source = ""
    days = {key: _days(key, data.get(key, []), problems) for key in ("holidays", "workdays")}
    unknown = sorted(set(data) - {"year", "status", "source", "holidays", "workdays"})
    if unknown:
        names = (userfiles.shown(key)[:40] for key in unknown[:10])
        problems.append(f"未知设置项 {'、'.join(names)}")
    if year is None:
        raise InvalidInput(f"{where}: " + "; ".join(problems))
    arrangement = YearArrangement(year, frozenset(days["holidays"]), frozenset(days["workdays"]),
                                  YearStatus(status), source)
    found = arrangement.problems()
    problems += found[:MAX_REPORTED]
    if len(found) > MAX_REPORTED:
        problems.append(f"另有 {len(found) - MAX_REPORTED} 处日期问题")
    if problems:
        raise InvalidInput(f"{where}: " + "; ".join(problems))
    return arrangement


def _days(key: str, given: Any, problems: list[str]) -> set[date]:
    """The dates of ``holidays`` or ``workdays``: a list of ISO dates (quoted or TOML's)."""
    if not isinstance(given, list):
        problems.append(f"{key} 应为日期列表, 如 [\"2027-01-01\"], 不是 {_shown(given)}")
        return set()
    if len(given) > MAX_DAYS:
        problems.append(f"{key} 有 {len(given)} 项, 一年最多 {MAX_DAYS} 天")
        return set()
    found: set[date] = set()
    bad = 0
    for raw in given:
        try:
            if isinstance(raw, date) and not isinstance(raw, datetime):
                found.add(raw)
                continue
            if isinstance(raw, str) and len(raw) <= 10:
                found.add(date.fromisoformat(raw))
                continue
        except ValueError:
            pass
        bad += 1
        if bad <= MAX_REPORTED:
            shown = userfiles.shown(raw)[:40] if isinstance(raw, str) else _shown(raw)
            problems.append(f"{key} 中的 {shown} 不是日期")
    if bad > MAX_REPORTED:
        problems.append(f"{key} 中另有 {bad - MAX_REPORTED} 项不是日期")
    return found


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # TOML's true is not 1


def _shown(value: Any) -> str:
    """A value as the file wrote it, short enough for a one-line message."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list):
        text = f"一个列表({len(value)} 项)"
    elif isinstance(value, dict):
        text = "一个表"
    elif isinstance(value, str):
        text = f'"{value}"'
    else:
        text = str(value)
    text = userfiles.shown(" ".join(text.split()))
    return text if len(text) <= 40 else text[:40] + "…"


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
