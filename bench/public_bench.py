"""Dashboard and public board benchmark: a leader's 领导驾驶舱 over a million items, and the
阳光督办 site built for 10,000 public items.

Run from the repository root with the project's virtual environment::

    .venv/bin/python bench/public_bench.py            # 1,000,000 items, 10,000 public
    .venv/bin/python bench/public_bench.py --quick    # 100,000 items, 2,000 public

The items are the ledger benchmark's (every state over 2026, one audit event each), a twentieth
of them led by the leader 李副局长, who heads no unit: his dashboard is his portfolio. The
office's dashboard (everything) is shown beside it. Each figure is the median of 5 after a
warm-up. The board is built with one public progress note per public item.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from core_bench import ADMIN, START, Row, bench_workdir, build_office, print_table, say, verdict
from ledger_bench import fill, timed
from sqlalchemy import bindparam, func, insert, select, text, update

from duban.engine.clock import FixedClock
from duban.engine.directory import NewPerson
from duban.engine.models import AUDIT_EVENT, ITEM
from duban.engine.periods import parse_period
from duban.notifiers.board_site import write_site

DASHBOARD_TARGET_S = 1.0
BOARD_TARGET_S = 10.0


def assign(service, share: float, public: int, rng: random.Random) -> None:
    """A leader for ``share`` of the items; ``public`` items marked public, with a note."""
    with service.db.write() as conn:
        ids = conn.execute(select(ITEM.c.id)).scalars().all()
        led = [{"_id": i} for i in ids if rng.random() < share]
        conn.execute(update(ITEM).where(ITEM.c.id == bindparam("_id"))
                     .values(lead_leader="li"), led)
        shown = rng.sample(ids, public)
        conn.execute(update(ITEM).where(ITEM.c.id == bindparam("_id")).values(public=True),
                     [{"_id": i} for i in shown])
        seq = conn.execute(select(func.max(AUDIT_EVENT.c.seq))).scalar_one()
        at = START + timedelta(days=1)
        conn.execute(insert(AUDIT_EVENT), [{
            "seq": seq + n + 1, "at": at, "actor": "zhao", "item_id": item_id,
            "action": "board_note", "event": None, "from_state": None, "to_state": None,
            "reason": None, "payload": {"note": f"第{n}项已完成阶段整改, 接受社会监督"},
            "prev_hash": "0" * 64, "hash": "0" * 64} for n, item_id in enumerate(shown)])
        conn.execute(text("ANALYZE"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 items, 2,000 public")
    parser.add_argument("--workdir", type=Path, help="keep the databases here")
    parser.add_argument("--keep", action="store_true", help="do not remove the databases")
    args = parser.parse_args(argv)
    items, public = (100_000, 2_000) if args.quick else (1_000_000, 10_000)
    rng = random.Random(20261202)
    with bench_workdir(args, "public", {"items": items, "public": public}) as workdir:
        clock = FixedClock(START.replace(month=11, day=25, hour=10))
        service = build_office(workdir, "public.db", clock)
        service.add_person(ADMIN, NewPerson("li", "李副局长", None, ("lead_leader",)))
        say(f"\n[1/3] {items:,} items, bulk inserted; {public:,} public")
        began = time.perf_counter()
        fill(service, items, 1, rng)
        assign(service, 0.05, public, rng)
        say(f"      built in {time.perf_counter() - began:.1f} s")

        period = parse_period("2026-11")
        say("\n[2/3] the dashboard of 2026-11, median of 5")
        leader = timed(lambda: service.dashboard("li", period))
        office = timed(lambda: service.dashboard("zhao", period))
        view = service.dashboard("li", period)
        say(f"      leader {leader:.3f} s ({sum(view.by_colour.values()):,} open items in the "
            f"portfolio); office {office:.3f} s")

        say("\n[3/3] the public board")
        began = time.perf_counter()
        board = service.board("zhao")
        read = time.perf_counter() - began
        counts = write_site(workdir / "site", board, office="督查室", tz=service.tz,
                            open_file=service.evidence_store.open)
        built = time.perf_counter() - began
        pages = len(list((workdir / "site" / "items").iterdir()))
        say(f"      {counts['items']:,} items read in {read:.2f} s, site written in "
            f"{built:.2f} s ({pages:,} pages)")
        service.close()
    say("")
    print_table([
        Row("leader's dashboard, 1 month", f"{leader:.3f} s",
            f"office {office:.3f} s", "-", f"<= {DASHBOARD_TARGET_S:.0f} s",
            verdict(leader <= DASHBOARD_TARGET_S)),
        Row(f"board build, {public:,} public items", f"{built:.2f} s", f"read {read:.2f} s",
            "-", f"<= {BOARD_TARGET_S:.0f} s", verdict(built <= BOARD_TARGET_S)),
    ])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
