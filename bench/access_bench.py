"""Access benchmark: what the read checks cost on a ledger page over a million items, for a
unit's handler and for a supervisor, and what checking an API token costs.

Run from the repository root with the project's virtual environment::

    .venv/bin/python bench/access_bench.py            # 1,000,000 items
    .venv/bin/python bench/access_bench.py --quick    # 100,000 items

The baseline of each page is the page the same reader was served before read permissions:
the whole office's ledger, for a handler and a supervisor alike (run as an admin, who passes
every check), in the same run, taking turns. For the handler the page of their unit's own
items (``--unit JJK``) is shown beside it for information: the handler's page does more, it
also finds the items their unit helps with (a tenth of the items have a co-unit) and the
sub-items. Each figure is the median of 7 timings after a warm-up.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from core_bench import ADMIN, START, UNITS, Row, bench_workdir, build_office, print_table, say
from ledger_bench import fill
from sqlalchemy import bindparam, insert, select, text, update

from duban.engine import accounts
from duban.engine.access import Bearer
from duban.engine.clock import FixedClock
from duban.engine.ledger import LedgerFilter
from duban.engine.models import ITEM, ITEM_CO_UNIT

RATIO_TARGET = 1.10  # the read checks: within 10% of the page without them
TOKEN_TARGET_MS = 1.0
RUNS = 7


def add_co_units(service, share: float, rng: random.Random) -> int:
    """Give ``share`` of the items a co-unit other than their lead unit."""
    units = [code for code, _ in UNITS]
    with service.db.write() as conn:
        rows = conn.execute(select(ITEM.c.id, ITEM.c.lead_unit, ITEM.c.state,
                                   ITEM.c.current_deadline)).all()
        chosen = [{"item_id": row.id, "unit_code": rng.choice([u for u in units
                                                               if u != row.lead_unit]),
                   "lead_unit": row.lead_unit, "state": row.state,
                   "current_deadline": row.current_deadline}
                  for row in rows if rng.random() < share]
        for first in range(0, len(chosen), 20_000):
            batch = chosen[first:first + 20_000]
            conn.execute(insert(ITEM_CO_UNIT), batch)
            conn.execute(update(ITEM).where(ITEM.c.id == bindparam("_id"))
                         .values(co_units=bindparam("co")),
                         [{"_id": r["item_id"], "co": [r["unit_code"]]} for r in batch])
        conn.execute(text("ANALYZE"))
    return len(chosen)


def paired(work: Callable[[], object], baseline: Callable[[], object]) -> tuple[float, float]:
    """Medians of the two, timed in turns after a warm-up of each."""
    work(), baseline()
    first, second = [], []
    for _ in range(RUNS):
        for target, times in ((work, first), (baseline, second)):
            began = time.perf_counter()
            target()
            times.append(time.perf_counter() - began)
    return statistics.median(first), statistics.median(second)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 items")
    parser.add_argument("--workdir", type=Path, help="keep the databases here")
    parser.add_argument("--keep", action="store_true", help="do not remove the databases")
    args = parser.parse_args(argv)
    items = 100_000 if args.quick else 1_000_000
    rng = random.Random(20261202)
    with bench_workdir(args, "access", items) as workdir:
        clock = FixedClock(START.replace(month=11, day=25, hour=10))
        service = build_office(workdir, "access.db", clock)
        say(f"\n[1/3] {items:,} items, bulk inserted")
        began = time.perf_counter()
        fill(service, items, 1, rng)
        co = add_co_units(service, 0.1, rng)
        say(f"      built in {time.perf_counter() - began:.1f} s ({co:,} with a co-unit)")

        say("\n[2/3] a ledger page of 50 open items, median of 7, in turns")
        open_page = LedgerFilter(open_only=True)
        before = lambda: service.ledger_page(ADMIN, open_page, limit=50)  # noqa: E731
        unit, unit_base = paired(lambda: service.ledger_page("wang", open_page, limit=50),
                                 before)
        _, own_unit = paired(lambda: None, lambda: service.ledger_page(
            ADMIN, LedgerFilter(unit="JJK", open_only=True), limit=50))
        office, office_base = paired(lambda: service.ledger_page("zhao", open_page, limit=50),
                                     before)
        say(f"      unit handler {unit * 1000:.1f} ms (the page before: "
            f"{unit_base * 1000:.1f} ms; its unit's own items asked for: {own_unit * 1000:.1f} "
            f"ms); supervisor {office * 1000:.1f} ms (before: {office_base * 1000:.1f} ms)")

        say("\n[3/3] checking an API token, 2,000 times")
        secret = service.create_token("wang", "bench")["secret"]
        with service.db.read() as conn:
            accounts.authenticate_token(conn, secret, clock.now())
            began = time.perf_counter()
            for _ in range(2000):
                accounts.authenticate_token(conn, secret, clock.now())
            check_ms = (time.perf_counter() - began) / 2000 * 1000
        began = time.perf_counter()
        for _ in range(200):
            service.identify(Bearer(secret))
        read_ms = (time.perf_counter() - began) / 200 * 1000
        say(f"      token check {check_ms:.3f} ms; a whole read transaction as the token's "
            f"person {read_ms:.2f} ms")
        rows = [
            Row("unit ledger page, read checks", f"{unit * 1000:.1f} ms",
                f"{unit_base * 1000:.1f} ms before", f"{unit / unit_base:.2f}x",
                f"<= {RATIO_TARGET:.2f}x", "PASS" if unit / unit_base <= RATIO_TARGET else "MISS"),
            Row("  vs its unit's own items", f"{unit * 1000:.1f} ms",
                f"{own_unit * 1000:.1f} ms --unit", f"{unit / own_unit:.2f}x", "-", "info"),
            Row("supervisor ledger page", f"{office * 1000:.1f} ms",
                f"{office_base * 1000:.1f} ms admin", f"{office / office_base:.2f}x",
                f"<= {RATIO_TARGET:.2f}x",
                "PASS" if office / office_base <= RATIO_TARGET else "MISS"),
            Row("token check", f"{check_ms:.3f} ms", "-", "-", f"<= {TOKEN_TARGET_MS:.0f} ms",
                "PASS" if check_ms <= TOKEN_TARGET_MS else "MISS"),
            Row("read transaction by token", f"{read_ms:.2f} ms", "-", "-", "-", "info"),
        ]
        say("")
        print_table(rows)
        service.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
