"""Timers benchmark: idle ticks over many open items, firing throughput, daemon memory,
one PostgreSQL daemon against two, and working-day arithmetic.

Run from the repository root with the project's virtual environment::

    .venv/bin/python bench/timers_bench.py             # 1,000,000 open items
    .venv/bin/python bench/timers_bench.py --quick     # small sizes, under two minutes
    .venv/bin/python bench/timers_bench.py --skip-pg   # without the PostgreSQL part

Every tick measurement runs in a freshly spawned interpreter, so each RSS figure belongs to
that daemon-like process alone. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from core_bench import (
    ADMIN,
    PEOPLE,
    START,
    UNITS,
    ZONE,
    Row,
    SteppingClock,
    bench_workdir,
    isolated,
    key_path,
    mib,
    per_s,
    print_table,
    say,
    verdict,
)
from sqlalchemy import func, insert, select, text

from duban.app import build_service
from duban.engine import deadlines
from duban.engine.clock import FixedClock
from duban.engine.directory import NewPerson
from duban.engine.items import NewItem
from duban.engine.models import AUDIT_EVENT, ITEM, NOTICE, TIMER
from duban.engine.service import Service
from duban.engine.settings import Settings
from duban.engine.workcalendar import WorkCalendar

ROOT = Path(__file__).resolve().parent.parent
SUPERVISOR = "zhao"
FILLER_UNITS = ("JJK", "AQK", "SYZ")
FILL_BATCH = 20_000
FILLER_TIMERS = 3  # pending future steps cloned per filler item
# Due items: their yellow warning (at the deadline) fires ``warn`` and requests a notice.
DUE_DEADLINE = datetime(2026, 12, 10, 17, 30, tzinfo=ZONE)
REMINDERS_AT = DUE_DEADLINE - timedelta(hours=1)  # the earlier steps really fire here
FIRE_DELAY = timedelta(minutes=10)  # the ticks run this long after a group's deadline
IDLE_AT = datetime(2026, 12, 10, 12, 0, tzinfo=ZONE)  # nothing is due at this moment
FILLER_DEADLINE = datetime(2027, 3, 31, 17, 30, tzinfo=ZONE)  # all its steps come in 2027
IDLE_RUNS = 20
BATCHES = (200, 500)
APP_NAME = "duban-bench-daemon"

TARGET_IDLE_MS = 50.0
TARGET_FIRINGS_PER_S = 2_000.0
TARGET_RSS_BYTES = 150 * 10**6
TARGET_RSS_GROWTH = 1.10  # "does not grow", with a tolerance for noise
TARGET_PG_RATIO = 1.3
TARGET_ADD_WORKDAYS_PER_S = 200_000.0


@dataclass(frozen=True)
class Sizes:
    open_large: int
    open_small: int
    due: int  # due steps per batch size, in two groups
    pg_due: int
    calendar_calls: int
    compute_calls: int


FULL = Sizes(open_large=1_000_000, open_small=50_000, due=10_000, pg_due=20_000,
             calendar_calls=500_000, compute_calls=100_000)
QUICK = Sizes(open_large=50_000, open_small=5_000, due=1_000, pg_due=2_000,
              calendar_calls=100_000, compute_calls=20_000)


# -- building databases ----------------------------------------------------------------------


def vm_status(name: str) -> int:
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status, in bytes (0 where there is no /proc)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "?"


def settings_for(url: str, workdir: Path) -> Settings:
    return Settings(db_url=url, audit_key_path=key_path(workdir))


def set_up_office(svc: Service) -> None:
    """Schema (``init`` runs engine.schema.upgrade), key, units and people, as core_bench."""
    svc.init(ADMIN, "管理员")
    svc.add_unit(ADMIN, "JYJ", "市教育局")
    for code, label in UNITS:
        svc.add_unit(ADMIN, code, label, parent="JYJ")
    for login, label, unit, roles in PEOPLE:
        svc.add_person(ADMIN, NewPerson(login, label, unit, roles))
    svc.set_unit_head(ADMIN, "JJK", "zhou")


@dataclass(frozen=True)
class Group:
    """Items whose yellow warning falls due together, fired by one tick at ``fire_at``."""

    deadline: datetime
    size: int
    batch: int

    @property
    def fire_at(self) -> datetime:
        return self.deadline + FIRE_DELAY


def due_groups(due: int, batches: Sequence[int]) -> list[Group]:
    """Per batch size ``due`` steps, in halves taking turns: 200, 500, 500, 200."""
    order = [*batches, *reversed(batches)]
    half = due // 2
    return [Group(DUE_DEADLINE + timedelta(hours=n), half, batch)
            for n, batch in enumerate(order)]


def clone_items(svc: Service, item: dict[str, Any], timers: list[dict[str, Any]], count: int,
                first_id: int, *, spread_units: bool) -> None:
    """``count`` copies of a real item with copies of its timer rows, by Core executemany in
    transactions of :data:`FILL_BATCH` items."""
    base = {name: value for name, value in item.items() if name != "id"}
    timer_base = [{name: value for name, value in row.items() if name not in ("id", "item_id")}
                  for row in timers]
    for first in range(0, count, FILL_BATCH):
        ids = range(first_id + first, first_id + min(first + FILL_BATCH, count))
        rows = [{**base, "id": item_id,
                 "lead_unit": FILLER_UNITS[item_id % 3] if spread_units else base["lead_unit"]}
                for item_id in ids]
        timer_rows = [{**row, "item_id": item_id} for item_id in ids for row in timer_base]
        with svc.db.write() as conn:
            conn.execute(insert(ITEM), rows)
            if timer_rows:
                conn.execute(insert(TIMER), timer_rows)


@dataclass(frozen=True)
class Built:
    items: int
    timers: int
    due_pending: int
    seconds: float


def build_database(url: str, workdir: Path, total: int, groups: Sequence[Group]) -> Built:
    """An office; one real item per group and one filler item through the service; the earlier
    steps of the group items fired by a real tick; then bulk copies up to ``total`` items."""
    began = time.perf_counter()
    svc = build_service(settings_for(url, workdir), SteppingClock(START))
    set_up_office(svc)
    templates = [
        svc.new_item(SUPERVISOR, NewItem(title=f"校园安全隐患排查 {n}", lead_unit="JJK",
                                         deadline=group.deadline))["id"]
        for n, group in enumerate(groups)
    ]
    filler = svc.new_item(SUPERVISOR, NewItem(title="年度重点工作", lead_unit="JJK",
                                              deadline=FILLER_DEADLINE))["id"]
    svc.close()
    reminders = build_service(settings_for(url, workdir), FixedClock(REMINDERS_AT))
    report = reminders.tick(keep_steps=False)
    if report.fired != 3 * len(groups) or report.handled != report.fired:
        raise RuntimeError(f"template reminders: {report}")
    next_id = filler + 1
    for template, group in zip(templates, groups, strict=True):
        timers = reminders.timers(ADMIN, template)
        clone_items(reminders, reminders.item(ADMIN, template), timers, group.size - 1, next_id,
                    spread_units=False)
        next_id += group.size - 1
    filler_timers = [row for row in reminders.timers(ADMIN, filler) if row["status"] == "pending"]
    filler_count = total - (next_id - 1)
    if filler_count < 0:
        raise RuntimeError(f"{total} open items cannot hold {next_id - 1} due ones")
    clone_items(reminders, reminders.item(ADMIN, filler), filler_timers[:FILLER_TIMERS],
                filler_count, next_id, spread_units=True)
    with reminders.db.write() as conn:
        if reminders.db.is_postgres:
            conn.execute(text("SELECT setval('item_id_seq', (SELECT max(id) FROM item))"))
        items = conn.execute(select(func.count()).select_from(ITEM)).scalar_one()
        timers = conn.execute(select(func.count()).select_from(TIMER)).scalar_one()
        due = conn.execute(select(func.count()).select_from(TIMER).where(
            TIMER.c.status == "pending", TIMER.c.due_at <= groups[-1].fire_at)).scalar_one()
    reminders.close()
    if items != total or due != sum(group.size for group in groups):
        raise RuntimeError(f"built {items} items with {due} due steps")
    return Built(items, timers, due, time.perf_counter() - began)


# -- 1-3. ticks on SQLite, in a daemon-like process ------------------------------------------


class SetClock:
    """A clock the benchmark moves: every read in a tick sees the same instant."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


