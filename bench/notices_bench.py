"""Notices benchmark: render and enqueue, Word documents, delivery to the outbox folder.

Run from the repository root with the project's virtual environment::

    .venv/bin/python bench/notices_bench.py            # 10,000 notices
    .venv/bin/python bench/notices_bench.py --quick    # 1,000 notices

Each figure is compared with a floor measured in the same run on the same machine: Jinja
rendering alone, plain inserts of the same rows, python-docx saving the bare template, and
writing the same files without the database. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import io
import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from core_bench import (
    ADMIN,
    START,
    Row,
    bench_workdir,
    build_office,
    create_items,
    per_s,
    print_table,
    say,
    verdict,
)
from sqlalchemy import select

from duban.engine import notices
from duban.engine.clock import FixedClock
from duban.engine.models import ITEM, NOTICE
from duban.engine.timers import Recipient
from duban.notifiers.outbox import outbox_of
from duban.notifiers.render import Document
from duban.notifiers.sender import deliver

TARGET_ENQUEUE = 1_000.0
TARGET_DOCX = 20.0
TARGET_FILE = 500.0
BATCH = 200
KINDS = ("reminder", "urging", "warning", "progress_request")


@dataclass(frozen=True)
class Sizes:
    notices: int
    items: int
    docx: int


FULL = Sizes(notices=10_000, items=2_000, docx=200)
QUICK = Sizes(notices=1_000, items=500, docx=40)


def enqueue(service, item_ids: list[int], count: int) -> float:
    """``count`` notices through the engine's own path (resolve, render, number, insert)."""
    began = time.perf_counter()
    written = 0
    while written < count:
        with service.system_transaction() as txn:
            rows = txn.conn.execute(select(ITEM).where(ITEM.c.id.in_(
                [item_ids[(written + n) % len(item_ids)] for n in range(BATCH)]))).mappings()
            by_id = {row["id"]: dict(row) for row in rows}
            for n in range(min(BATCH, count - written)):
                item = by_id[item_ids[(written + n) % len(item_ids)]]
                notices.request(txn, item, KINDS[(written + n) % len(KINDS)],
                                key=f"bench:{written + n}",
                                to=(Recipient.owner, Recipient.unit_head),
                                cc=(Recipient.lead_leader,), payload={"step": "bench"})
            written += min(BATCH, count - written)
    return count / (time.perf_counter() - began)


def render_only(service, item_ids: list[int], count: int) -> float:
    """The floor of the templates alone: the kind template and three layouts per notice."""
    outbox = outbox_of(service)
    with service.reading(ADMIN) as txn:
        items = {row["id"]: dict(row) for row in txn.conn.execute(select(ITEM)).mappings()}
        began = time.perf_counter()
        for n in range(count):
            item = items[item_ids[n % len(item_ids)]]
            draft = {"id": n, "key": f"r{n}", "item_id": item["id"], "kind": KINDS[n % 4],
                     "recipients": ["wang"], "cc": ["chen"], "payload": {}}
            document, _ = outbox.compose(txn, draft, item)
            outbox.renderer.text(document)
            outbox.renderer.markdown(document)
            outbox.renderer.html_page(document)
    return count / (time.perf_counter() - began)


def insert_floor(db_path: Path, count: int) -> float:
    """Plain sqlite3 inserts of notice-sized rows, one transaction per batch."""
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE floor (key TEXT UNIQUE, kind TEXT, body_text TEXT, "
                 "body_markdown TEXT, body_html TEXT, document TEXT)")
    text = "督办" * 400
    began = time.perf_counter()
    for start in range(0, count, BATCH):
        with conn:
            conn.executemany("INSERT INTO floor VALUES (?, ?, ?, ?, ?, ?)",
                             [(f"k{n}", "reminder", text, text, text * 3, text)
                              for n in range(start, min(count, start + BATCH))])
    conn.close()
    return count / (time.perf_counter() - began)


def docx_rate(service, count: int) -> tuple[float, float]:
    """Documents per second through docxtpl, and the python-docx floor (open and save)."""
    from docx import Document as WordDocument

    renderer = outbox_of(service).renderer
    with service.db.read() as conn:
        stored = [row[0] for row in conn.execute(
            select(NOTICE.c.document).where(NOTICE.c.document.is_not(None)).limit(count))]
    began = time.perf_counter()
    for data in stored:
        renderer.docx(Document.from_json(data))
    rate = len(stored) / (time.perf_counter() - began)
    template = renderer._docx_template()
    began = time.perf_counter()
    for _ in stored:
        WordDocument(io.BytesIO(template)).save(io.BytesIO())
    return rate, len(stored) / (time.perf_counter() - began)


