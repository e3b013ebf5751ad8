"""Core benchmark: write throughput, memory, scaling and CLI latency, each against a baseline
measured in the same run.

Run from the repository root with the project's virtual environment::

    .venv/bin/python bench/core_bench.py            # full run, about 15 minutes
    .venv/bin/python bench/core_bench.py --quick    # small sizes, about a minute

Every measurement whose memory figure matters runs in a freshly spawned interpreter, so each
peak RSS belongs to that measurement alone. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import hmac
import json
import multiprocessing
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from transitions import Machine

from duban import workflows
from duban.app import build_service
from duban.engine.clock import SystemClock
from duban.engine.directory import NewPerson
from duban.engine.items import NewItem
from duban.engine.models import ITEM
from duban.engine.ports import Clock
from duban.engine.registry import Registry
from duban.engine.service import Service
from duban.engine.settings import Settings
from duban.engine.workflow import ANY_STATE, Workflow

T = TypeVar("T")

ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 2, 9, 0, tzinfo=ZONE)
TICK = timedelta(milliseconds=1)
ADMIN = "admin"
SUPERVISOR = "zhao"
HANDLER = "wang"
EVENT = "sign"
UNITS = (("DCS", "局督查室"), ("JJK", "基础教育科"), ("AQK", "安全稳定科"), ("SYZ", "市第一中学"))
PEOPLE = (
    ("zhao", "赵督查", "DCS", ("supervisor",)),
    ("zhou", "周科长", "JJK", ()),
    ("wang", "王承办", "JJK", ("handler",)),
    ("zheng", "郑承办", "AQK", ("handler",)),
    ("lin", "林老师", "SYZ", ("handler",)),
)
FILLER_UNITS = ("JJK", "AQK", "SYZ")
FILLER_STATES = ("assigned", "in_progress")
FILL_BATCH = 20_000
CHUNK = 1_000  # service and raw floors take turns this many events at a time
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DateTime on SQLite

# Targets from the issue; "does not grow" is judged with a tolerance for run-to-run noise.
TARGET_RAW_SHARE = 0.10
TARGET_EVENTS_PER_S = 2_000.0
TARGET_OPEN_ITEMS_KEEP = 0.80
TARGET_HELP_RATIO = 2.0
TARGET_STATE_CHANGE_RATIO = 1.3


@dataclass(frozen=True)
class Sizes:
    items: int
    open_small: int
    open_large: int
    fires: int
    rounds: int
    machines: int
    cli_runs: int


FULL = Sizes(items=100_000, open_small=10_000, open_large=1_000_000, fires=2_000, rounds=8,
             machines=10_000, cli_runs=7)
QUICK = Sizes(items=3_000, open_small=10_000, open_large=50_000, fires=500, rounds=4,
              machines=2_000, cli_runs=5)


# -- small helpers ---------------------------------------------------------------------------


class SteppingClock:
    """A clock that moves one millisecond each time it is read: distinct, repeatable instants."""

    def __init__(self, start: datetime) -> None:
        self._at = start

    def now(self) -> datetime:
        self._at += TICK
        return self._at


def peak_rss() -> int:
    """Peak resident set size of this process, in bytes."""
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage if sys.platform == "darwin" else usage * 1024


def current_rss() -> int:
    """Resident set size now, in bytes (Linux); the peak where /proc is not available."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
    except OSError:
        return peak_rss()
    return pages * os.sysconf("SC_PAGE_SIZE")


