"""Throughput benchmark: svc.fire, timer firings, one CLI state change and group commit, each
against a floor measured in the same run.

Run from the repository root with the project's virtual environment::

    .venv/bin/python bench/throughput_bench.py            # full sizes, 5 to 8 minutes
    .venv/bin/python bench/throughput_bench.py --quick    # one to two minutes
    .venv/bin/python bench/throughput_bench.py --only fire,timers

Every figure is the median of several rounds in which the measurement and its floor take
turns (the one that goes first alternates), so a change in machine load during the run
affects both sides of a ratio alike. See bench/README.md ("Throughput benchmark") for what
each figure and each floor does.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import hmac
import json
import re
import sqlite3
import statistics
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core_bench import (
    ADMIN,
    HANDLER,
    SQLITE_TIME,
    START,
    CliResult,
    RawFloor,
    Row,
    SteppingClock,
    bench_workdir,
    build_office,
    create_items,
    isolated,
    key_path,
    measure_cli,
    per_s,
    say,
    sign_all,
    snapshot_db,
    verdict,
)
from timers_bench import (
    DUE_DEADLINE,
    IDLE_AT,
    Group,
    build_database,
    load_average,
    settings_for,
)

from duban.app import build_service
from duban.engine import items
from duban.engine.clock import FixedClock
from duban.engine.timers import Recipient, TimerSpec
from duban.notifiers.sender import render_waiting
from duban.workflows.standard import TIMERS

PARTS = ("fire", "timers", "cli", "group")
SERVICE, FLOOR = "service", "floor"
BATCH = 200  # svc.tick(batch_size=...) and the floor's batch
PROGRESS = "progress"
POOL = 64  # signed items the group-commit part fires progress notes on
FIRE_SLICE = 500  # svc.fire and its floor take turns this many events at a time
TICK_SLICE = 5  # svc.tick and its floor take turns this many batches at a time
GROUP_SLICES = 4  # group-commit configurations take turns this many times a round
PENDING, FIRED = "pending", "fired"

TARGET_FIRE_PER_S = 2_000.0
TARGET_FIRE_SHARE = 0.40
TARGET_TICK_PER_S = 2_000.0
TARGET_TICK_SHARE = 0.33
TARGET_CLI_RATIO = 1.3


@dataclass(frozen=True)
class Sizes:
    fire_events: int  # svc.fire(sign) events per round
    due: int  # due timer steps (open items) per round
    cli_runs: int
    group_events: int  # events (or transactions) per configuration and round
    rounds: int  # rounds of the fire and group parts
    timer_rounds: int
    threads: tuple[int, ...]
    groups: tuple[int, ...]


FULL = Sizes(fire_events=3_000, due=20_000, cli_runs=7, group_events=1_600, rounds=5,
             timer_rounds=3, threads=(4, 8), groups=(4, 8, 16))
QUICK = Sizes(fire_events=1_000, due=2_000, cli_runs=5, group_events=480, rounds=3,
              timer_rounds=3, threads=(4, 8), groups=(4, 8, 16))


# -- shared helpers ----------------------------------------------------------------------------


def turns(number: int) -> tuple[str, str]:
    """Who goes first in turn ``number``: the service and the floor alternate."""
    return (SERVICE, FLOOR) if number % 2 == 0 else (FLOOR, SERVICE)


@dataclass(frozen=True)
class Paired:
    """Per-round rates of a measurement and of its floor, measured in turns."""

    values: list[float]
    floors: list[float]

    @property
    def value(self) -> float:
        return statistics.median(self.values)

    @property
    def floor(self) -> float:
        return statistics.median(self.floors)

    @property
    def ratio(self) -> float:
        return self.value / self.floor

    @property
    def round_ratios(self) -> list[float]:
        return [value / floor for value, floor in zip(self.values, self.floors, strict=True)]


def rates(values: Sequence[float]) -> str:
    return ", ".join(f"{value:,.0f}" for value in values)


def raw_connect(path: Path) -> sqlite3.Connection:
    """Plain sqlite3 with the pragmas of engine/db.py; BEGIN and COMMIT are the caller's."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=15000")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def remove_db(path: Path) -> None:
    """A database with its -wal, -shm and -writer files."""
    for found in path.parent.glob(path.name + "*"):
        found.unlink(missing_ok=True)


def audit_problems(path: Path, workdir: Path) -> list[str]:
    """What the engine's own ``verify_audit`` finds in a database's record (nothing: [])."""
    svc = build_service(settings_for(f"sqlite:///{path}", workdir))
    try:
        return list(svc.verify_audit(ADMIN).problems)
    finally:
        svc.close()


def iso_text(stored: str) -> str:
    """A stored naive-UTC instant as the engine's canonical text (engine.timeutil.iso)."""
    return datetime.fromisoformat(stored).replace(tzinfo=UTC).isoformat(timespec="microseconds")


def chain_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """engine.audit.event_hash over a body whose instant is already canonical text."""
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + text).encode()).hexdigest()


# -- 1. svc.fire against raw sqlite3 -------------------------------------------------------------


@dataclass(frozen=True)
class FireResult:
    paired: Paired
    items: int
    register_seconds: float
    floor_problems: list[str]