@dataclass
class TickResult:
    open_items: int
    idle_ms: list[float]
    rss_before_firing: int
    groups: list[tuple[int, int, float]] = field(default_factory=list)  # batch, fired, seconds
    rss_after: int = 0
    hwm: int = 0
    notices: int = 0
    timer_events: int = 0

    @property
    def idle_median(self) -> float:
        return statistics.median(self.idle_ms)

    def rate(self, batch: int) -> float:
        fired = sum(n for size, n, _ in self.groups if size == batch)
        seconds = sum(s for size, _, s in self.groups if size == batch)
        return fired / seconds


def run_ticks(url: str, workdir: Path, open_items: int, groups: Sequence[Group]) -> TickResult:
    """What a daemon does: ticks with nothing due, then the groups' ticks; RSS from /proc."""
    clock = SetClock(IDLE_AT)
    svc = build_service(settings_for(url, workdir), clock)
    svc.tick(keep_steps=False)  # warm-up: connection, registry, calendar
    idle = []
    for _ in range(IDLE_RUNS):
        start = time.perf_counter()
        report = svc.tick(keep_steps=False)
        idle.append((time.perf_counter() - start) * 1000)
        if report.handled:
            raise RuntimeError(f"idle tick handled {report.handled} steps")
    result = TickResult(open_items, idle, vm_status("VmRSS"))
    for group in groups:
        clock.at = group.fire_at
        start = time.perf_counter()
        report = svc.tick(batch_size=group.batch, keep_steps=False)
        seconds = time.perf_counter() - start
        if report.fired != group.size or report.handled != report.fired:
            raise RuntimeError(f"group {group}: {report}")
        result.groups.append((group.batch, report.fired, seconds))
    with svc.db.read() as conn:
        result.notices = conn.execute(select(func.count()).select_from(NOTICE).where(
            NOTICE.c.kind == "warning")).scalar_one()
        result.timer_events = conn.execute(select(func.count()).select_from(AUDIT_EVENT).where(
            AUDIT_EVENT.c.action == "timer_fired", AUDIT_EVENT.c.event == "yellow")).scalar_one()
    svc.close()
    result.rss_after = vm_status("VmRSS")
    result.hwm = vm_status("VmHWM")
    return result