def isolated(func: Callable[..., T], *args: Any) -> T:
    """Run one measurement in a freshly spawned interpreter; its RSS figures are its own."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(func, *args).result()


def mib(size: float) -> str:
    return f"{size / 2**20:,.1f} MiB"


def per_s(count: float, unit: str = "/s") -> str:
    return f"{count:,.0f} {unit}"


def say(text: str = "") -> None:
    print(text, flush=True)


def key_path(workdir: Path) -> Path:
    return workdir / "keys" / "audit.key"


def build_office(workdir: Path, name: str, clock: Clock, admin: str = ADMIN) -> Service:
    """A migrated SQLite database with a small office: units, a supervisor, handlers."""
    settings = Settings(db_url=f"sqlite:///{workdir / name}", audit_key_path=key_path(workdir))
    svc = build_service(settings, clock)
    svc.init(admin, "管理员")
    svc.add_unit(admin, "JYJ", "市教育局")
    for code, label in UNITS:
        svc.add_unit(admin, code, label, parent="JYJ")
    for login, label, unit, roles in PEOPLE:
        svc.add_person(admin, NewPerson(login, label, unit, roles))
    svc.set_unit_head(admin, "JJK", "zhou")
    return svc


def create_items(svc: Service, count: int, deadline: datetime) -> list[int]:
    """Register ``count`` items through the service, one transaction each."""
    return [
        svc.new_item(SUPERVISOR, NewItem(title=f"校园安全隐患排查 {n}", lead_unit="JJK",
                                         deadline=deadline))["id"]
        for n in range(count)
    ]


def sign_all(svc: Service, item_ids: Sequence[int]) -> float:
    """Fire ``sign`` on each item through the service; returns the seconds taken."""
    start = time.perf_counter()
    for item_id in item_ids:
        svc.fire(HANDLER, item_id, EVENT)
    return time.perf_counter() - start


def snapshot_db(source: Path, target: Path) -> None:
    """Copy a live SQLite database (WAL included) with the backup API."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


# -- 1. service writes, interleaved with the raw sqlite3 floor ------------------------------


class RawFloor:
    """``sign`` with plain sqlite3, one transaction each, on a copy of the service's database.

    Always: BEGIN IMMEDIATE; read the item row; versioned UPDATE of state/version/updated_at;
    read the audit head; hash-chain and INSERT the audit event; COMMIT. With ``all_writes``
    also what the engine writes besides for ``sign``: the item's ``attrs`` (its new owner) and
    a signed checkpoint row. Pragmas as in engine/db.py: WAL, synchronous=NORMAL.
    """

    def __init__(self, path: Path, key_file: Path, *, all_writes: bool) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)  # BEGIN/COMMIT are ours
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA busy_timeout=15000")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.all_writes = all_writes
        self.key = bytes.fromhex(key_file.read_text().strip())
        self.key_id = hashlib.sha256(self.key).hexdigest()[:16]
        columns = [d[0] for d in self.conn.execute("SELECT * FROM item LIMIT 0").description]
        self._state, self._version, self._attrs = (
            columns.index(name) for name in ("state", "version", "attrs"))
        self._at = START.astimezone(UTC)
        self.events = 0
        self.seconds = 0.0

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    def sign_all(self, item_ids: Sequence[int]) -> None:
        start = time.perf_counter()
        for item_id in item_ids:
            self._sign(item_id)
        self.seconds += time.perf_counter() - start
        self.events += len(item_ids)

    def close(self) -> None:
        self.conn.close()

    def _sign(self, item_id: int) -> None:
        conn = self.conn
        self._at += TICK
        stored_at = self._at.strftime(SQLITE_TIME)
        hashed_at = self._at.isoformat(timespec="microseconds")
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute("SELECT * FROM item WHERE id = ?", (item_id,)).fetchone()
        state, version = row[self._state], row[self._version]
        if state != "assigned":
            raise RuntimeError(f"item {item_id} is {state}")
        changes: dict[str, Any] = {"state": [state, "in_progress"],
                                   "version": [version, version + 1]}
        if self.all_writes:
            attrs = json.loads(row[self._attrs])
            changes["attrs"] = [attrs, {**attrs, "owner": HANDLER}]
            updated = conn.execute(
                "UPDATE item SET state = ?, attrs = ?, version = ?, updated_at = ? "
                "WHERE id = ? AND version = ?",
                ("in_progress", json.dumps(changes["attrs"][1]), version + 1, stored_at,
                 item_id, version),
            )
        else:
            updated = conn.execute(
                "UPDATE item SET state = ?, version = ?, updated_at = ? "
                "WHERE id = ? AND version = ?",
                ("in_progress", version + 1, stored_at, item_id, version),
            )
        if updated.rowcount != 1:
            raise RuntimeError(f"item {item_id} changed meanwhile")
        seq, prev_hash = conn.execute(
            "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1").fetchone()
        payload = {"values": {}, "changes": changes}
        body = {"seq": seq + 1, "at": hashed_at, "actor": HANDLER, "item_id": item_id,
                "action": "event", "event": EVENT, "from_state": state,
                "to_state": "in_progress", "reason": None, "payload": payload}
        text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        new_hash = hashlib.sha256((prev_hash + text).encode()).hexdigest()
        conn.execute(
            "INSERT INTO audit_event (seq, at, actor, item_id, action, event, from_state, "
            "to_state, reason, payload, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq + 1, stored_at, HANDLER, item_id, "event", EVENT, state, "in_progress", None,
             json.dumps(payload, ensure_ascii=False), prev_hash, new_hash),
        )
        if self.all_writes:
            message = f"duban-audit-checkpoint:{seq + 1}:{new_hash}"
            signature = hmac.new(self.key, message.encode(), hashlib.sha256).hexdigest()
            conn.execute(
                "INSERT INTO audit_checkpoint (seq, head_hash, at, key_id, signature) "
                "VALUES (?, ?, ?, ?, ?)",
                (seq + 1, new_hash, stored_at, self.key_id, signature),
            )
        conn.execute("COMMIT")