def measure_fire(workdir: Path, per_round: int, rounds: int) -> FireResult:
    """``sign`` on freshly registered items, one transaction each, through ``svc.fire`` and
    through core_bench's raw floor (with attrs and the signed checkpoint) on a copy of the
    same database, ``per_round`` events a round. Within a round the two take turns every
    :data:`FIRE_SLICE` events; a round's rate is its events over the sum of its turns."""
    svc = build_office(workdir, "fire.db", SteppingClock(START))
    start = time.perf_counter()
    item_ids = create_items(svc, per_round * rounds, START + timedelta(days=60))
    register_seconds = time.perf_counter() - start
    snapshot_db(workdir / "fire.db", workdir / "fire_raw.db")
    floor = RawFloor(workdir / "fire_raw.db", key_path(workdir), all_writes=True)
    values: list[float] = []
    floors: list[float] = []
    for number in range(rounds):
        chunk = item_ids[number * per_round:(number + 1) * per_round]
        seconds = {SERVICE: 0.0, FLOOR: 0.0}
        gc.collect()
        for turn, offset in enumerate(range(0, len(chunk), FIRE_SLICE)):
            piece = chunk[offset:offset + FIRE_SLICE]
            for side in turns(number + turn):
                if side == SERVICE:
                    seconds[SERVICE] += sign_all(svc, piece)
                else:
                    before = floor.seconds
                    floor.sign_all(piece)
                    seconds[FLOOR] += floor.seconds - before
        values.append(len(chunk) / seconds[SERVICE])
        floors.append(len(chunk) / seconds[FLOOR])
    last = svc.item(ADMIN, item_ids[-1])
    svc.close()
    floor.close()
    if last["state"] != "in_progress" or last["version"] != 2:
        raise RuntimeError(f"unexpected item after signing: {last}")
    problems = audit_problems(workdir / "fire_raw.db", workdir)
    return FireResult(Paired(values, floors), len(item_ids), register_seconds, problems)


# -- 2. timer firings against raw sqlite3 --------------------------------------------------------


def timer_spec(step: str) -> TimerSpec:
    return next(spec for spec in TIMERS if spec.step == step)


YELLOW = timer_spec("yellow")  # fires ``warn`` (an attribute change) and writes a warning
NUMBER = re.compile(r"^(?P<prefix>.+)〔(?P<year>\d{4})〕(?P<number>\d+)号$")


@dataclass(frozen=True)
class NoticeSample:
    """A warning notice as the engine rendered it, for the floor to fill in per firing."""

    kind: str
    item_id: int
    item_title: str
    doc_number: str
    title: str
    document: dict[str, Any]
    body_text: str
    body_markdown: str
    body_html: str
    deliveries: list[tuple[str, str, str | None, str]]  # channel, target, style, key suffix

    @property
    def series(self) -> tuple[str, int]:
        found = NUMBER.match(self.doc_number)
        if found is None:
            raise RuntimeError(f"unexpected document number {self.doc_number!r}")
        return found["prefix"], int(found["year"])

    def render(self, text: str, number: str, item_id: int, item_title: str) -> str:
        return (text.replace(self.doc_number, number)
                .replace(f"督办事项第{self.item_id}号", f"督办事项第{item_id}号")
                .replace(self.item_title, item_title))


def notice_sample(workdir: Path, group: Group) -> NoticeSample:
    """One item built like the benchmark's, its yellow step fired by a real tick: the
    engine's rendering of the warning, which the floor fills in instead of rendering."""
    path = workdir / "timers_sample.db"
    url = f"sqlite:///{path}"
    build_database(url, workdir, 2, [Group(group.deadline, 1, group.batch)])
    svc = build_service(settings_for(url, workdir), FixedClock(group.fire_at))
    report = svc.tick(keep_steps=False)
    svc.close()
    if report.fired != 1:
        raise RuntimeError(f"sample tick: {report}")
    with closing(sqlite3.connect(path)) as conn:
        notice_id, key, item_id, kind, number, title, document, text, markdown, html = (
            conn.execute(
                "SELECT id, key, item_id, kind, doc_number, title, document, body_text, "
                "body_markdown, body_html FROM notice WHERE key LIKE ? ORDER BY id DESC",
                (f"timer:%:{YELLOW.step}:%",)).fetchone())
        (item_title,) = conn.execute("SELECT title FROM item WHERE id = ?",
                                     (item_id,)).fetchone()
        deliveries = [(channel, target, style, delivery_key[len(key):])
                      for channel, target, style, delivery_key in conn.execute(
                          "SELECT channel, target, style, key FROM delivery "
                          "WHERE notice_id = ? ORDER BY id", (notice_id,))]
    remove_db(path)
    return NoticeSample(kind, item_id, item_title, number, title, json.loads(document), text,
                        markdown, html, deliveries)


CLAIM = ("SELECT id, item_id, step, deadline_version, due_at FROM timer "
         "WHERE status = ? AND due_at <= ? ORDER BY due_at, id LIMIT ?")
ITEM_COLUMNS = ("id, state, lead_unit, lead_leader, title, attrs, version, updated_at, "
                "deadline_version")
UPDATE_ITEM = ("UPDATE item SET attrs = ?, version = ?, updated_at = ? "
               "WHERE id = ? AND version = ?")
TAKE_NUMBERS = ("INSERT INTO doc_sequence (prefix, year, last) VALUES (?, ?, ?) "
                "ON CONFLICT (prefix, year) DO UPDATE SET last = last + ? RETURNING last")
INSERT_NOTICE = (
    "INSERT INTO notice (id, key, item_id, kind, recipients, cc, payload, status, created_at, "
    "doc_number, title, document, body_text, body_markdown, body_html, last_error) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)")
INSERT_DELIVERY = (
    "INSERT INTO delivery (notice_id, channel, target, style, key, status, attempts, "
    "next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)")
FINISH_TIMER = ("UPDATE timer SET status = ?, fired_at = ?, late_seconds = ?, outcome = NULL "
                "WHERE id = ? AND status = ?")
INSERT_EVENT = (
    "INSERT INTO audit_event (seq, at, actor, item_id, action, event, from_state, to_state, "
    "reason, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_CHECKPOINT = ("INSERT INTO audit_checkpoint (seq, head_hash, at, key_id, signature) "
                     "VALUES (?, ?, ?, ?, ?)")