def cli_tick_peak(db_path: Path, workdir: Path) -> int:
    """Peak RSS of ``duban tick`` (nothing due) in a subprocess, via RUSAGE_CHILDREN: run in an
    isolated process, whose only child it is."""
    duban = str(Path(sys.executable).parent / "duban")
    env = {name: value for name, value in os.environ.items() if not name.startswith("DUBAN_")}
    env.update(DUBAN_DB=str(db_path), DUBAN_NOW=IDLE_AT.isoformat(),
               DUBAN_AUDIT_KEY=str(key_path(workdir)),
               DUBAN_CONFIG=str(workdir / "no-such-config.toml"))
    done = subprocess.run([duban, "tick"], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"duban tick exited with {done.returncode}: {done.stderr.strip()}")
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


# -- 4. PostgreSQL: one daemon vs two ---------------------------------------------------------


def pg_daemon(url: str, workdir: Path, at: datetime, batch: int, ready: Any, go: Any,
              results: Any) -> None:
    """One daemon process: warm up with an idle tick, wait for the start, tick once."""
    clock = SetClock(IDLE_AT)
    svc = build_service(settings_for(url, workdir), clock)
    svc.tick(keep_steps=False)
    ready.release()
    go.wait()
    clock.at = at
    start = time.monotonic()
    report = svc.tick(batch_size=batch, keep_steps=False)
    end = time.monotonic()
    svc.close()
    results.put((start, end, report.fired, report.handled, report.batches))


@dataclass(frozen=True)
class PgRun:
    daemons: int
    steps: int
    seconds: float
    fired: list[int]
    samples: int
    advisory_samples: int  # samples with at least one daemon waiting on the chain's lock
    row_lock_samples: int

    @property
    def rate(self) -> float:
        return self.steps / self.seconds

    @property
    def advisory_share(self) -> float:
        return self.advisory_samples / max(self.samples, 1)


