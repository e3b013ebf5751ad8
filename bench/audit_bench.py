"""Audit verify benchmark: ``duban audit verify`` on a long chain, against a plain-Python walk
of the same chain in the same run.

Run from the repository root with the project's virtual environment::

    .venv/bin/python bench/audit_bench.py                  # 1,000,000 events
    .venv/bin/python bench/audit_bench.py --quick          # 100,000 events
    .venv/bin/python bench/audit_bench.py --events 300000

The chain is written straight into a migrated SQLite file, as the engine writes it: events of
hash version 2 (the payload's text stored as hashed) after the office's own, and a signed
checkpoint every 200 events. The engine's figures are ``Service.verify_audit`` in this process
and ``duban audit verify`` in a subprocess (what a user waits for: start-up and the directory's
seal included). The baseline is the least a verification must do: one Python loop with the
``sqlite3`` module reading the events in sequence order, hashing each one's stored text with
SHA-256 and comparing the links; no checkpoints, one core. Each figure is the median of
``--rounds`` (3) after a warm-up read of the file. A chain of hash version 1 (the scheme
before, whose check parses and re-serialises every payload) is timed once for information;
``--skip-v1`` leaves it out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from core_bench import (
    ADMIN,
    SQLITE_TIME,
    START,
    Row,
    bench_workdir,
    build_office,
    key_path,
    print_table,
    say,
    verdict,
)

from duban.app import build_service
from duban.engine import audit_verify
from duban.engine.audit import (
    at_text,
    canonical,
    checkpoint_message,
    event_hash_v1,
    hash_v2,
    head_v2,
    read_head,
)
from duban.engine.clock import FixedClock
from duban.engine.json_text import canonical_text
from duban.engine.service import Service
from duban.engine.settings import Settings
from duban.engine.signing import Signer

FULL_EVENTS = 1_000_000
QUICK_EVENTS = 100_000
CHECKPOINT_EVERY = 200
TARGET_SECONDS = 10.0  # `duban audit verify` of a chain of 1,000,000 events or more
BATCH = 50_000
INSERT_EVENT = ("INSERT INTO audit_event (seq, at, actor, item_id, action, event, from_state, "
                "to_state, reason, payload, prev_hash, hash, hash_version) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_CHECKPOINT = ("INSERT INTO audit_checkpoint (seq, head_hash, at, key_id, signature) "
                     "VALUES (?, ?, ?, ?, ?)")
HANDLERS = ("wang", "zheng", "lin")
STATES = ("assigned", "in_progress", "reported", "closed")


# -- the chain ---------------------------------------------------------------------------------


def events(first_seq: int, count: int) -> Iterator[dict[str, Any]]:
    """Events shaped as the engine writes them: mostly an item's events with their values and
    changes, some registrations with the item's snapshot, notices and refusals."""
    for number in range(count):
        seq = first_seq + number
        at = START + timedelta(seconds=seq)
        item_id = seq % 20_000 + 1
        actor = HANDLERS[seq % 3]
        kind = seq % 10
        row = {"seq": seq, "at": at, "actor": actor, "item_id": item_id, "action": "event",
               "event": "progress", "from_state": "in_progress", "to_state": "in_progress",
               "reason": None}
        if kind == 0:
            row.update(action="created", event=None, from_state=None, to_state="assigned",
                       actor="zhao", payload={"item": {
                           "id": item_id, "title": f"校园安全隐患排查整改 {item_id}",
                           "goal": "全面排查校舍、消防、食堂等安全隐患, 建立台账, 限期整改",
                           "lead_unit": "JJK", "co_units": ["AQK"], "state": "assigned",
                           "current_deadline": at + timedelta(days=20), "version": 1,
                           "workflow": "standard", "workflow_version": 1, "public": False}})
        elif kind == 1:
            row.update(action="notice", event="yellow", from_state=None, to_state=None,
                       payload={"kind": "reminder", "recipients": [actor, "zhou"],
                                "title": f"关于事项 {item_id} 即将到期的提醒",
                                "channels": ["inbox", "email"]})
        elif kind == 2:
            row.update(action="refused", event="sign", from_state=None, to_state=None,
                       reason="无权签收: 不是本单位的承办人", payload={})
        else:
            row["payload"] = {"values": {"note": f"第{seq}次进展: 已完成排查, 正在整改"},
                              "changes": {"version": [seq % 9 + 1, seq % 9 + 2],
                                          "updated_at": [at - timedelta(hours=5), at]}}
        yield row