HEAD = "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1"
UNIT_SIDE = (Recipient.owner, Recipient.handlers, Recipient.unit_head)


class RawTicker:
    """The floor of a tick: the yellow step of the standard workflow fired with plain sqlite3,
    in transactions of ``batch`` firings, writing the rows one real firing writes.

    Per transaction: BEGIN IMMEDIATE; claim the due timer rows (oldest first); read their
    items (one query); per firing the ``warn`` effects on the item's attrs and a versioned
    UPDATE (row counts checked); the batch's document numbers (one upsert); per firing a
    notice row with its recipients, its document and three bodies (the engine's rendering of
    a sample notice with the number, item number and title put in), and its delivery row;
    the timer rows marked fired (only if still pending, row counts checked); the audit events
    (per firing ``warn``, ``timer_fired`` and ``notice``) chained with SHA-256 from the
    head; one checkpoint signed with HMAC-SHA256; COMMIT. The people and units are read once
    per run, as the engine keeps its directory between transactions.
    """

    def __init__(self, path: Path, key_file: Path, sample: NoticeSample, now: datetime,
                 spec: TimerSpec = YELLOW) -> None:
        self.conn = raw_connect(path)
        self.key = bytes.fromhex(key_file.read_text().strip())
        self.key_id = hashlib.sha256(self.key).hexdigest()[:16]
        self.sample, self.spec = sample, spec
        self.values = dict(spec.values)
        self.now = now.astimezone(UTC)
        self.stored_now = self.now.strftime(SQLITE_TIME)
        self.iso_now = self.now.isoformat(timespec="microseconds")
        self._read_directory()

    def _read_directory(self) -> None:
        self.known: set[str] = set()
        self.active: set[str] = set()
        self.target: dict[str, str] = {}  # an away person's deputy receives in their place
        self.handlers: dict[str, list[str]] = defaultdict(list)
        self.unit_heads: dict[str, list[str]] = defaultdict(list)
        for login, unit, roles, deputy, away_until, active in self.conn.execute(
                "SELECT login, unit_code, roles, deputy_login, away_until, active FROM person"):
            self.known.add(login)
            if not active:
                continue
            self.active.add(login)
            if away_until and away_until > self.stored_now and deputy:
                self.target[login] = deputy
            roles = json.loads(roles)
            if "handler" in roles:
                self.handlers[unit].append(login)
            if "unit_head" in roles:
                self.unit_heads[unit].append(login)
        self.units = {code: (head, liaison) for code, head, liaison in self.conn.execute(
            "SELECT code, head_login, liaison_login FROM unit")}

    def close(self) -> None:
        self.conn.close()

    def _recipients(self, unit: str, leader: str | None, attrs: dict[str, Any],
                    who: tuple[Recipient, ...]) -> list[str]:
        """engine.notices.resolve for the recipients a warning uses."""
        logins: list[str] = []
        head, liaison = self.units.get(unit, (None, None))
        for recipient in who:
            if recipient is Recipient.owner and attrs.get("owner") in self.active:
                chosen = [attrs["owner"]]
            elif recipient in (Recipient.owner, Recipient.handlers):
                chosen = list(self.handlers[unit])
            elif recipient is Recipient.unit_head:
                chosen = [head] if head else list(self.unit_heads[unit])
            elif recipient is Recipient.lead_leader:
                chosen = [leader] if leader else []
            else:
                raise NotImplementedError(f"the floor does not resolve {recipient}")
            if recipient in UNIT_SIDE and liaison:
                chosen.append(liaison)
            for login in chosen:
                if login in self.known and login not in self.active:
                    continue
                login = self.target.get(login, login)
                if login not in logins:
                    logins.append(login)
        return logins

    def batch(self, limit: int) -> int:
        """One transaction of up to ``limit`` firings; returns how many."""
        conn, spec, sample, now = self.conn, self.spec, self.sample, self.stored_now
        conn.execute("BEGIN IMMEDIATE")
        due = conn.execute(CLAIM, (PENDING, now, limit)).fetchall()
        if not due:
            conn.execute("COMMIT")
            return 0
        ids = sorted({item_id for _, item_id, *_ in due})
        found = {row[0]: row for row in conn.execute(
            f"SELECT {ITEM_COLUMNS} FROM item WHERE id IN ({','.join('?' * len(ids))})", ids)}
        item_rows, timer_rows, events, wanted = [], [], [], []
        for timer_id, item_id, step, deadline_version, due_at in due:
            _, state, unit, leader, title, attrs_text, version, updated_at, current = (
                found[item_id])
            if step != spec.step or state not in spec.states or deadline_version not in (
                    0, current):
                raise RuntimeError(f"the floor only fires due {spec.step} steps: {step}, "
                                   f"item {item_id} {state}")
            attrs = json.loads(attrs_text)
            after = {**attrs, "warning": self.values["level"],
                     "warnings": int(attrs.get("warnings", 0)) + 1}
            late = int((self.now - datetime.fromisoformat(due_at).replace(tzinfo=UTC))
                       .total_seconds())
            item_rows.append((json.dumps(after), version + 1, now, item_id, version))
            timer_rows.append((FIRED, now, late, timer_id, PENDING))
            events.append((item_id, "event", spec.fire, state, state, self.values["reason"],
                           {"values": self.values,
                            "changes": {"attrs": [attrs, after],
                                        "updated_at": [iso_text(updated_at), self.iso_now],
                                        "version": [version, version + 1]}}))
            events.append((item_id, "timer_fired", spec.step, None, None, spec.label,
                           {"due_at": iso_text(due_at), "late_seconds": late,
                            "fired_event": spec.fire, "notice": spec.notice,
                            "deadline_version": deadline_version}))
            to = self._recipients(unit, leader, after, spec.to)
            cc = [login for login in self._recipients(unit, leader, after, spec.cc)
                  if login not in to]
            key = f"timer:{item_id}:{spec.step}:{deadline_version}"
            wanted.append((item_id, title, key, to, cc, late))
        updated = conn.executemany(UPDATE_ITEM, item_rows).rowcount
        if updated != len(item_rows):
            raise RuntimeError(f"{len(item_rows) - updated} items changed meanwhile")
        prefix, year = sample.series
        (last,) = conn.execute(TAKE_NUMBERS, (prefix, year, len(wanted), len(wanted))).fetchone()
        (top,) = conn.execute("SELECT coalesce(max(id), 0) FROM notice").fetchone()
        notice_rows, delivery_rows = [], []
        for offset, (item_id, item_title, key, to, cc, late) in enumerate(wanted):
            notice_id = top + 1 + offset
            number = f"{prefix}〔{year}〕{last - len(wanted) + 1 + offset}号"
            title = sample.render(sample.title, number, item_id, item_title)[:400]
            text = sample.render(sample.body_text, number, item_id, item_title)
            document = {**sample.document, "doc_number": number, "title": title,
                        "paragraphs": [sample.render(paragraph, number, item_id, item_title)
                                       for paragraph in sample.document["paragraphs"]]}
            payload = {"step": spec.step, "label": spec.label, "late_seconds": late}
            notice_rows.append((
                notice_id, key, item_id, sample.kind, json.dumps(to), json.dumps(cc),
                json.dumps(payload), PENDING, now, number, title, json.dumps(document), text,
                sample.render(sample.body_markdown, number, item_id, item_title),
                sample.render(sample.body_html, number, item_id, item_title)))
            planned = [(notice_id, channel, target, style, key + suffix, PENDING, now, now)
                       for channel, target, style, suffix in sample.deliveries]
            delivery_rows.extend(planned)
            events.append((item_id, "notice", "created", None, None, title,
                           {"notice": notice_id, "key": key, "kind": sample.kind,
                            "doc_number": number,
                            "body_sha256": hashlib.sha256(text.encode()).hexdigest(),
                            "to": to, "cc": cc,
                            "deliveries": [[row[1], row[2]] for row in planned]}))
        conn.executemany(INSERT_NOTICE, notice_rows)
        conn.executemany(INSERT_DELIVERY, delivery_rows)
        finished = conn.executemany(FINISH_TIMER, timer_rows).rowcount
        if finished != len(timer_rows):
            raise RuntimeError(f"{len(timer_rows) - finished} timer rows were not pending")
        self._chain(events)
        conn.execute("COMMIT")
        return len(due)

    def _chain(self, events: list[tuple[Any, ...]]) -> None:
        """Chain the transaction's events from the head and sign the new head."""
        seq, prev_hash = self.conn.execute(HEAD).fetchone()
        rows = []
        for item_id, action, event, from_state, to_state, reason, payload in events:
            seq += 1
            new_hash = chain_hash(prev_hash, {
                "seq": seq, "at": self.iso_now, "actor": "system", "item_id": item_id,
                "action": action, "event": event, "from_state": from_state,
                "to_state": to_state, "reason": reason, "payload": payload})
            rows.append((seq, self.stored_now, "system", item_id, action, event, from_state,
                         to_state, reason, json.dumps(payload), prev_hash, new_hash))
            prev_hash = new_hash
        self.conn.executemany(INSERT_EVENT, rows)
        message = f"duban-audit-checkpoint:{seq}:{prev_hash}"
        signature = hmac.new(self.key, message.encode(), hashlib.sha256).hexdigest()
        self.conn.execute(INSERT_CHECKPOINT,
                          (seq, prev_hash, self.stored_now, self.key_id, signature))