SAMPLE = """
SELECT count(*) FILTER (WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'),
       count(*) FILTER (WHERE wait_event_type = 'Lock' AND wait_event <> 'advisory')
FROM pg_stat_activity WHERE application_name = %s
"""


def pg_run(url: str, workdir: Path, group: Group, daemons: int) -> PgRun:
    """``daemons`` processes tick the group's due steps at once; pg_stat_activity is sampled
    meanwhile for daemons waiting on the audit chain's advisory lock or on row locks."""
    import multiprocessing

    import psycopg

    context = multiprocessing.get_context("spawn")
    ready, go, results = context.Semaphore(0), context.Event(), context.Queue()
    daemon_url = f"{url}?application_name={APP_NAME}"
    processes = [context.Process(target=pg_daemon, args=(daemon_url, workdir, group.fire_at,
                                                         group.batch, ready, go, results))
                 for _ in range(daemons)]
    for process in processes:
        process.start()
    for _ in processes:
        ready.acquire()
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    samples = advisory = row_locks = 0
    with psycopg.connect(plain, autocommit=True) as conn:
        go.set()
        while any(process.is_alive() for process in processes) and results.qsize() < daemons:
            waiting_advisory, waiting_rows = conn.execute(SAMPLE, (APP_NAME,)).fetchone()
            samples += 1
            advisory += waiting_advisory > 0
            row_locks += waiting_rows > 0
            time.sleep(0.005)
    outcomes = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join()
    seconds = max(end for _, end, *_ in outcomes) - min(start for start, *_ in outcomes)
    fired = [n for _, _, n, _, _ in outcomes]
    if sum(fired) != group.size or any(n != h for _, _, n, h, _ in outcomes):
        raise RuntimeError(f"{daemons} daemons fired {fired} of {group.size}")
    return PgRun(daemons, group.size, seconds, fired, samples, advisory, row_locks)


@dataclass(frozen=True)
class PgResult:
    built: Built
    one: PgRun
    two: PgRun
    chain_ok: bool

    @property
    def ratio(self) -> float:
        return self.two.rate / self.one.rate


def measure_postgres(workdir: Path, due: int) -> PgResult:
    pgserver = importlib.import_module("tests.pgserver")
    server = pgserver.PostgresServer()
    if not server.available:
        raise RuntimeError("initdb/pg_ctl not found")
    url = server.start()
    try:
        groups = [Group(DUE_DEADLINE, due, BATCHES[0]),
                  Group(DUE_DEADLINE + timedelta(hours=1), due, BATCHES[0])]
        built = build_database(url, workdir, 2 * due + 1, groups)
        one = pg_run(url, workdir, groups[0], 1)
        two = pg_run(url, workdir, groups[1], 2)
        check = build_service(settings_for(url, workdir))
        chain_ok = check.verify_audit(ADMIN).first_bad_seq is None
        check.close()
        return PgResult(built, one, two, chain_ok)
    finally:
        server.stop()


# -- 5. working-day arithmetic ---------------------------------------------------------------


@dataclass(frozen=True)
class CalendarResult:
    add_calls: int
    add_seconds: float
    compute_calls: int
    compute_seconds: float


def measure_calendar(add_calls: int, compute_calls: int) -> CalendarResult:
    calendar = WorkCalendar.from_package()
    rng = random.Random(20261102)
    first = date(2024, 1, 1).toordinal()
    days = [date.fromordinal(first + rng.randrange(365 * 6)) for _ in range(add_calls)]
    counts = [rng.choice((-1, 1)) * rng.randint(1, 60) for _ in range(add_calls)]
    add = calendar.add_workdays
    start = time.perf_counter()
    for day, count in zip(days, counts, strict=True):
        add(day, count)
    add_seconds = time.perf_counter() - start
    starts = [datetime(2024, 1, 1, 9, 0, tzinfo=ZONE) + timedelta(minutes=rng.randrange(3_000_000))
              for _ in range(compute_calls)]
    compute = deadlines.compute
    start = time.perf_counter()
    for moment in starts:
        compute("10 workdays", moment, calendar, ZONE)
    return CalendarResult(add_calls, add_seconds, compute_calls, time.perf_counter() - start)


# -- summary ---------------------------------------------------------------------------------