def stored_at(row: dict[str, Any]) -> str:
    return row["at"].astimezone(UTC).replace(tzinfo=None).strftime(SQLITE_TIME)


def write_chain(path: Path, signer: Signer, count: int, version: int) -> int:
    """Append ``count`` events of hash ``version`` after the file's head, with a signed
    checkpoint every CHECKPOINT_EVERY events; returns the head sequence."""
    seq, prev_hash = _head(path)
    last = seq + count
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA synchronous=OFF")
        rows: list[tuple[Any, ...]] = []
        points: list[tuple[Any, ...]] = []
        for row in events(seq + 1, count):
            row["payload"] = canonical(row["payload"])
            text = canonical_text(row["payload"])
            if version == 2:
                digest = hash_v2(prev_hash, head_v2(row, at_text(row["at"])), text)
            else:
                digest = event_hash_v1(prev_hash, row)
            seq = row["seq"]
            rows.append((seq, stored_at(row), row["actor"], row["item_id"], row["action"],
                         row["event"], row["from_state"], row["to_state"], row["reason"], text,
                         prev_hash, digest, version))
            prev_hash = digest
            if seq % CHECKPOINT_EVERY == 0 or seq == last:
                points.append((seq, digest, stored_at(row), signer.key_id,
                               signer.sign(checkpoint_message(seq, digest))))
            if len(rows) >= BATCH:
                _flush(db, rows, points)
        _flush(db, rows, points)
    return seq


def _head(path: Path) -> tuple[int, str]:
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        head = read_head(conn)
    engine.dispose()
    return head


def _flush(db: sqlite3.Connection, rows: list[tuple[Any, ...]],
           points: list[tuple[Any, ...]]) -> None:
    db.executemany(INSERT_EVENT, rows)
    db.executemany(INSERT_CHECKPOINT, points)
    db.commit()
    rows.clear()
    points.clear()


def build(workdir: Path, name: str, count: int, version: int) -> tuple[Service, Path, float]:
    service = build_office(workdir, name, FixedClock(START), ADMIN)
    path = workdir / name
    service.close()  # the chain goes in behind its back; a fresh service reads it afterwards
    began = time.perf_counter()
    write_chain(path, service.signer, count, version)
    seconds = time.perf_counter() - began
    settings = Settings(db_url=f"sqlite:///{path}", audit_key_path=key_path(workdir))
    return build_service(settings, FixedClock(START)), path, seconds


# -- the walks ---------------------------------------------------------------------------------


def plain_walk(path: Path) -> int:
    """The baseline: every event's link and version-2 hash, in one loop over sqlite3 rows.
    Returns the number of events; raises at the first that does not check out."""
    head_text = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    sha256 = hashlib.sha256
    prev_hash, expected, count = "0" * 64, 1, 0
    with closing(sqlite3.connect(path)) as db:
        cursor = db.execute(
            "SELECT seq, at, actor, item_id, action, event, from_state, to_state, reason, "
            "payload, prev_hash, hash, hash_version FROM audit_event ORDER BY seq")
        while rows := cursor.fetchmany(10_000):
            for (seq, at, actor, item_id, action, event, from_state, to_state, reason,
                 payload, row_prev, row_hash, version) in rows:
                if seq != expected or row_prev != prev_hash:
                    raise RuntimeError(f"plain walk: event {seq} does not link")
                if version == 2:
                    at = f"{at[:10]}T{at[11:]}+00:00"
                    text = head_text([2, seq, at, actor, item_id, action, event, from_state,
                                      to_state, reason]) + payload
                    if sha256((row_prev + text).encode()).hexdigest() != row_hash:
                        raise RuntimeError(f"plain walk: event {seq} does not hash")
                prev_hash, expected, count = row_hash, seq + 1, count + 1
    return count


def engine_verify(service: Service, workers: int | None = None) -> int:
    if workers is None:
        report = service.verify_audit()
    else:  # the same walk as verify_audit, with the number of processes given
        with service.db.read() as conn:
            report = audit_verify.verify(conn, service.signer, url=service.db.url,
                                         workers=workers)
    if not report.ok:
        raise RuntimeError(f"verify found problems: {report.problems[:3]}")
    return report.rows_checked


