"""Seals benchmark: what checking the directory's seal adds to reading the directory, which a
process does once per directory generation (every CLI command, a server after each change).

Run from the repository root with the project's virtual environment::

    .venv/bin/python bench/seals_bench.py            # 10,000 people in 500 units
    .venv/bin/python bench/seals_bench.py --quick    # 1,000 people in 50 units

The baseline is reading the same directory from the database in the same run; each figure is
the median of 9 timings after a warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from core_bench import ADMIN, START, Row, bench_workdir, build_office, print_table, say, verdict
from sqlalchemy import insert

from duban.engine import seals
from duban.engine.clock import FixedClock
from duban.engine.directory_cache import read_directory
from duban.engine.models import PERSON, UNIT

RUNS = 9
TARGET_RATIO = 1.0  # the check costs no more than reading the directory it checks


def fill(service, people: int) -> None:
    units = max(1, people // 20)
    with service.db.write() as conn:
        conn.execute(insert(UNIT), [{"code": f"U{n:04d}", "name": f"单位{n}", "parent_code": None,
                                     "head_login": None, "liaison_login": None,
                                     "created_at": START} for n in range(units)])
        conn.execute(insert(PERSON), [
            {"login": f"p{n:05d}", "name": f"人员{n}", "unit_code": f"U{n % units:04d}",
             "roles": ["handler"], "deputy_login": None, "away_until": None,
             "email": f"p{n}@example.cn", "phone": None, "active": True, "created_at": START}
            for n in range(people)])
        seals.seal_directory(conn, service.signer)


def median_ms(func: Callable[[], object]) -> float:
    func()
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    people = 1_000 if args.quick else 10_000
    with bench_workdir(args, "seals", f"{people:,} people") as workdir:
        service = build_office(workdir, "seals", FixedClock(START), ADMIN)
        fill(service, people)
        with service.db.read() as conn:
            plain = median_ms(lambda: read_directory(conn))
            directory = read_directory(conn)
            check = median_ms(lambda: seals.check_directory(directory, service.signer))
        service.close()
    say()
    print_table([
        Row(f"check the seal, {people:,} people", f"{check:.1f} ms",
            f"reading the directory {plain:.1f} ms", f"{check / plain:.2f}x",
            f"<= {TARGET_RATIO:.2f}x", verdict(check / plain <= TARGET_RATIO)),
    ])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
