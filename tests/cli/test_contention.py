"""Contention on the embedded SQLite database: three people at their shells and the daemon at
once, every command a process of its own.

Three writers fork ``duban`` for each command in a loop: they assign items, sign, report
progress, report, send back, verify, close, edit titles and tick, part of the time on items of
their own, part of the time racing each other on the same shared items. Meanwhile ``duban
daemon`` ticks every second and delivers the notices. Afterwards the record must hold exactly
what the writers were told was done:

- no "database is locked", no OperationalError, no internal error in any output;
- every command exits 0, or, where writers race on purpose, with a clean refusal: 3 (not
  possible in this state, e.g. already signed by another) or 5 (changed meanwhile, for a
  command that named the version it expected); never 70;
- every success is in the audit record exactly once and nothing else is (no lost update, no
  phantom one), every exit-3 refusal is recorded once, every item's row is what its events say;
- every timer step fired at most once, and as many firings as the tickers reported;
- ``duban audit verify`` and ``duban audit rebuild`` pass;
- every daemon, whenever its SIGTERM comes, finishes its batch and exits 0.

Time is simulated with ``--now`` and moves with the wall clock (one day every SIM_DAY real
seconds), so that deadlines pass and timer steps come due during the run; nothing sleeps to
wait for a deadline. A daemon's ``--now`` is fixed for its life, so the daemon is restarted
every PHASE seconds with the end of the new phase as its clock: a daemon a little ahead of the
people, firing each step as it comes due for it. The writers' own ticks run at the daemon's
time, so that they race it for the same steps.

The default run writes for DEFAULT_SECONDS; ``DUBAN_CONTENTION_SECONDS=180`` runs longer. The
figures are printed (``pytest -s``).
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import signal
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from duban.app import build_service
from duban.engine.clock import FixedClock
from duban.engine.items import NewItem
from duban.engine.models import AUDIT_EVENT, ITEM, NOTICE, TIMER, TimerStatus
from duban.engine.settings import Settings
from tests.cli.conftest import DUBAN, Cli
from tests.conftest import SHANGHAI

DEFAULT_SECONDS = 30.0
SECONDS = float(os.environ.get("DUBAN_CONTENTION_SECONDS", DEFAULT_SECONDS))
WRITERS = 3
# A Friday: the run crosses a weekend and, from the 25th, the monthly progress requests.
START = datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI)
SIM_DAY = 3.0  # real seconds per simulated day: a 30 s run covers ten days, deadlines pass
PHASE = 6.0  # real seconds a daemon lives; its clock is the end of its phase
SHARED_ITEMS = max(2, math.ceil(SECONDS / 10))  # enough that the writers never run out
COMMAND_TIMEOUT = 120  # a hung command fails the run instead of hanging it
STOP_TIMEOUT = 30  # a daemon told to stop finishes its batch of a few steps well within this
OWN_DEADLINES = ("1个工作日", "2个工作日", "3个工作日", "4天")

# Who does what in the standard workflow, and which value carries a command's unique marker.
ACTOR = {"sign": "wang", "progress": "wang", "report": "wang", "reject": "zhao",
         "verify": "zhao", "close": "zhao"}
MARKED = {"sign": None, "progress": "note", "report": "report", "reject": "reason",
          "verify": "note", "close": "note"}
STATE_AFTER = {"sign": "in_progress", "report": "reported", "reject": "in_progress",
               "verify": "verified", "close": "closed"}
# Each writer walks the shared items in the same order with the same steps, so the writers
# arrive at each step together: one wins a state change, the others are refused.
SHARED_PLAN = ("sign", "progress_expecting", "progress", "report", "verify", "close")
RACE = frozenset({3})  # a lost race: the state has moved on
RACE_ON_VERSION = frozenset({3, 5})  # ... or the version named has moved on

# Anything that would mean a writer ran into another instead of queueing behind it, or a bug.
TROUBLE = re.compile(r"database is locked|OperationalError|Traceback|内部错误|数据库无法使用"
                     r"|数据库正忙|数据库拒绝了操作|拒绝记录未能写入审计|raised an exception")
DAEMON_STARTED = "duban daemon 启动"
DAEMON_ROUND = re.compile(r"触发 (\d+) 步, 跳过 (\d+), 取消 (\d+), 失败 (\d+)")


def stamp(moment: datetime) -> str:
    """``--now`` as users type it, in the office's time."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M:%S")