def cli_verify(path: Path, workdir: Path) -> int:
    env = {name: value for name, value in os.environ.items() if not name.startswith("DUBAN_")}
    env.update(DUBAN_AUDIT_KEY=str(key_path(workdir)),
               DUBAN_CONFIG=str(workdir / "no-such-config.toml"))
    duban = Path(sys.executable).parent / "duban"
    done = subprocess.run([str(duban), "--db", str(path), "audit", "verify", "--json"],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"duban audit verify exited {done.returncode}: "
                           f"{done.stdout[-500:]} {done.stderr[-500:]}")
    return json.loads(done.stdout)["rows_checked"]


def median_s(work: Callable[[], int], rounds: int, expected: int) -> float:
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        checked = work()
        times.append(time.perf_counter() - began)
        if checked != expected:
            raise RuntimeError(f"checked {checked:,} events, the chain has {expected:,}")
    return statistics.median(times)


def warm(path: Path) -> None:
    """Read the file once so that every timed round finds it in the page cache."""
    with open(path, "rb") as handle:
        while handle.read(1 << 24):
            pass


# -- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS:,} events")
    parser.add_argument("--events", type=int, help=f"events (default {FULL_EVENTS:,})")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per figure")
    parser.add_argument("--skip-v1", action="store_true",
                        help="leave out the chain of hash version 1")
    parser.add_argument("--workdir", type=Path, help="where to put the databases")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args(argv)
    count = args.events or (QUICK_EVENTS if args.quick else FULL_EVENTS)
    rows: list[Row] = []
    with bench_workdir(args, "audit", {"events": count, "rounds": args.rounds},
                       f"; {audit_verify.usable_cores()} cores for the workers") as workdir:
        say(f"\n[1/2] {count:,} events of hash version 2, written straight into the file")
        service, path, built = build(workdir, "v2.db", count, 2)
        say(f"      written in {built:.1f} s; {path.stat().st_size / 2**20:,.0f} MiB")
        total = read_total(service)
        warm(path)
        plain = median_s(lambda: plain_walk(path), args.rounds, total)
        say(f"      plain sqlite3 walk      {plain:6.2f} s")
        engine = median_s(lambda: engine_verify(service), args.rounds, total)
        say(f"      Service.verify_audit    {engine:6.2f} s")
        cli = median_s(lambda: cli_verify(path, workdir), args.rounds, total)
        say(f"      duban audit verify      {cli:6.2f} s")
        alone = median_s(lambda: engine_verify(service, workers=1), 1, total)
        say(f"      one process (1 round)   {alone:6.2f} s")
        service.close()
        judged = count >= FULL_EVENTS  # the target is for a chain of a million events
        rows += [
            Row(f"duban audit verify, {total:,} events", f"{cli:.2f} s",
                f"plain walk {plain:.2f} s", f"{cli / plain:.2f}x",
                f"<= {TARGET_SECONDS:.0f} s" if judged else "-",
                verdict(cli <= TARGET_SECONDS) if judged else "info"),
            Row("Service.verify_audit", f"{engine:.2f} s", f"plain walk {plain:.2f} s",
                f"{engine / plain:.2f}x", "-", "info"),
            Row("the same walk in one process", f"{alone:.2f} s", f"plain walk {plain:.2f} s",
                f"{alone / plain:.2f}x", "-", "info"),
        ]
        if not args.skip_v1:
            say(f"\n[2/2] {count:,} events of hash version 1, for information (one round)")
            service, path, built = build(workdir, "v1.db", count, 1)
            say(f"      written in {built:.1f} s")
            warm(path)
            old = median_s(lambda: engine_verify(service), 1, read_total(service))
            say(f"      Service.verify_audit    {old:6.2f} s")
            service.close()
            rows.append(Row("Service.verify_audit, version 1", f"{old:.2f} s",
                            f"version 2 {engine:.2f} s", f"{old / engine:.2f}x", "-", "info"))
    say()
    print_table(rows)
    return 0


def read_total(service: Service) -> int:
    with service.db.read() as conn:
        return read_head(conn)[0]


if __name__ == "__main__":
    raise SystemExit(main())