@dataclass(frozen=True)
class WritesResult:
    items: int
    item_seconds: float
    events: int
    event_seconds: float
    raw_events: int
    raw_seconds: float
    raw_all_seconds: float
    rss_setup: int
    peak_after_items: int
    peak_after_events: int

    @property
    def items_per_s(self) -> float:
        return self.items / self.item_seconds

    @property
    def events_per_s(self) -> float:
        return self.events / self.event_seconds

    @property
    def raw_per_s(self) -> float:
        return self.raw_events / self.raw_seconds

    @property
    def raw_all_per_s(self) -> float:
        return self.raw_events / self.raw_all_seconds


def measure_writes(workdir: Path, count: int) -> WritesResult:
    """N items via ``svc.new_item``, then N ``sign`` events via ``svc.fire``, one transaction
    each; the raw floors sign the same items on copies of the database taken in between.

    Service and raw floors take turns, :data:`CHUNK` events at a time, so that a change in
    machine load during the run affects both sides of the ratio alike.
    """
    svc = build_office(workdir, "service.db", SteppingClock(START))
    gc.collect()
    rss_setup = peak_rss()
    start = time.perf_counter()
    item_ids = create_items(svc, count, START + timedelta(days=60))
    item_seconds = time.perf_counter() - start
    peak_after_items = peak_rss()
    floors = []
    for name, all_writes in (("raw.db", False), ("raw_all.db", True)):
        snapshot_db(workdir / "service.db", workdir / name)
        floors.append(RawFloor(workdir / name, key_path(workdir), all_writes=all_writes))
    event_seconds = 0.0
    for offset in range(0, count, CHUNK):
        chunk = item_ids[offset:offset + CHUNK]
        event_seconds += sign_all(svc, chunk)
        for floor in floors:
            floor.sign_all(chunk)
    peak_after_events = peak_rss()
    last = svc.item(ADMIN, item_ids[-1])
    if last["state"] != "in_progress" or last["version"] != 2:
        raise RuntimeError(f"unexpected item after signing: {last}")
    svc.close()
    for floor in floors:
        floor.close()
    raw, raw_all = floors
    return WritesResult(count, item_seconds, len(item_ids), event_seconds, raw.events,
                        raw.seconds, raw_all.seconds, rss_setup, peak_after_items,
                        peak_after_events)


# -- 2. one machine per item vs one shared machine ------------------------------------------


class BenchItem:
    """Stands in for an item object: an id and a state."""

    def __init__(self, item_id: int) -> None:
        self.id = item_id
        self.state = "assigned"


@dataclass(frozen=True)
class MachineResult:
    design: str
    items: int
    build_seconds: float
    rss_delta: int
    fire_seconds: float
    peak: int

    @property
    def build_per_s(self) -> float:
        return self.items / self.build_seconds

    @property
    def firings_per_s(self) -> float:
        return self.items / self.fire_seconds

    @property
    def kib_per_item(self) -> float:
        return self.rss_delta / self.items / 1024


def _transitions_of(workflow: Workflow) -> list[dict[str, Any]]:
    """The same transition table engine.registry.build_machine gives ``transitions``."""
    return [
        {
            "trigger": event.name,
            "source": ANY_STATE if ANY_STATE in event.source else list(event.source),
            "dest": event.dest,
        }
        for event in workflow.events
    ]