def tick_rows(large: TickResult, small: TickResult, large_cli: int, small_cli: int) -> list[Row]:
    rows = [
        Row(f"idle tick, {large.open_items:,} open", f"{large.idle_median:.1f} ms",
            f"{small.open_items:,} open: {small.idle_median:.1f} ms",
            f"{large.idle_median / small.idle_median:.2f}x",
            f"<= {TARGET_IDLE_MS:.0f} ms", verdict(large.idle_median <= TARGET_IDLE_MS)),
    ]
    for batch in BATCHES:
        rate = large.rate(batch)
        rows.append(Row(f"firings, batch {batch}, {large.open_items:,} open",
                        per_s(rate, "firings/s"),
                        f"{small.open_items:,} open: {per_s(small.rate(batch), '/s')}",
                        f"{rate / small.rate(batch):.0%}", f">= {TARGET_FIRINGS_PER_S:,.0f}/s",
                        verdict(rate >= TARGET_FIRINGS_PER_S)))
    growth = large.hwm / small.hwm
    rows += [
        Row(f"daemon peak RSS, {large.open_items:,} open", mib(large.hwm),
            f"{small.open_items:,} open: {mib(small.hwm)}", f"{growth:.2f}x",
            "<= 150 MB", verdict(large.hwm <= TARGET_RSS_BYTES)),
        Row("daemon RSS vs open items", mib(large.hwm), mib(small.hwm), f"{growth:.2f}x",
            f"<= {TARGET_RSS_GROWTH:.2f}x", verdict(growth <= TARGET_RSS_GROWTH)),
        Row(f"duban tick peak RSS, {large.open_items:,}", mib(large_cli),
            f"{small.open_items:,} open: {mib(small_cli)}", f"{large_cli / small_cli:.2f}x",
            "-", "info"),
    ]
    return rows


def pg_rows(pg: PgResult) -> list[Row]:
    two = pg.two
    return [
        Row(f"PostgreSQL, {two.steps:,} steps, 2 daemons", per_s(two.rate, "firings/s"),
            f"1 daemon {per_s(pg.one.rate, 'firings/s')}", f"{pg.ratio:.2f}x",
            f">= {TARGET_PG_RATIO:.1f}x", verdict(pg.ratio >= TARGET_PG_RATIO)),
        Row("2 daemons: waiting on chain lock", f"{two.advisory_share:.0%} of samples",
            f"1 daemon {pg.one.advisory_share:.0%}", "-", "-", "info"),
    ]