class ServiceTicker:
    """``svc.tick(batch_size=...)`` on one copy, run a few batches at a time (its
    ``should_stop``) so that the floor can take turns with it. The service is warmed up by a
    tick with nothing due before its clock is moved past the deadline."""

    def __init__(self, path: Path, workdir: Path, group: Group) -> None:
        self.clock = FixedClock(IDLE_AT)
        self.svc = build_service(settings_for(f"sqlite:///{path}", workdir), self.clock)
        idle = self.svc.tick(keep_steps=False)
        if idle.handled:
            raise RuntimeError(f"warm-up tick handled {idle.handled} steps")
        if self.svc.notice_sink is None:  # the outbox and its templates, built beforehand
            raise RuntimeError("the service has no notice sink")
        self.clock.set(group.fire_at)
        self.fired = self.handled = 0
        self.done = False

    def turn(self, batch: int, batches: int) -> float:
        """Up to ``batches`` batches; returns the seconds they took."""
        started = 0

        def enough() -> bool:
            nonlocal started
            started += 1
            return started > batches

        start = time.perf_counter()
        report = self.svc.tick(batch_size=batch, should_stop=enough, keep_steps=False,
                               documents=False)  # as the daemon does: the sender makes them
        seconds = time.perf_counter() - start
        self.fired += report.fired
        self.handled += report.handled
        self.done = report.handled < batch * batches
        return seconds

    def documents(self) -> float:
        """The sender's making of the documents the firings left it; returns the seconds."""
        start = time.perf_counter()
        made = render_waiting(self.svc)
        seconds = time.perf_counter() - start
        if made != self.fired:
            raise RuntimeError(f"the sender made {made} documents for {self.fired} firings")
        return seconds

    def close(self) -> None:
        self.svc.close()


class FloorTicker:
    """:class:`RawTicker` run a few batches at a time, like :class:`ServiceTicker`."""

    def __init__(self, path: Path, workdir: Path, group: Group, sample: NoticeSample) -> None:
        self.raw = RawTicker(path, key_path(workdir), sample, group.fire_at)
        self.fired = 0
        self.done = False

    def turn(self, batch: int, batches: int) -> float:
        start = time.perf_counter()
        for _ in range(batches):
            count = self.raw.batch(batch)
            self.fired += count
            if count < batch:
                self.done = True
                break
        return time.perf_counter() - start

    def close(self) -> None:
        self.raw.close()