def measure_naive_machines(count: int) -> MachineResult:
    """The naive design: one ``transitions.Machine`` per item, with the item as its model."""
    workflow = Registry.discover((workflows,)).latest("standard")
    states = [state.name for state in workflow.states]
    table = _transitions_of(workflow)
    items = [BenchItem(n) for n in range(count)]
    gc.collect()
    rss_before = current_rss()
    start = time.perf_counter()
    machines = [
        Machine(model=item, states=states, transitions=table, initial=workflow.initial,
                auto_transitions=False, ignore_invalid_triggers=False)
        for item in items
    ]
    build_seconds = time.perf_counter() - start
    gc.collect()
    rss_delta = current_rss() - rss_before
    start = time.perf_counter()
    for item in items:
        getattr(item, EVENT)()
    fire_seconds = time.perf_counter() - start
    if any(item.state != "in_progress" for item in items) or len(machines) != count:
        raise RuntimeError("naive machines did not move every item")
    return MachineResult("naive", count, build_seconds, rss_delta, fire_seconds, peak_rss())


def measure_shared_machine(count: int) -> MachineResult:
    """The engine's design: ``Registry.machine`` once, ``Registry.fire`` per firing."""
    registry = Registry.discover((workflows,))
    workflow = registry.latest("standard")
    items = [BenchItem(n) for n in range(count)]
    gc.collect()
    rss_before = current_rss()
    start = time.perf_counter()
    registry.machine(workflow)
    build_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for item in items:
        item.state = registry.fire(workflow, EVENT, item.state)
    fire_seconds = time.perf_counter() - start
    gc.collect()
    rss_delta = current_rss() - rss_before
    if any(item.state != "in_progress" for item in items):
        raise RuntimeError("the shared machine did not move every item")
    return MachineResult("shared", count, build_seconds, rss_delta, fire_seconds, peak_rss())


# -- 3. firing cost vs number of open items -------------------------------------------------


@dataclass(frozen=True)
class ScalingResult:
    small: int
    large: int
    small_rates: list[float]
    large_rates: list[float]
    fill_seconds: float

    @property
    def small_rate(self) -> float:
        return statistics.median(self.small_rates)

    @property
    def large_rate(self) -> float:
        return statistics.median(self.large_rates)


def count_rows(conn: Any) -> int:
    return conn.execute(select(func.count()).select_from(ITEM)).scalar_one()


def fill_open_items(svc: Service, template: dict[str, Any], total: int) -> None:
    """Bulk-insert open rows shaped like ``template`` (a real item) until there are ``total``.

    SQLAlchemy Core executemany, one transaction per batch; no audit events: the rows only
    need to exist as open items.
    """
    with svc.db.read() as conn:
        missing = total - count_rows(conn)
    base = {name: value for name, value in template.items() if name != "id"}
    for first in range(0, missing, FILL_BATCH):
        rows = [
            {**base, "lead_unit": FILLER_UNITS[n % 3], "state": FILLER_STATES[n % 2]}
            for n in range(first, min(first + FILL_BATCH, missing))
        ]
        with svc.db.write() as conn:
            conn.execute(insert(ITEM), rows)
    with svc.db.read() as conn:
        present = count_rows(conn)
    if present != total:
        raise RuntimeError(f"expected {total} items, found {present}")


def measure_open_scaling(workdir: Path, small: int, large: int, fires: int,
                         rounds: int) -> ScalingResult:
    """``svc.fire`` events/s on a database with ``small`` and one with ``large`` open items.

    Each database gets ``fires`` real items through the service and bulk-inserted open rows
    up to its size. Then both are signed in ``rounds`` rounds, taking turns (and swapping who
    goes first) so that a change in machine load during the run affects both alike.
    """
    offices: list[tuple[Service, list[int]]] = []
    fill_seconds = 0.0
    for size in (small, large):
        svc = build_office(workdir, f"open_{size}.db", SteppingClock(START))
        real = create_items(svc, fires, START + timedelta(days=60))
        start = time.perf_counter()
        fill_open_items(svc, svc.item(ADMIN, real[0]), size)
        fill_seconds = time.perf_counter() - start
        offices.append((svc, real))
    per_round = fires // rounds
    rates: list[list[float]] = [[], []]
    for number in range(rounds):
        order = (0, 1) if number % 2 == 0 else (1, 0)
        for which in order:
            svc, real = offices[which]
            chunk = real[number * per_round:(number + 1) * per_round]
            rates[which].append(len(chunk) / sign_all(svc, chunk))
    for svc, _ in offices:
        svc.close()
    return ScalingResult(small, large, rates[0], rates[1], fill_seconds)


