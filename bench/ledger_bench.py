"""Ledger benchmark: the clear-to-zero view, a filtered ledger page and the period figures
over a million items on SQLite, and importing a 10,000-row task list.

Run from the repository root with the project's virtual environment::

    .venv/bin/python bench/ledger_bench.py            # 1,000,000 items, 2,000,000 events
    .venv/bin/python bench/ledger_bench.py --quick    # 100,000 items

Each query is timed five times (median) and compared with a full scan of the item table in
the same run (``SELECT count(*) … WHERE attrs LIKE …``), the floor of any query that has to
look at every item. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from core_bench import ADMIN, START, UNITS, Row, bench_workdir, build_office, print_table, say
from sqlalchemy import insert, text

from duban.engine.clock import FixedClock
from duban.engine.ledger import LedgerFilter
from duban.engine.models import AUDIT_EVENT, ITEM
from duban.engine.periods import parse_period

TARGET_QUERY_S = 2.0
TARGET_IMPORT_S = 10.0
CHUNK = 20_000
STATES = ("assigned", "in_progress", "in_progress", "reported", "verified", "closed", "closed",
          "closed")
SOURCES = ("instruction", "meeting", "key_task", "hotline", "inspection", "other")
EVENTS = ("sign", "report", "verify", "warn", "reject", "transfer", "approve_extension")


@dataclass(frozen=True)
class Sizes:
    items: int
    events_per_item: int
    import_rows: int


FULL = Sizes(items=1_000_000, events_per_item=2, import_rows=10_000)
QUICK = Sizes(items=100_000, events_per_item=2, import_rows=2_000)


def fill(service, count: int, events_per_item: int, rng: random.Random) -> None:
    """Items over 2026 in every state, and audit events in their months (chain not kept:
    nothing here verifies it)."""
    units = [code for code, _ in UNITS]
    year_start = START.replace(month=1, day=2)
    with service.db.write() as conn:
        next_seq = conn.execute(text("SELECT coalesce(max(seq), 0) FROM audit_event")).scalar()
        for first in range(0, count, CHUNK):
            rows, events = [], []
            for n in range(first, min(count, first + CHUNK)):
                created = year_start + timedelta(minutes=rng.randrange(0, 330 * 24 * 60))
                deadline = created + timedelta(days=rng.randrange(5, 60))
                state = rng.choice(STATES)
                attrs = {}
                if state != "assigned":
                    attrs = {"owner": "wang", "signed_on_time": rng.random() < 0.9}
                if state in ("verified", "closed"):
                    attrs["on_time"] = rng.random() < 0.85
                rows.append({
                    "workflow": "standard", "workflow_version": 1, "state": state,
                    "title": f"督办事项{n}", "goal": "", "measures": "",
                    "source": rng.choice(SOURCES), "lead_leader": None,
                    "lead_unit": rng.choice(units), "co_units": [], "original_deadline": deadline,
                    "current_deadline": deadline, "deadline_reason": None,
                    "deadline_provisional": False, "deadline_basis": None, "deadline_version": 1,
                    "state_since": created, "clock_start": created, "public": False,
                    "parent_id": None, "attrs": attrs, "created_by": "zhao",
                    "created_at": created, "updated_at": created, "version": 1,
                })
            ids = conn.execute(insert(ITEM).returning(ITEM.c.id), rows).scalars().all()
            for item_id, row in zip(ids, rows, strict=True):
                for _ in range(events_per_item):
                    next_seq += 1
                    event = rng.choice(EVENTS)
                    at = row["created_at"] + timedelta(hours=rng.randrange(1, 24 * 30))
                    values = {"level": rng.choice(("yellow", "red"))} if event == "warn" else {}
                    events.append({"seq": next_seq, "at": at, "actor": "zhao", "item_id": item_id,
                                   "action": "event", "event": event, "from_state": None,
                                   "to_state": None, "reason": None,
                                   "payload": {"values": values}, "prev_hash": "0" * 64,
                                   "hash": "0" * 64})
            conn.execute(insert(AUDIT_EVENT), events)
    with service.db.write() as conn:
        conn.execute(text("ANALYZE"))


def timed(work: Callable[[], object], runs: int = 5) -> float:
    work()  # warm-up: caches, the calendar
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def task_list(path: Path, rows: int, rng: random.Random) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["序号", "事项", "目标", "工作举措", "责任单位", "协办单位", "完成时限", "来源"])
    names = [name for _, name in UNITS]
    for n in range(rows):
        lead, co = rng.sample(names, 2)
        sheet.append([n + 1, f"重点任务{n}", "按期完成", "细化到周、具体到天", lead, co,
                      f"2027-0{rng.randrange(1, 7)}-{rng.randrange(1, 28):02d}", "重点工作"])
    book.save(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 items")
    parser.add_argument("--workdir", type=Path, help="keep the databases here")
    parser.add_argument("--keep", action="store_true", help="do not remove the databases")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    rng = random.Random(20261125)
    with bench_workdir(args, "ledger", sizes) as workdir:
        clock = FixedClock(START.replace(month=11, day=25, hour=10))
        service = build_office(workdir, "ledger.db", clock)
        say(f"\n[1/3] {sizes.items:,} items and {sizes.items * sizes.events_per_item:,} audit "
            f"events, bulk inserted")
        began = time.perf_counter()
        fill(service, sizes.items, sizes.events_per_item, rng)
        say(f"      built in {time.perf_counter() - began:.1f} s")
        with service.db.read() as conn:
            scan = timed(lambda: conn.execute(text(
                "SELECT count(*) FROM item WHERE attrs LIKE '%on_time%'")).scalar())
        november = parse_period("2026-11")
        say("\n[2/3] queries, median of 5 after a warm-up")
        zero = timed(lambda: service.clear_to_zero(ADMIN))
        page = timed(lambda: service.ledger_page(
            ADMIN, LedgerFilter(unit="JJK", open_only=True), limit=50))
        overdue = timed(lambda: service.ledger_page(ADMIN, LedgerFilter(overdue=True),
                                                    limit=50))
        figures = timed(lambda: service.period_figures(ADMIN, november))
        assess = timed(lambda: service.assess(ADMIN, november))
        for label, value in (("full scan floor", scan), ("clear-to-zero", zero),
                             ("ledger page (unit, open)", page), ("ledger page (overdue)", overdue),
                             ("period figures", figures), ("assessment (2 periods)", assess)):
            say(f"      {label:<26} {value * 1000:8.0f} ms")
        say(f"\n[3/3] importing a {sizes.import_rows:,}-row task list")
        path = workdir / "tasks.xlsx"
        task_list(path, sizes.import_rows, rng)
        from openpyxl import load_workbook

        began = time.perf_counter()
        load_workbook(path, data_only=True)
        load_s = time.perf_counter() - began
        began = time.perf_counter()
        created = service.import_task_list("zhao", path)
        import_s = time.perf_counter() - began
        assert len(created) == sizes.import_rows
        say(f"      openpyxl load alone {load_s:.2f} s; import {import_s:.2f} s "
            f"({sizes.import_rows / import_s:,.0f} rows/s, items created with timers and "
            "交办通知)")
        rows = [Row(label, f"{value:.2f} s", f"{scan:.2f} s scan", f"{value / scan:.2f}",
                    f"<= {TARGET_QUERY_S:.0f} s", "PASS" if value <= TARGET_QUERY_S else "MISS")
                for label, value in (("clear-to-zero", zero), ("ledger page", page),
                                     ("overdue page", overdue), ("period figures", figures))]
        rows.append(Row("assessment (2 periods)", f"{assess:.2f} s", f"{scan:.2f} s scan",
                        f"{assess / scan:.2f}", "-", "info"))
        rows.append(Row(f"import {sizes.import_rows:,} rows", f"{import_s:.2f} s",
                        f"{load_s:.2f} s openpyxl", f"{import_s / load_s:.1f}",
                        f"<= {TARGET_IMPORT_S:.0f} s",
                        "PASS" if import_s <= TARGET_IMPORT_S else "MISS"))
        say("")
        print_table(rows)
        service.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