def tick_round(paths: dict[str, Path], workdir: Path, group: Group, sample: NoticeSample,
               first: int) -> tuple[float, float, float]:
    """One round: the service and the floor fire every due step of their copies, taking
    turns every :data:`TICK_SLICE` batches, then the service's sender makes the documents;
    returns (service, floor) firings/s and the service's firings with documents per second."""
    tickers: dict[str, ServiceTicker | FloorTicker] = {
        SERVICE: ServiceTicker(paths[SERVICE], workdir, group),
        FLOOR: FloorTicker(paths[FLOOR], workdir, group, sample),
    }
    seconds = {SERVICE: 0.0, FLOOR: 0.0}
    try:
        gc.collect()
        turn = first
        while not all(ticker.done for ticker in tickers.values()):
            for side in turns(turn):
                if not tickers[side].done:
                    seconds[side] += tickers[side].turn(group.batch, TICK_SLICE)
            turn += 1
        service_ticker = tickers[SERVICE]
        assert isinstance(service_ticker, ServiceTicker)
        documents = service_ticker.documents()
    finally:
        for ticker in tickers.values():
            ticker.close()
    service, floor = tickers[SERVICE], tickers[FLOOR]
    assert isinstance(service, ServiceTicker)
    if service.fired != group.size or service.handled != service.fired:
        raise RuntimeError(f"svc.tick fired {service.fired} of {group.size} "
                           f"({service.handled} handled)")
    if floor.fired != group.size:
        raise RuntimeError(f"the floor fired {floor.fired} of {group.size}")
    return (group.size / seconds[SERVICE], group.size / seconds[FLOOR],
            group.size / (seconds[SERVICE] + documents))


JSON_COLUMNS = {"attrs", "co_units", "deadline_basis", "recipients", "cc", "payload",
                "document"}
COMPARED = {
    "items": "SELECT * FROM item ORDER BY id",
    "timer rows": "SELECT * FROM timer ORDER BY id",
    # item_state: what the engine renders from after the commit (the floor renders at once)
    "notices": "SELECT id, key, item_id, kind, recipients, cc, payload, status, created_at, "
               "doc_number, title, document, body_text, body_markdown, body_html, last_error "
               "FROM notice ORDER BY id",
    "deliveries": "SELECT * FROM delivery ORDER BY id",
    "document numbers": "SELECT * FROM doc_sequence ORDER BY prefix, year",
    # the same events; the engine's documents (and their events) come in transactions of
    # their own after the firings', so sequences, hashes and checkpoints differ from the floor's
    "audit events": "SELECT at, actor, item_id, action, event, from_state, to_state, reason, "
                    "payload FROM audit_event ORDER BY item_id, action, event, seq",
}


def table_rows(conn: sqlite3.Connection, query: str) -> list[tuple[Any, ...]]:
    cursor = conn.execute(query)
    names = [column[0] for column in cursor.description]
    return [tuple(json.loads(value) if name in JSON_COLUMNS and value is not None else value
                  for name, value in zip(names, row, strict=True)) for row in cursor]


def compare_databases(service_path: Path, floor_path: Path) -> list[str]:
    """Where the floor's database differs from the service's after the same firings (JSON
    columns compared as values); an empty list when they hold the same rows."""
    differences = []
    with closing(sqlite3.connect(service_path)) as ours, \
            closing(sqlite3.connect(floor_path)) as theirs:
        for name, query in COMPARED.items():
            left, right = table_rows(ours, query), table_rows(theirs, query)
            if left == right:
                continue
            unequal = sum(a != b for a, b in zip(left, right, strict=False))
            differences.append(f"{name}: {len(left):,} rows by the service, {len(right):,} by "
                               f"the floor, {unequal:,} of the common ones differ")
    return differences


@dataclass(frozen=True)
class TimerResult:
    paired: Paired
    with_documents: list[float]
    items: int
    timers: int
    build_seconds: float
    differences: list[str]
    floor_problems: list[str]


def measure_timers(workdir: Path, due: int, rounds: int, keep: bool) -> TimerResult:
    """A database of ``due`` open items whose yellow warnings are due; per round two fresh
    copies, one ticked by the service and one by the raw floor, taking turns."""
    group = Group(DUE_DEADLINE, due, BATCH)
    base = workdir / "timers_base.db"
    built = build_database(f"sqlite:///{base}", workdir, due + 1, [group])
    sample = notice_sample(workdir, group)
    values: list[float] = []
    floors: list[float] = []
    with_documents: list[float] = []
    differences: list[str] = []
    problems: list[str] = []
    for number in range(rounds):
        paths = {side: workdir / f"timers_{side}_{number}.db" for side in (SERVICE, FLOOR)}
        for path in paths.values():
            snapshot_db(base, path)
        value, floor, whole = tick_round(paths, workdir, group, sample, number)
        values.append(value)
        with_documents.append(whole)
        floors.append(floor)
        if number == rounds - 1:
            differences = compare_databases(paths[SERVICE], paths[FLOOR])
            problems = audit_problems(paths[FLOOR], workdir)
        if not keep:
            for path in paths.values():
                remove_db(path)
    return TimerResult(Paired(values, floors), with_documents, built.items, built.timers,
                       built.seconds, differences, problems)


# -- 4. group commit ---------------------------------------------------------------------------