class SimClock:
    """The office's simulated time, moving with the wall clock from START."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def at(self, seconds: float) -> datetime:
        return START + timedelta(days=seconds / SIM_DAY)

    def users_now(self) -> datetime:
        return self.at(self.elapsed())

    def phase(self) -> int:
        return int(self.elapsed() // PHASE)

    def daemon_now(self, phase: int) -> datetime:
        return self.at((phase + 1) * PHASE)


@dataclass(frozen=True)
class Ran:
    """One command a writer forked, and what came of it."""

    who: str
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    seconds: float
    planned: frozenset[int]  # the refusal codes planned for this command besides 0

    @property
    def expected(self) -> bool:
        return self.code == 0 or self.code in self.planned

    def shown(self) -> str:
        return f"{self.who} {' '.join(self.args)} -> {self.code}: {self.stderr.strip()[:300]}"


Success = tuple[int, str, str | None]  # (item, event, marker)


class Writer:
    """One person's shell: forks ``duban`` per command until its time is up, and keeps a
    ledger of what it was told it did."""

    def __init__(self, number: int, env: dict[str, str], clock: SimClock, shared: list[int],
                 until: float) -> None:
        self.name = f"W{number}"
        self.env, self.clock, self.shared, self.until = env, clock, shared, until
        self.rng = random.Random(number)  # the choices repeat; only the timing varies
        self.ran: list[Ran] = []
        self.done: Counter[Success] = Counter()
        self.refused: Counter[tuple[int, str]] = Counter()
        self.edits: Counter[tuple[int, str]] = Counter()
        self.titles: dict[int, str] = {}  # each own item's title, after the last edit
        self.states: dict[int, str] = {}  # the state each own item must be in
        self.plans: dict[int, list[str]] = {}  # the steps left of each open own item
        self.broken: set[int] = set()  # own items a command failed on: their ledger is unsure
        self.shared_at = (0, 0)  # (shared item, step of SHARED_PLAN) this writer is at
        self.serial = 0
        self.created = 0
        self.ticks: Counter[str] = Counter()  # what this writer's ticks reported

    # -- the loop ---------------------------------------------------------------------------

    def work(self) -> None:
        while time.monotonic() < self.until:
            roll = self.rng.random()
            if roll < 0.1:
                self.tick()
            elif roll < 0.55 and self.shared_step():
                pass
            else:
                self.own_step()

    def command(self, *args: str, now: datetime | None = None,
                planned: frozenset[int] = frozenset()) -> Ran:
        moment = now or self.clock.users_now()
        began = time.monotonic()
        done = subprocess.run([DUBAN, "--now", stamp(moment), *args], env=self.env,
                              capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
        ran = Ran(self.name, args, done.returncode, done.stdout, done.stderr,
                  time.monotonic() - began, planned)
        self.ran.append(ran)
        return ran

    def marker(self) -> str:
        """A value no other command writes, to find this command's event in the record."""
        self.serial += 1
        return f"{self.name}-{self.serial}"

    def fire(self, item_id: int, event: str, *, planned: frozenset[int] = frozenset(),
             expect: int | None = None) -> int:
        now = self.clock.users_now()
        field, marker = MARKED[event], None
        args = ["--as", ACTOR[event], event, str(item_id)]
        if field is not None:
            marker = self.marker()
            args += [f"--{field}", marker]
        if event == "reject":  # a new deadline three days on: later than now, as required
            args += ["--deadline", (now + timedelta(days=3)).strftime("%Y-%m-%d %H:%M")]
        if expect is not None:
            args += ["--expect-version", str(expect)]
        ran = self.command(*args, now=now, planned=planned)
        if ran.code == 0:
            self.done[(item_id, event, marker)] += 1
        elif ran.code == 3:  # a refusal is recorded in the audit trail: counted to check it
            self.refused[(item_id, event)] += 1
        return ran.code

    # -- ticking at the daemon's time, racing it for the same steps -------------------------

    def tick(self) -> None:
        ran = self.command("tick", "--json", now=self.clock.daemon_now(self.clock.phase()))
        if ran.code == 0:
            report = json.loads(ran.stdout)
            self.ticks.update({key: report[key] for key in ("fired", "skipped", "failed")})

    # -- the shared items: every writer races for every step --------------------------------

    def shared_step(self) -> bool:
        index, step = self.shared_at
        if index >= len(self.shared):
            return False
        item_id, name = self.shared[index], SHARED_PLAN[step]
        if name == "progress_expecting":  # read the version, then write only if it still is
            ran = self.command("--as", "zhao", "item", "show", str(item_id), "--json")
            if ran.code == 0:
                self.fire(item_id, "progress", expect=json.loads(ran.stdout)["version"],
                          planned=RACE_ON_VERSION)
        else:  # a faster writer may have moved the item on: refused, never half done
            self.fire(item_id, name, planned=RACE)
        self.shared_at = (index, step + 1) if step + 1 < len(SHARED_PLAN) else (index + 1, 0)
        return True

    # -- own items: nobody else writes them but the daemon ----------------------------------

    def own_step(self) -> None:
        if not self.plans or (len(self.plans) < 2 and self.rng.random() < 0.3):
            self.create()
            return
        item_id = self.rng.choice(sorted(self.plans))
        step = self.plans[item_id].pop(0)
        if not self.plans[item_id]:
            del self.plans[item_id]
        code = self.edit(item_id) if step == "edit" else self.fire(item_id, step)
        if code != 0:  # reported by the exit-code assertion; the item's ledger stops here
            self.plans.pop(item_id, None)
            self.broken.add(item_id)
        elif step in STATE_AFTER:
            self.states[item_id] = STATE_AFTER[step]

    def create(self) -> None:
        self.created += 1
        title = f"并发写入 {self.name}-{self.created}"
        ran = self.command("--as", "zhao", "item", "new", "--title", title, "--unit", "JJK",
                           "--deadline", self.rng.choice(OWN_DEADLINES), "--json")
        if ran.code != 0:
            return
        item_id = int(json.loads(ran.stdout)["id"])
        self.titles[item_id], self.states[item_id] = title, "assigned"
        redo = ["reject", "progress", "report"] if self.rng.random() < 0.4 else []
        self.plans[item_id] = ["sign", "progress", "edit", "report", *redo, "verify", "close"]

    def edit(self, item_id: int) -> int:
        title = f"并发写入 {self.name} 修订 {self.marker()}"
        ran = self.command("--as", "zhao", "item", "edit", str(item_id), "--title", title)
        if ran.code == 0:
            self.titles[item_id] = title
            self.edits[(item_id, title)] += 1
        return ran.code