def calendar_rows(cal: CalendarResult) -> list[Row]:
    add_rate = cal.add_calls / cal.add_seconds
    return [
        Row("WorkCalendar.add_workdays", per_s(add_rate, "calls/s"), "-", "-",
            f">= {TARGET_ADD_WORKDAYS_PER_S:,.0f}/s",
            verdict(add_rate >= TARGET_ADD_WORKDAYS_PER_S)),
        Row('deadlines.compute("10 workdays")',
            per_s(cal.compute_calls / cal.compute_seconds, "calls/s"), "-", "-", "-", "info"),
    ]


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> tuple[Sizes, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, under two minutes")
    parser.add_argument("--open", type=int, dest="open_large",
                        help=f"open items in the large database (default {FULL.open_large:,}; "
                             f"--quick {QUICK.open_large:,})")
    parser.add_argument("--open-small", type=int,
                        help=f"open items in the small database (default {FULL.open_small:,})")
    parser.add_argument("--due", type=int,
                        help=f"due steps fired per batch size (default {FULL.due:,})")
    parser.add_argument("--pg-due", type=int,
                        help=f"due steps for each PostgreSQL run (default {FULL.pg_due:,})")
    parser.add_argument("--skip-pg", action="store_true", help="leave out PostgreSQL")
    parser.add_argument("--workdir", type=Path,
                        help="where to put the databases (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    sizes = Sizes(
        open_large=args.open_large or base.open_large,
        open_small=args.open_small or base.open_small,
        due=args.due or base.due,
        pg_due=args.pg_due or base.pg_due,
        calendar_calls=base.calendar_calls,
        compute_calls=base.compute_calls,
    )
    if sizes.due < 4 or sizes.pg_due < 2:
        parser.error("--due must be at least 4 and --pg-due at least 2")
    if sizes.open_small < 2 * sizes.due + 1 or sizes.open_large <= sizes.open_small:
        parser.error("need 2 x --due < --open-small < --open")
    return sizes, args


def main(argv: Sequence[str] | None = None) -> int:
    sizes, args = parse_args(argv)
    began = time.perf_counter()
    rows: list[Row] = []
    groups = due_groups(sizes.due, BATCHES)
    note = f"; load average at start {load_average()}"
    with bench_workdir(args, "timers", sizes, note) as workdir:
        say(f"\n[1/4] SQLite: {sizes.open_small:,} and {sizes.open_large:,} open items, each "
            f"with timer rows; {2 * sizes.due:,} of them due in {len(groups)} groups")
        ticks: dict[int, TickResult] = {}
        cli_peaks: dict[int, int] = {}
        for total in (sizes.open_small, sizes.open_large):
            path = workdir / f"open_{total}.db"
            url = f"sqlite:///{path}"
            built = isolated(build_database, url, workdir, total, groups)
            say(f"  built {built.items:,} items, {built.timers:,} timer rows "
                f"({built.due_pending:,} due) in {built.seconds:.1f} s")
            result = isolated(run_ticks, url, workdir, total, groups)
            ticks[total] = result
            cli_peaks[total] = isolated(cli_tick_peak, path, workdir)
            say(f"  {total:>9,} open: idle tick median {result.idle_median:.1f} ms "
                f"(min {min(result.idle_ms):.1f}, max {max(result.idle_ms):.1f}, "
                f"{IDLE_RUNS} runs)")
            for batch, fired, seconds in result.groups:
                say(f"      batch {batch}: {fired:,} yellow steps in {seconds:.2f} s, "
                    f"{per_s(fired / seconds, 'firings/s')}")
            say(f"      RSS before firing {mib(result.rss_before_firing)}, after "
                f"{mib(result.rss_after)}, peak {mib(result.hwm)}; duban tick peak "
                f"{mib(cli_peaks[total])}; {result.notices:,} warning notices, "
                f"{result.timer_events:,} timer_fired events")
        large, small = ticks[sizes.open_large], ticks[sizes.open_small]
        rows += tick_rows(large, small, cli_peaks[sizes.open_large], cli_peaks[sizes.open_small])

        if args.skip_pg:
            say("\n[2/4] PostgreSQL: skipped (--skip-pg)")
        else:
            say(f"\n[2/4] PostgreSQL: {sizes.pg_due:,} due steps ticked by one daemon, "
                f"another {sizes.pg_due:,} by two daemons at once (batch {BATCHES[0]})")
            pg = measure_postgres(workdir, sizes.pg_due)
            say(f"  built {pg.built.items:,} items, {pg.built.timers:,} timer rows in "
                f"{pg.built.seconds:.1f} s")
            for run in (pg.one, pg.two):
                say(f"  {run.daemons} daemon(s): {run.steps:,} steps in {run.seconds:.2f} s, "
                    f"{per_s(run.rate, 'firings/s')}, fired per daemon {run.fired}; "
                    f"{run.samples:,} samples, waiting on the chain's advisory lock in "
                    f"{run.advisory_share:.0%}, on row locks in "
                    f"{run.row_lock_samples / max(run.samples, 1):.0%}")
            say(f"  audit chain verifies: {pg.chain_ok}")
            rows += pg_rows(pg)

        say(f"\n[3/4] working days: {sizes.calendar_calls:,} add_workdays calls, "
            f"{sizes.compute_calls:,} deadlines.compute calls, random dates 2024-2029")
        cal = measure_calendar(sizes.calendar_calls, sizes.compute_calls)
        say(f"  add_workdays       : {cal.add_seconds:.2f} s, "
            f"{per_s(cal.add_calls / cal.add_seconds, 'calls/s')}")
        say(f"  deadlines.compute  : {cal.compute_seconds:.2f} s, "
            f"{per_s(cal.compute_calls / cal.compute_seconds, 'calls/s')}")
        rows += calendar_rows(cal)

        say(f"\n[4/4] summary (total {time.perf_counter() - began:,.0f} s, "
            f"load average at end {load_average()})\n")
        print_table(rows)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # tests.pgserver, also in spawned processes
    sys.exit(main())