@dataclass
class GroupResult:
    events: int
    rounds: int
    # configuration -> (events or transactions per run, events per transaction, seconds/round)
    runs: dict[str, tuple[int, int, list[float]]] = field(default_factory=dict)

    def rate(self, name: str) -> float:
        count, _, seconds = self.runs[name]
        return count / statistics.median(seconds)

    def ms_per_transaction(self, name: str) -> float:
        count, per_txn, seconds = self.runs[name]
        return statistics.median(seconds) / (count / per_txn) * 1000


def one_thread_name() -> str:
    return "1 thread, 1 event per transaction"


def threads_name(count: int) -> str:
    return f"{count} threads, 1 event per transaction"


def grouped_name(size: int) -> str:
    return f"1 thread, {size} events per transaction"


EMPTY_WRITE = "write transaction, identify only"
IDENTIFY = "read transaction, svc.identify"


def fire_in_threads(svc: Any, item_ids: list[int], count: int, threads: int) -> float:
    """``count`` progress notes, each its own ``svc.fire``, from ``threads`` threads sharing
    the service, each on items of its own; returns the seconds from the common start."""
    per_thread = count // threads
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def work(mine: list[int]) -> None:
        barrier.wait()
        try:
            for n in range(per_thread):
                svc.fire(HANDLER, mine[n % len(mine)], PROGRESS, {"note": f"进展 {n}"})
        except BaseException as err:  # reported by the main thread
            errors.append(err)

    workers = [threading.Thread(target=work, args=(item_ids[n::threads],))
               for n in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - start
    if errors:
        raise errors[0]
    return seconds


def fire_grouped(svc: Any, item_ids: list[int], count: int, size: int) -> float:
    """``count`` progress notes, ``size`` of them (on distinct items) in each transaction."""
    start = time.perf_counter()
    for group in range(count // size):
        with svc.transaction(HANDLER, PROGRESS) as txn:
            for n in range(group * size, (group + 1) * size):
                items.fire(txn, item_ids[n % len(item_ids)], PROGRESS, {"note": f"进展 {n}"})
    return time.perf_counter() - start


def empty_writes(svc: Any, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        with svc.transaction(HANDLER, "noop"):
            pass
    return time.perf_counter() - start


def identifies(svc: Any, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        svc.identify(HANDLER)
    return time.perf_counter() - start


def measure_group(workdir: Path, events: int, rounds: int, threads: Sequence[int],
                  groups: Sequence[int]) -> GroupResult:
    """Progress notes on signed items through one shared service: from several threads, one
    transaction each, against one thread grouping several per transaction; and the cost of
    a transaction that writes nothing. Each round is cut in :data:`GROUP_SLICES` slices in
    which every configuration takes its turn, in reverse order every other slice."""
    svc = build_office(workdir, "group.db", SteppingClock(START))
    item_ids = create_items(svc, POOL, START + timedelta(days=60))
    for item_id in item_ids:
        svc.fire(HANDLER, item_id, "sign")
    svc.identify(HANDLER)
    piece = events // GROUP_SLICES
    # name, events (or transactions) per slice, events per transaction, the run
    configs: list[tuple[str, int, int, Callable[[int], float]]] = [
        (IDENTIFY, piece, 1, lambda n: identifies(svc, n)),
        (EMPTY_WRITE, piece, 1, lambda n: empty_writes(svc, n)),
        (one_thread_name(), piece, 1, lambda n: fire_in_threads(svc, item_ids, n, 1)),
    ]
    for count in threads:
        configs.append((threads_name(count), piece - piece % count, 1,
                        lambda n, count=count: fire_in_threads(svc, item_ids, n, count)))
    for size in groups:
        configs.append((grouped_name(size), piece - piece % size, size,
                        lambda n, size=size: fire_grouped(svc, item_ids, n, size)))
    result = GroupResult(events, rounds, {name: (count * GROUP_SLICES, per_txn, [])
                                          for name, count, per_txn, _ in configs})
    for number in range(rounds):
        seconds = dict.fromkeys(result.runs, 0.0)
        gc.collect()
        for turn in range(GROUP_SLICES):
            order = configs if (number + turn) % 2 == 0 else configs[::-1]
            for name, count, _, run in order:
                seconds[name] += run(count)
        for name, spent in seconds.items():
            result.runs[name][2].append(spent)
    svc.close()
    return result


def fit(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least squares ``y = a + b x``: returns (a, b)."""
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    slope = (sum((x - mean_x) * (y - mean_y) for x, y in points)
             / sum((x - mean_x) ** 2 for x, _ in points))
    return mean_y - slope * mean_x, slope


# -- summary -----------------------------------------------------------------------------------


def fire_rows(fire: FireResult) -> list[Row]:
    paired = fire.paired
    return [
        Row("svc.fire(sign), vs raw sqlite3", per_s(paired.value, "events/s"),
            f"raw {per_s(paired.floor, 'events/s')}", f"{paired.ratio:.1%}",
            f">= {TARGET_FIRE_SHARE:.0%}", verdict(paired.ratio >= TARGET_FIRE_SHARE)),
        Row("svc.fire(sign), absolute", per_s(paired.value, "events/s"), "-", "-",
            f">= {TARGET_FIRE_PER_S:,.0f}/s", verdict(paired.value >= TARGET_FIRE_PER_S)),
    ]


def timer_rows(timers: TimerResult) -> list[Row]:
    paired = timers.paired
    same = "-" if not timers.differences else f"{len(timers.differences)} tables differ"
    return [
        Row(f"svc.tick(batch_size={BATCH}), vs raw", per_s(paired.value, "firings/s"),
            f"raw {per_s(paired.floor, 'firings/s')}", f"{paired.ratio:.1%}",
            f">= {TARGET_TICK_SHARE:.0%}", verdict(paired.ratio >= TARGET_TICK_SHARE)),
        Row(f"svc.tick(batch_size={BATCH}), absolute", per_s(paired.value, "firings/s"), "-",
            "-", f">= {TARGET_TICK_PER_S:,.0f}/s", verdict(paired.value >= TARGET_TICK_PER_S)),
        Row("... with the sender's documents", per_s(statistics.median(timers.with_documents),
                                                      "firings/s"),
            f"raw {per_s(paired.floor, 'firings/s')}",
            f"{statistics.median(timers.with_documents) / paired.floor:.1%}", "-", "info"),
        Row("timer floor writes what the engine does",
            "same rows" if not timers.differences else "differs", same, "-", "-", "info"),
    ]


def cli_rows(cli: CliResult) -> list[Row]:
    baseline = "import sqlmodel, transitions, click"
    ratio, best = cli.ratios("duban sign", baseline)
    help_ratio, help_best = cli.ratios("duban --help", "import click")
    return [
        Row(f"duban --as {HANDLER} sign ID", f"{cli.median('duban sign') * 1000:,.0f} ms",
            f"3 imports {cli.median(baseline) * 1000:,.0f} ms",
            f"{ratio:.2f}x (best {best:.2f}x)", f"<= {TARGET_CLI_RATIO:.1f}x",
            verdict(ratio <= TARGET_CLI_RATIO)),
        Row("duban --help", f"{cli.median('duban --help') * 1000:,.0f} ms",
            f"import click {cli.median('import click') * 1000:,.0f} ms",
            f"{help_ratio:.2f}x (best {help_best:.2f}x)", "-", "info"),
    ]


def group_rows(group: GroupResult, threads: Sequence[int], groups: Sequence[int]) -> list[Row]:
    base_name = one_thread_name()
    base = group.rate(base_name)
    rows = [Row("progress, 1 thread, 1 event/txn", per_s(base, "events/s"), "-", "-", "-",
                "info")]
    for count in threads:
        rate = group.rate(threads_name(count))
        rows.append(Row(f"progress, {count} threads, 1 event/txn", per_s(rate, "events/s"),
                        f"1 thread {per_s(base, '/s')}", f"{rate / base:.2f}x", "-", "info"))
    for size in groups:
        rate = group.rate(grouped_name(size))
        rows.append(Row(f"progress, {size} events/txn (1 thread)", per_s(rate, "events/s"),
                        f"1 event/txn {per_s(base, '/s')}", f"{rate / base:.2f}x", "-",
                        "info"))
    one = group.ms_per_transaction(base_name)
    empty = group.ms_per_transaction(EMPTY_WRITE)
    fixed, per_event = group_fit(group, groups)
    rows += [
        Row("write txn with nothing but identify", f"{empty:.2f} ms",
            f"one event {one:.2f} ms", f"{empty / one:.0%}", "-", "info"),
        Row("read txn, svc.identify", f"{group.ms_per_transaction(IDENTIFY):.2f} ms", "-",
            "-", "-", "info"),
        Row("fitted ms/txn = fixed + k x per event", f"{fixed:.2f} + k x {per_event:.2f} ms",
            f"k = 1, {', '.join(map(str, groups))}", f"fixed {fixed / one:.0%} of 1 event",
            "-", "info"),
    ]
    return rows


def group_fit(group: GroupResult, groups: Sequence[int]) -> tuple[float, float]:
    points = [(1.0, group.ms_per_transaction(one_thread_name()))]
    points += [(float(size), group.ms_per_transaction(grouped_name(size))) for size in groups]
    return fit(points)


def print_summary(rows: list[Row]) -> None:
    headers = Row("Figure", "Value", "Floor", "Ratio", "Goal", "Result")
    table = [headers, *rows]
    names = list(Row.__dataclass_fields__)
    widths = [max(len(getattr(row, name)) for row in table) for name in names]

    def line(row: Row) -> str:
        cells = [getattr(row, name) for name in names]
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    say(line(headers).rstrip())
    say("  ".join("-" * width for width in widths))
    for row in rows:
        say(line(row).rstrip())


# -- main --------------------------------------------------------------------------------------


def int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"need positive numbers: {text!r}")
    return values


def parse_args(argv: Sequence[str] | None = None) -> tuple[Sizes, set[str], argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, under 3 minutes")
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"parts to run, comma-separated (default: {','.join(PARTS)})")
    parser.add_argument("--fire-events", type=int,
                        help=f"svc.fire events per round (default {FULL.fire_events:,}; "
                             f"--quick {QUICK.fire_events:,})")
    parser.add_argument("--due", type=int,
                        help=f"open items with a due step, fired per round (default "
                             f"{FULL.due:,}; --quick {QUICK.due:,})")
    parser.add_argument("--cli-runs", type=int,
                        help=f"timed runs per command (default {FULL.cli_runs}; --quick "
                             f"{QUICK.cli_runs})")
    parser.add_argument("--group-events", type=int,
                        help=f"events per group-commit configuration and round (default "
                             f"{FULL.group_events:,}; --quick {QUICK.group_events:,})")
    parser.add_argument("--rounds", type=int,
                        help=f"rounds of every part (default {FULL.rounds} for fire and group, "
                             f"{FULL.timer_rounds} for timers; --quick {QUICK.rounds})")
    parser.add_argument("--threads", type=int_list,
                        help="writer threads to compare, comma-separated (default 4,8)")
    parser.add_argument("--groups", type=int_list,
                        help="events per grouped transaction, comma-separated (default 4,8,16)")
    parser.add_argument("--workdir", type=Path,
                        help="where to put the databases (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args(argv)
    parts = {part.strip() for part in args.only.split(",") if part.strip()}
    if not parts or parts - set(PARTS):
        parser.error(f"--only takes some of {', '.join(PARTS)}")
    base = QUICK if args.quick else FULL
    sizes = Sizes(
        fire_events=args.fire_events or base.fire_events,
        due=args.due or base.due,
        cli_runs=args.cli_runs or base.cli_runs,
        group_events=args.group_events or base.group_events,
        rounds=args.rounds or base.rounds,
        timer_rounds=args.rounds or base.timer_rounds,
        threads=args.threads or base.threads,
        groups=args.groups or base.groups,
    )
    if min(sizes.fire_events, sizes.due, sizes.cli_runs) < 1:
        parser.error("sizes must be positive")
    if min(sizes.rounds, sizes.timer_rounds) < 3:
        parser.error("--rounds must be at least 3 (every figure is a median of rounds)")
    if max(*sizes.threads, *sizes.groups) > POOL:
        parser.error(f"at most {POOL} threads and {POOL} events per transaction")
    if sizes.group_events < GROUP_SLICES * max(*sizes.threads, *sizes.groups):
        parser.error(f"--group-events must be at least {GROUP_SLICES} x the largest thread "
                     "count and group")
    return sizes, parts, args


def main(argv: Sequence[str] | None = None) -> int:
    sizes, parts, args = parse_args(argv)
    began = time.perf_counter()
    rows: list[Row] = []
    selected = [part for part in PARTS if part in parts]
    steps = len(selected) + 1

    def heading(part: str, text: str) -> None:
        say(f"\n[{selected.index(part) + 1}/{steps}] {text}")

    note = f"; load average at start {load_average()}"
    with bench_workdir(args, "throughput", sizes, note) as workdir:
        if "fire" in parts:
            heading("fire", f"svc.fire(sign) on freshly registered items, one transaction "
                    f"each, {sizes.fire_events:,} a round, {sizes.rounds} rounds;\n      "
                    "the raw sqlite3 floor signs the same items on a copy, taking turns every "
                    f"{FIRE_SLICE} events")
            fire = isolated(measure_fire, workdir, sizes.fire_events, sizes.rounds)
            say(f"  registered {fire.items:,} items in {fire.register_seconds:.1f} s "
                f"({per_s(fire.items / fire.register_seconds, 'items/s')})")
            say(f"  svc.fire   : {rates(fire.paired.values)} events/s; "
                f"median {fire.paired.value:,.0f}")
            say(f"  raw floor  : {rates(fire.paired.floors)} events/s; "
                f"median {fire.paired.floor:,.0f}")
            say("  per round  : " + ", ".join(f"{r:.1%}" for r in fire.paired.round_ratios)
                + f"; ratio of medians {fire.paired.ratio:.1%}")
            say("  floor's audit record passes verify_audit: "
                + ("yes" if not fire.floor_problems else f"NO: {fire.floor_problems[:3]}"))
            rows += fire_rows(fire)

        if "timers" in parts:
            heading("timers", f"svc.tick(batch_size={BATCH}) firing {sizes.due:,} due yellow "
                    f"warnings, {sizes.timer_rounds} rounds on fresh copies;\n      the raw "
                    "sqlite3 floor does the same firings on its own copies, taking turns every "
                    f"{TICK_SLICE} batches")
            timers = isolated(measure_timers, workdir, sizes.due, sizes.timer_rounds,
                              args.keep)
            say(f"  built {timers.items:,} items, {timers.timers:,} timer rows in "
                f"{timers.build_seconds:.1f} s")
            say(f"  svc.tick   : {rates(timers.paired.values)} firings/s; "
                f"median {timers.paired.value:,.0f}")
            say(f"  raw floor  : {rates(timers.paired.floors)} firings/s; "
                f"median {timers.paired.floor:,.0f}")
            say("  per round  : " + ", ".join(f"{r:.1%}" for r in timers.paired.round_ratios)
                + f"; ratio of medians {timers.paired.ratio:.1%}")
            say(f"  with the sender's documents: {rates(timers.with_documents)} firings/s")
            if timers.differences:
                say("  the floor's rows differ from the service's (last round):")
                for difference in timers.differences:
                    say(f"    {difference}")
            else:
                say("  last round: the floor wrote the same rows as the service (items, timer "
                    "rows, notices, deliveries,\n  document numbers and audit events)")
            say("  floor's audit record passes verify_audit: "
                + ("yes" if not timers.floor_problems else f"NO: {timers.floor_problems[:3]}"))
            rows += timer_rows(timers)

        if "cli" in parts:
            heading("cli", f"CLI wall time, median of {sizes.cli_runs} runs after one "
                    "warm-up, interleaved (core_bench's measurement)")
            cli = measure_cli(workdir, sizes.cli_runs)
            for name, times in cli.times.items():
                say(f"  {name:36}: median {statistics.median(times) * 1000:7.1f} ms, "
                    f"best {min(times) * 1000:7.1f} ms")
            rows += cli_rows(cli)

        if "group" in parts:
            heading("group", "progress notes through one shared Service: "
                    f"{sizes.group_events:,} per configuration, {sizes.rounds} rounds,\n      "
                    f"configurations taking turns {GROUP_SLICES} times a round")
            group = isolated(measure_group, workdir, sizes.group_events, sizes.rounds,
                             sizes.threads, sizes.groups)
            for name, (count, _, seconds) in group.runs.items():
                unit = "transactions/s" if name in (EMPTY_WRITE, IDENTIFY) else "events/s"
                say(f"  {name:38}: " + rates([count / s for s in seconds])
                    + f" {unit}; median {group.rate(name):,.0f}, "
                    f"{group.ms_per_transaction(name):.2f} ms per transaction")
            fixed, per_event = group_fit(group, sizes.groups)
            say(f"  least squares over k events per transaction: {fixed:.2f} ms + k x "
                f"{per_event:.2f} ms")
            rows += group_rows(group, sizes.threads, sizes.groups)

        say(f"\n[{steps}/{steps}] summary (total {time.perf_counter() - began:,.0f} s, "
            f"load average at end {load_average()})\n")
        print_summary(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