@dataclass(frozen=True)
class DaemonRun:
    now: datetime
    code: int | None  # None: still running STOP_TIMEOUT after SIGTERM, killed
    started: bool
    log: str

    def shown(self) -> str:
        last = " | ".join(self.log.strip().splitlines()[-3:])
        return f"daemon at {stamp(self.now)}: exit {self.code}, started {self.started}: {last}"

    def rounds(self) -> Counter[str]:
        """What its ticks reported: fired, skipped, cancelled, failed."""
        total: Counter[str] = Counter()
        for match in DAEMON_ROUND.finditer(self.log):
            total.update(dict(zip(("fired", "skipped", "cancelled", "failed"),
                                  map(int, match.groups()), strict=True)))
        return total


class DaemonKeeper:
    """``duban daemon --interval 1`` for the whole run, restarted every PHASE seconds with the
    end of the new phase as its fixed clock."""

    def __init__(self, env: dict[str, str], clock: SimClock, folder: Path) -> None:
        self.env, self.clock, self.folder = env, clock, folder
        self.stop = threading.Event()
        self.runs: list[DaemonRun] = []

    def work(self) -> None:
        phase = 0
        while not self.stop.is_set():
            phase = max(phase, self.clock.phase())  # a slow start skips a phase, never repeats
            now = self.clock.daemon_now(phase)
            log_path = self.folder / f"daemon-{phase}.log"
            with log_path.open("w") as log:
                process = subprocess.Popen([DUBAN, "--now", stamp(now), "daemon", "--interval",
                                            "1"], env=self.env, stdout=log,
                                           stderr=subprocess.STDOUT)
            try:
                # SIGTERM only once it is handled: before that it would kill a starting daemon
                started = self.wait_started(process, log_path)
                self.stop.wait(max(0.0, (phase + 1) * PHASE - self.clock.elapsed()))
            finally:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)  # it finishes its batch, then exits
                code: int | None = None
                try:
                    code = process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:  # hung: killed, so that the run goes on
                    process.kill()
                    process.wait(timeout=COMMAND_TIMEOUT)
            self.runs.append(DaemonRun(now, code, started, log_path.read_text()))
            phase += 1

    @staticmethod
    def wait_started(process: subprocess.Popen[bytes], log_path: Path) -> bool:
        give_up = time.monotonic() + COMMAND_TIMEOUT
        while process.poll() is None and time.monotonic() < give_up:
            if DAEMON_STARTED in log_path.read_text():
                return True
            time.sleep(0.05)  # pacing the poll of a process starting beside us
        return False