def file_floor(folder: Path, service, count: int) -> float:
    """The same files written and renamed into place without the database, made durable the
    same way (one syncfs per batch)."""
    from duban.notifiers.channels.file import sync_filesystem

    with service.db.read() as conn:
        rows = list(conn.execute(select(NOTICE.c.body_text, NOTICE.c.body_markdown,
                                        NOTICE.c.body_html).limit(count)))
    folder.mkdir()
    began = time.perf_counter()
    for n, (text, _, html) in enumerate(rows):
        for name, body in ((f"n{n}.html", html), (f"n{n}.txt", text)):
            (folder / f".{name}.tmp").write_bytes(body.encode())
            os.replace(folder / f".{name}.tmp", folder / name)
        if n % BATCH == BATCH - 1:
            sync_filesystem(folder)
    sync_filesystem(folder)
    return len(rows) / (time.perf_counter() - began)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--workdir", type=Path, help="keep the databases here")
    parser.add_argument("--keep", action="store_true", help="do not remove the databases")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    with bench_workdir(args, "notices", sizes) as workdir:
        clock = FixedClock(START)
        service = build_office(workdir, "notices", clock)
        outbox_dir = workdir / "outbox"
        service.settings = replace(service.settings, tables={
            "office": {"name": "××市教育局督查室"}, "notices": {"outbox": str(outbox_dir)}})
        service._outbox = None
        say(f"\n[1/3] {sizes.items:,} items, then {sizes.notices:,} notices rendered (text, "
            f"Markdown, HTML) and enqueued, {BATCH} per transaction")
        item_ids = create_items(service, sizes.items, START.replace(month=12))
        with service.db.read() as conn:
            before = conn.execute(select(NOTICE.c.id)).all()
        enqueue_rate = enqueue(service, item_ids, sizes.notices)
        render_rate = render_only(service, item_ids, sizes.notices)
        floor_rate = insert_floor(workdir / "floor.db", sizes.notices)
        say(f"      enqueue {enqueue_rate:,.0f}/s; templates alone {render_rate:,.0f}/s; "
            f"plain inserts {floor_rate:,.0f}/s")
        say(f"\n[2/3] {sizes.docx} Word documents through docxtpl")
        docx, docx_floor = docx_rate(service, sizes.docx)
        say(f"      docxtpl {docx:,.1f}/s; python-docx open+save floor {docx_floor:,.1f}/s")
        total = sizes.notices + len(before)
        say(f"\n[3/3] {total:,} notices delivered to the outbox folder (atomic rename, one "
            f"syncfs per batch of {BATCH})")
        began = time.perf_counter()
        report = deliver(service, batch_size=BATCH, keep_outcomes=False)
        file_rate = report.sent / (time.perf_counter() - began)
        assert report.sent == total, report
        floor_files = file_floor(workdir / "floor-files", service, min(total, 2_000))
        say(f"      sender {file_rate:,.0f}/s; files alone {floor_files:,.0f}/s")
        rows = [
            Row("render + enqueue", per_s(enqueue_rate), per_s(render_rate) + " templates",
                f"{enqueue_rate / render_rate:.2f}", f">= {TARGET_ENQUEUE:,.0f}/s",
                verdict(enqueue_rate >= TARGET_ENQUEUE)),
            Row("  vs plain inserts", per_s(enqueue_rate), per_s(floor_rate) + " inserts",
                f"{enqueue_rate / floor_rate:.2f}", "-", "-"),
            Row(".docx rendering", f"{docx:,.1f} /s", f"{docx_floor:,.1f} /s python-docx",
                f"{docx / docx_floor:.2f}", f">= {TARGET_DOCX:.0f}/s",
                verdict(docx >= TARGET_DOCX)),
            Row("deliver to folder", per_s(file_rate), per_s(floor_files) + " files alone",
                f"{file_rate / floor_files:.2f}", f">= {TARGET_FILE:.0f}/s",
                verdict(file_rate >= TARGET_FILE)),
        ]
        say("")
        print_table(rows)
        service.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