# -- 4. CLI latency -------------------------------------------------------------------------


@dataclass
class CliResult:
    runs: int
    times: dict[str, list[float]] = field(default_factory=dict)

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])

    def best(self, name: str) -> float:
        return min(self.times[name])

    def ratios(self, name: str, baseline: str) -> tuple[float, float]:
        """``name`` over ``baseline``: of the medians (judged) and of the best runs."""
        return (self.median(name) / self.median(baseline),
                self.best(name) / self.best(baseline))


def prepare_cli_db(workdir: Path, items_needed: int) -> tuple[Path, list[int]]:
    """A database the ``duban`` command can sign items in, with the OS user as its admin."""
    from duban.commands.context import os_login  # the login the CLI itself will see

    svc = build_office(workdir, "cli.db", SystemClock(), admin=os_login())
    item_ids = create_items(svc, items_needed, datetime.now(UTC) + timedelta(days=30))
    svc.close()  # closing the last connection folds the WAL back into the file
    return workdir / "cli.db", item_ids


def _timed_run(command: Sequence[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited with {done.returncode}: {done.stderr.strip()}")
    return elapsed


def measure_cli(workdir: Path, runs: int) -> CliResult:
    """Median wall time of ``duban --help`` and of one state change through ``duban``, each
    run interleaved with the bare-import baseline it is compared with."""
    bindir = Path(sys.executable).parent
    python, duban = str(Path(sys.executable)), str(bindir / "duban")
    if not Path(duban).exists():
        raise RuntimeError(f"{duban} not found: run with the project's virtual environment")
    db_path, item_ids = prepare_cli_db(workdir, runs + 1)
    # An installed package has its bytecode; an editable checkout with PYTHONDONTWRITEBYTECODE
    # set (as here) would otherwise compile the project's modules on every run.
    root = Path(__file__).resolve().parent.parent
    subprocess.run([python, "-m", "compileall", "-q", str(root / "engine"),
                    str(root / "workflows"), str(root / "cli.py")], check=True,
                   stdout=subprocess.DEVNULL)
    env = {name: value for name, value in os.environ.items() if not name.startswith("DUBAN_")}
    env["DUBAN_AUDIT_KEY"] = str(key_path(workdir))
    env["DUBAN_CONFIG"] = str(workdir / "no-such-config.toml")
    commands: dict[str, Callable[[int], list[str]]] = {
        "import click": lambda _: [python, "-c", "import click"],
        "duban --help": lambda _: [duban, "--help"],
        "import sqlmodel, transitions, click":
            lambda _: [python, "-c", "import sqlmodel, transitions, click"],
        "duban sign": lambda item: [duban, "--db", str(db_path), "--as", HANDLER, EVENT,
                                    str(item)],
    }
    result = CliResult(runs, {name: [] for name in commands})
    for run, item_id in enumerate(item_ids):  # run 0 warms caches and is not counted
        for name, command in commands.items():
            elapsed = _timed_run(command(item_id), env)
            if run:
                result.times[name].append(elapsed)
    settings = Settings(db_url=f"sqlite:///{db_path}", audit_key_path=key_path(workdir))
    check = build_service(settings)
    states = {check.item(HANDLER, item_id)["state"] for item_id in item_ids}
    check.close()
    if states != {"in_progress"}:
        raise RuntimeError(f"duban sign left items in states {states}")
    return result


# -- summary --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    figure: str
    value: str
    baseline: str
    ratio: str
    target: str
    verdict: str


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def summary_rows(service: WritesResult, naive: MachineResult, shared: MachineResult,
                 scaling: ScalingResult, cli_result: CliResult) -> list[Row]:
    share = service.events_per_s / service.raw_per_s
    share_all = service.events_per_s / service.raw_all_per_s
    keep = scaling.large_rate / scaling.small_rate
    help_ratio, help_best = cli_result.ratios("duban --help", "import click")
    sign_ratio, sign_best = cli_result.ratios("duban sign", "import sqlmodel, transitions, click")
    growth = service.peak_after_events - service.rss_setup
    return [
        Row(f"svc.new_item, {service.items:,} items", per_s(service.items_per_s, "items/s"),
            "-", "-", "-", "info"),
        Row(f"svc.fire({EVENT}), {service.events:,} events",
            per_s(service.events_per_s, "events/s"),
            f"raw sqlite3 {per_s(service.raw_per_s, 'events/s')}", f"{share:.1%}",
            f">= {TARGET_RAW_SHARE:.0%}", verdict(share >= TARGET_RAW_SHARE)),
        Row("svc.fire, absolute", per_s(service.events_per_s, "events/s"), "-", "-",
            f">= {TARGET_EVENTS_PER_S:,.0f}/s",
            verdict(service.events_per_s >= TARGET_EVENTS_PER_S)),
        Row("svc.fire vs raw, all writes", per_s(service.events_per_s, "events/s"),
            f"raw+attrs+checkpoint {per_s(service.raw_all_per_s, '/s')}", f"{share_all:.1%}",
            "-", "info"),
        Row("peak RSS, service run", mib(service.peak_after_events),
            f"after setup {mib(service.rss_setup)}", f"+{mib(growth)}", "-", "info"),
        Row(f"build {naive.items:,} machines", per_s(naive.build_per_s, "items/s"),
            f"shared: 1 machine in {shared.build_seconds * 1000:.1f} ms", "-", "-", "info"),
        Row("machine memory per item", f"naive {naive.kib_per_item:,.1f} KiB",
            f"shared {shared.kib_per_item:,.2f} KiB",
            f"{naive.rss_delta / 2**20:,.1f} vs {mib(shared.rss_delta)}", "-", "info"),
        Row("machine firings/s (no database)", per_s(shared.firings_per_s, "shared"),
            per_s(naive.firings_per_s, "naive"),
            f"{shared.firings_per_s / naive.firings_per_s:.2f}x", "-", "info"),
        Row(f"svc.fire with {scaling.large:,} open items", per_s(scaling.large_rate, "events/s"),
            f"{scaling.small:,} open: {per_s(scaling.small_rate, 'events/s')}", f"{keep:.0%}",
            f">= {TARGET_OPEN_ITEMS_KEEP:.0%}", verdict(keep >= TARGET_OPEN_ITEMS_KEEP)),
        Row("duban --help", f"{cli_result.median('duban --help') * 1000:,.0f} ms",
            f"import click {cli_result.median('import click') * 1000:,.0f} ms",
            f"{help_ratio:.2f}x (best {help_best:.2f}x)", f"<= {TARGET_HELP_RATIO:.1f}x",
            verdict(help_ratio <= TARGET_HELP_RATIO)),
        Row(f"duban --as {HANDLER} {EVENT} ID",
            f"{cli_result.median('duban sign') * 1000:,.0f} ms",
            f"3 imports {cli_result.median('import sqlmodel, transitions, click') * 1000:,.0f}"
            " ms",
            f"{sign_ratio:.2f}x (best {sign_best:.2f}x)",
            f"<= {TARGET_STATE_CHANGE_RATIO:.1f}x",
            verdict(sign_ratio <= TARGET_STATE_CHANGE_RATIO)),
    ]


def print_table(rows: list[Row]) -> None:
    headers = Row("Figure", "Value", "Baseline", "Ratio", "Target", "Result")
    table = [headers, *rows]
    widths = [max(len(getattr(row, name)) for row in table) for name in Row.__dataclass_fields__]

    def line(row: Row) -> str:
        cells = [getattr(row, name) for name in Row.__dataclass_fields__]
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    say(line(headers).rstrip())
    say("  ".join("-" * width for width in widths))
    for row in rows:
        say(line(row).rstrip())


# -- main -----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> tuple[Sizes, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes for a run of about a minute")
    parser.add_argument("--items", type=int, help=f"items and events (default {FULL.items:,})")
    parser.add_argument("--open-small", type=int,
                        help=f"open items for the small case (default {FULL.open_small:,})")
    parser.add_argument("--open-large", type=int,
                        help=f"open items for the large case (default {FULL.open_large:,})")
    parser.add_argument("--fires", type=int,
                        help=f"svc.fire calls per open-items case (default {FULL.fires:,})")
    parser.add_argument("--machines", type=int,
                        help=f"items for the machine comparison (default {FULL.machines:,})")
    parser.add_argument("--cli-runs", type=int,
                        help=f"timed runs per command (default {FULL.cli_runs})")
    parser.add_argument("--workdir", type=Path,
                        help="where to put the databases (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    sizes = Sizes(
        items=args.items or base.items,
        open_small=args.open_small or base.open_small,
        open_large=args.open_large or base.open_large,
        fires=args.fires or base.fires,
        rounds=base.rounds,
        machines=args.machines or base.machines,
        cli_runs=args.cli_runs or base.cli_runs,
    )
    if sizes.open_small < sizes.fires:
        parser.error("--open-small must be at least --fires (the real items count too)")
    if sizes.open_large <= sizes.open_small:
        parser.error("--open-large must be larger than --open-small")
    if min(sizes.items, sizes.machines, sizes.cli_runs) < 1 or sizes.fires < sizes.rounds:
        parser.error(f"sizes must be positive and --fires at least {sizes.rounds}")
    return sizes, args


@contextmanager
def bench_workdir(args: argparse.Namespace, name: str, sizes: object,
                  note: str = "") -> Iterator[Path]:
    """The benchmark's folder with its header printed; removed afterwards unless kept."""
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=f"duban-{name}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"duban {name} benchmark: Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.platform()}, {os.cpu_count()} CPUs")
    say(f"sizes: {sizes}")
    say(f"databases in {workdir}{note}")
    try:
        yield workdir
    finally:
        if args.keep:
            say(f"\ndatabases kept in {workdir}")
        elif args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    sizes, args = parse_args(argv)
    began = time.perf_counter()
    with bench_workdir(args, "core", sizes) as workdir:
        say(f"\n[1/5] {sizes.items:,} items via svc.new_item, then {sizes.items:,} x "
            f"svc.fire({EVENT!r}), one transaction each;\n      the raw sqlite3 floors sign the "
            f"same items on copies of the database, taking turns every {CHUNK:,} events")
        writes = isolated(measure_writes, workdir, sizes.items)
        say(f"  svc.new_item                         : {writes.item_seconds:7.1f} s  "
            f"{per_s(writes.items_per_s, 'items/s')}")
        say(f"  svc.fire                             : {writes.event_seconds:7.1f} s  "
            f"{per_s(writes.events_per_s, 'events/s')}")
        say(f"  raw: item update + chained audit     : {writes.raw_seconds:7.1f} s  "
            f"{per_s(writes.raw_per_s, 'events/s')}")
        say(f"  raw: ... + attrs + signed checkpoint : {writes.raw_all_seconds:7.1f} s  "
            f"{per_s(writes.raw_all_per_s, 'events/s')}")
        say(f"  peak RSS: after setup {mib(writes.rss_setup)}, after items "
            f"{mib(writes.peak_after_items)}, after events {mib(writes.peak_after_events)}")

        say(f"\n[2/5] {sizes.machines:,} items: one transitions.Machine each vs one shared "
            "machine (no database)")
        naive = isolated(measure_naive_machines, sizes.machines)
        shared = isolated(measure_shared_machine, sizes.machines)
        for result in (naive, shared):
            say(f"  {result.design:6}: build {result.build_seconds * 1000:9.1f} ms, "
                f"RSS +{mib(result.rss_delta)} ({result.kib_per_item:,.2f} KiB/item), "
                f"fire {per_s(result.firings_per_s, 'firings/s')}, peak {mib(result.peak)}")

        say(f"\n[3/5] svc.fire with {sizes.open_small:,} and with {sizes.open_large:,} open "
            f"items: {sizes.fires:,} firings each, {sizes.rounds} alternating rounds")
        scaling = isolated(measure_open_scaling, workdir, sizes.open_small, sizes.open_large,
                           sizes.fires, sizes.rounds)
        for size, rates, median in ((scaling.small, scaling.small_rates, scaling.small_rate),
                                    (scaling.large, scaling.large_rates, scaling.large_rate)):
            say(f"  {size:>9,} open: " + ", ".join(f"{rate:,.0f}" for rate in rates)
                + f" events/s; median {median:,.0f}")
        say(f"  (bulk insert up to {scaling.large:,} rows took {scaling.fill_seconds:.1f} s)")

        say(f"\n[4/5] CLI wall time, median of {sizes.cli_runs} runs after one warm-up, "
            "interleaved")
        cli_result = measure_cli(workdir, sizes.cli_runs)
        for name, times in cli_result.times.items():
            say(f"  {name:36}: median {statistics.median(times) * 1000:7.1f} ms, "
                f"best {min(times) * 1000:7.1f} ms")

        say(f"\n[5/5] summary (total {time.perf_counter() - began:,.0f} s)\n")
        print_table(summary_rows(writes, naive, shared, scaling, cli_result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