def guarded(work: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    """A thread whose exception fails the test instead of vanishing with the thread."""
    def run() -> None:
        try:
            work()
        except BaseException as err:  # collected and reported by the test thread
            errors.append(err)

    return threading.Thread(target=run, daemon=True)


def total(counters: Iterable[Counter[Any]]) -> Counter[Any]:
    result: Counter[Any] = Counter()
    for counter in counters:
        result.update(counter)
    return result


def create_shared_items(settings: Settings, tmp_path: Path) -> list[int]:
    """The items all writers race on, assigned at START through the service (quick)."""
    service = build_service(replace(settings, audit_key_path=tmp_path / "audit.key"),
                            FixedClock(START))
    try:
        return [service.new_item("zhao", NewItem(title=f"共同事项 {n}", lead_unit="JJK",
                                                 deadline="3 workdays"))["id"]
                for n in range(1, SHARED_ITEMS + 1)]
    finally:
        service.close()


@dataclass(frozen=True)
class Record:
    """What the database holds once everything has stopped."""

    items: dict[int, dict[str, Any]]
    events: list[dict[str, Any]]  # the audit chain, in order
    timers: list[dict[str, Any]]
    notice_keys: list[str]  # the timers' notices


def read_record(settings: Settings, tmp_path: Path) -> Record:
    service = build_service(replace(settings, audit_key_path=tmp_path / "audit.key"),
                            FixedClock(START))
    try:
        with service.db.read() as conn:
            rows = conn.execute(select(ITEM.c.id, ITEM.c.title, ITEM.c.state, ITEM.c.version))
            return Record(
                items={row["id"]: dict(row) for row in rows.mappings()},
                events=[dict(row) for row in conn.execute(
                    select(AUDIT_EVENT).order_by(AUDIT_EVENT.c.seq)).mappings()],
                timers=[dict(row) for row in conn.execute(select(TIMER)).mappings()],
                notice_keys=list(conn.execute(
                    select(NOTICE.c.key).where(NOTICE.c.key.like("timer:%"))).scalars()),
            )
    finally:
        service.close()


def marker_of(event: dict[str, Any]) -> str | None:
    field = MARKED[event["event"]]
    return None if field is None else event["payload"]["values"].get(field)


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_three_writers_and_the_daemon_share_one_sqlite_file(cli: Cli, settings: Settings,
                                                           tmp_path: Path) -> None:
    began = time.monotonic()
    shared = create_shared_items(settings, tmp_path)
    clock = SimClock()
    until = time.monotonic() + SECONDS
    writers = [Writer(n, cli.env, clock, shared, until) for n in range(1, WRITERS + 1)]
    keeper = DaemonKeeper(cli.env, clock, tmp_path)
    errors: list[BaseException] = []
    threads = [guarded(w.work, errors) for w in writers]
    daemon_thread = guarded(keeper.work, errors)
    for thread in (daemon_thread, *threads):
        thread.start()
    for thread in threads:
        thread.join(timeout=SECONDS + 2 * COMMAND_TIMEOUT)
    keeper.stop.set()
    daemon_thread.join(timeout=2 * COMMAND_TIMEOUT)
    writing = time.monotonic() - began
    assert not any(t.is_alive() for t in (daemon_thread, *threads)), "a thread hung"
    assert errors == []

    # One last round after everyone stopped, later than any clock used: nothing due is left.
    final_now = clock.daemon_now(clock.phase() + 1)
    final_run = cli.run("--now", stamp(final_now), "tick", "--json")
    final = json.loads(final_run.stdout)
    record = read_record(settings, tmp_path)
    events = record.events
    timer_fired = [e for e in events if e["action"] == "timer_fired"]
    daemon_rounds = total(run.rounds() for run in keeper.runs)
    hand_ticks = total(w.ticks for w in writers)

    ran = [r for w in writers for r in w.ran]
    troubled = [r.shown() for r in ran if TROUBLE.search(r.stdout + r.stderr)]
    troubled += [f"daemon at {stamp(run.now)}: {line}" for run in keeper.runs
                 for line in run.log.splitlines() if TROUBLE.search(line)]
    troubled += [f"final tick: {line}" for line in final_run.stderr.splitlines()
                 if TROUBLE.search(line)]
    unexpected = [r.shown() for r in ran if not r.expected]
    fired_keys = Counter((e["item_id"], e["event"], e["payload"]["deadline_version"])
                         for e in timer_fired)
    duplicated = {key: n for key, n in fired_keys.items() if n > 1}

    # -- the figures (pytest -s) ------------------------------------------------------------
    unclean = [r for r in keeper.runs if r.code != 0 or not r.started]
    print(f"\ncontention: {SECONDS:.0f} s of writing by {WRITERS} writers and "
          f"{len(keeper.runs)} daemon runs ({len(unclean)} not stopping cleanly: "
          f"{[r.code for r in unclean]}); {writing:.1f} s until all stopped")
    for w in writers:
        codes = Counter(r.code for r in w.ran)
        times = [r.seconds for r in w.ran] or [0.0]
        refusals = {code: n for code, n in sorted(codes.items()) if code}
        print(f"  {w.name}: {len(w.ran)} commands, {codes[0]} ok, refusals {refusals}, "
              f"{w.created} items created, {sum(w.done.values())} events, "
              f"{sum(w.edits.values())} edits, {w.ticks['fired']} fired by its "
              f"ticks; median {statistics.median(times):.2f} s, "
              f"max {max(times):.2f} s")
    print(f"  timers: {len(timer_fired)} fired (daemon {daemon_rounds['fired']}, hand ticks "
          f"{hand_ticks['fired']}, final tick {final['fired']}), "
          f"{sum(e['action'] == 'timer_skipped' for e in events)} skipped, "
          f"{len(duplicated)} fired twice; simulated {stamp(START)} .. {stamp(final_now)}")
    print(f"  trouble lines (locked, OperationalError, internal): {len(troubled)}; "
          f"unexpected exit codes: {len(unexpected)}; audit events: {len(events)}")

    # -- nobody ran into anybody ------------------------------------------------------------
    assert troubled == []
    assert unexpected == []
    assert daemon_rounds["failed"] == hand_ticks["failed"] == final["failed"] == 0

    # -- no lost update, no phantom one -----------------------------------------------------
    items = record.items
    own = {item_id: w for w in writers for item_id in w.titles}
    assert set(items) == set(own) | set(shared)  # every item created exists, and no other
    assert {i: items[i]["title"] for i in own} == {i: own[i].titles[i] for i in own}

    user_events = [e for e in events if e["action"] == "event" and e["actor"] != "system"]
    told = total(w.done for w in writers)
    assert Counter((e["item_id"], e["event"], marker_of(e)) for e in user_events) == told
    edited = Counter((e["item_id"], e["payload"]["changes"]["title"][1])
                     for e in events if e["action"] == "edited")
    assert edited == total(w.edits for w in writers)
    refused = Counter((e["item_id"], e["event"]) for e in events
                      if e["action"] == "refused" and e["item_id"] is not None)
    assert refused == total(w.refused for w in writers)

    # Each shared state change won by exactly one writer; the item is where the last one left it.
    for item_id in shared:
        won = [e["event"] for e in user_events if e["item_id"] == item_id]
        for event in ("sign", "report", "verify", "close"):
            assert won.count(event) <= 1, (item_id, won)
        reached = [STATE_AFTER[e] for e in won if e in STATE_AFTER]
        assert items[item_id]["state"] == (reached[-1] if reached else "assigned"), item_id
    for item_id, writer in own.items():
        if item_id not in writer.broken:
            assert items[item_id]["state"] == writer.states[item_id], item_id

    # Every change of a row is one event of the record: version 1, plus one per change.
    changes = Counter(e["item_id"] for e in events if e["action"] in ("event", "edited"))
    assert {i: row["version"] for i, row in items.items()} == {
        i: 1 + changes[i] for i in items}

    # The user's view of the record is the record: the most contended items' history.
    for item_id in shared[:max(w.shared_at[0] for w in writers) + 1]:
        history = cli.json("item", "history", str(item_id))
        assert isinstance(history, list)
        assert [e["seq"] for e in history] == [e["seq"] for e in events
                                               if e["item_id"] == item_id]

    # -- every timer step at most once, and every firing reported by its ticker -------------
    assert duplicated == {}
    timers = record.timers
    assert not [t for t in timers if t["status"] == TimerStatus.failed]
    assert not [e for e in events if e["action"] == "timer_failed"]
    assert fired_keys == Counter((t["item_id"], t["step"], t["deadline_version"])
                                 for t in timers if t["status"] == TimerStatus.fired)
    skipped = Counter((e["item_id"], e["event"]) for e in events
                      if e["action"] == "timer_skipped")
    assert skipped == Counter((t["item_id"], t["step"]) for t in timers
                              if t["status"] == TimerStatus.skipped)
    assert len(timer_fired) == daemon_rounds["fired"] + hand_ticks["fired"] + final["fired"]
    keys = Counter(record.notice_keys)
    assert max(keys.values(), default=1) == 1
    assert set(keys) == {f"timer:{t['item_id']}:{t['step']}:{t['deadline_version']}"
                         for t in timers if t["status"] == TimerStatus.fired}
    warned = Counter(e["item_id"] for e in timer_fired if e["payload"]["fired_event"] == "warn")
    assert warned == Counter(e["item_id"] for e in events if e["action"] == "event"
                             and e["event"] == "warn" and e["actor"] == "system")
    assert not [t for t in timers if t["status"] == TimerStatus.pending
                and t["due_at"] <= final_now]
    assert timer_fired, "no timer came due: the simulated time did not move"

    # -- the chain and the replay -----------------------------------------------------------
    cli.run("audit", "verify")
    cli.run("audit", "rebuild")
    print(f"  audit verify and rebuild passed; {time.monotonic() - began:.1f} s in all")

    # Each daemon started, and stopped on SIGTERM with exit 0 after its batch. Checked last, so
    # that a daemon that did not stop does not hide what the record says.
    assert [r.shown() for r in unclean] == []
