"""Evidence benchmark: attaching a 10 MB file with an event, and `audit verify --files` over
10,000 stored files, each against plain Python doing the same file work in the same run.

Run from the repository root with the project's virtual environment::

    .venv/bin/python bench/evidence_bench.py            # 10 MB x 15 attachments, 10,000 files
    .venv/bin/python bench/evidence_bench.py --quick    # 10 MB x 5, 2,000 files

Attaching is ``svc.fire(progress, attachments=[file])``: the file streamed into the store's
incoming folder while hashed, synced, its type judged, renamed into place, its row and audit
event written in one transaction. The floor copies the same file with ``hashlib.sha256`` in
1 MiB chunks and ``os.fsync``, the same durability; a copy without the sync is shown too.
Rounds alternate between duban and the floor, each file new content (no deduplication).
Verification hashes every file the audit record cites; its floor hashes the same files one by
one with plain Python.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from core_bench import Row, bench_workdir, key_path, print_table, say, verdict

from duban.app import build_service
from duban.engine.clock import SystemClock
from duban.engine.directory import NewPerson
from duban.engine.items import NewItem
from duban.engine.settings import Settings

CHUNK = 1 << 20
TARGET_ATTACH = 1.5  # duban within 1.5x of copy + hash
SMALL_FILE = 24 * 1024  # a phone photo squeezed by IM apps, a scanned page: tens of KB
PER_CALL = 100


def new_pdf(path: Path, size: int, seed: int) -> Path:
    """A file of ``size`` bytes that reads as a PDF, different for every seed."""
    block = hashlib.sha256(str(seed).encode()).digest() * (CHUNK // 32)
    with path.open("wb") as out:
        out.write(b"%PDF-1.7\n")
        left = size - 9
        while left > 0:
            out.write(block[:left])
            left -= len(block)
    return path


def copy_and_hash(source: Path, target: Path, sync: bool) -> str:
    digest = hashlib.sha256()
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            dst.write(chunk)
        if sync:
            dst.flush()
            os.fsync(dst.fileno())
    return digest.hexdigest()


def office(workdir: Path, max_files: int = 20):
    settings = Settings(db_url=f"sqlite:///{workdir / 'evidence.db'}",
                        audit_key_path=key_path(workdir),
                        tables={"evidence": {"folder": str(workdir / "store"),
                                             "max_files": max_files}})
    svc = build_service(settings, SystemClock())
    svc.init("admin", "管理员")
    svc.add_unit("admin", "DCS", "局督查室")
    svc.add_unit("admin", "JJK", "基础教育科")
    svc.add_person("admin", NewPerson("zhao", "赵督查", "DCS", ("supervisor",)))
    svc.add_person("admin", NewPerson("wang", "王承办", "JJK", ("handler",)))
    item = svc.new_item("zhao", NewItem(title="校舍安全整改", lead_unit="JJK",
                                        deadline="20个工作日"))["id"]
    svc.fire("wang", item, "sign")
    return svc, item


def measure_attach(workdir: Path, size: int, runs: int) -> list[Row]:
    svc, item = office(workdir)
    sources = workdir / "sources"
    sources.mkdir()
    duban, floor, unsynced = [], [], []
    try:
        for n in range(runs):
            for name, sink in (("duban", duban), ("floor", floor), ("unsynced", unsynced)):
                source = new_pdf(sources / f"{name}-{n}.pdf", size, seed=n * 3 + len(sink))
                began = time.perf_counter()
                if name == "duban":
                    with source.open("rb") as handle:
                        svc.fire("wang", item, "progress", {"note": f"第{n}次"},
                                 attachments=[(source.name, handle)])
                else:
                    copy_and_hash(source, workdir / f"copy-{name}-{n}", sync=name == "floor")
                sink.append(time.perf_counter() - began)
                source.unlink()
        assert len(svc.evidence_of("zhao", item)) == runs
        assert svc.verify_files().ok
    finally:
        svc.close()
    d, f, u = (statistics.median(x) * 1000 for x in (duban, floor, unsynced))
    mb = size / CHUNK
    say(f"  attach {mb:.0f} MB: duban {d:.1f} ms, copy+hash+fsync {f:.1f} ms, "
        f"copy+hash {u:.1f} ms (medians of {runs})")
    return [
        Row(f"attach a {mb:.0f} MB file (event included)", f"{d:.1f} ms",
            f"copy+hash+fsync {f:.1f} ms", f"{d / f:.2f}x", f"<= {TARGET_ATTACH}x",
            verdict(d / f <= TARGET_ATTACH)),
        Row("  same, against a copy without fsync", f"{d:.1f} ms", f"copy+hash {u:.1f} ms",
            f"{d / u:.2f}x", "-", "info"),
        Row("  throughput of an attachment", f"{mb / d * 1000:,.0f} MB/s",
            f"{mb / f * 1000:,.0f} MB/s", "-", "-", "info"),
    ]


def measure_verify(workdir: Path, count: int) -> list[Row]:
    svc, item = office(workdir, max_files=PER_CALL)
    sources = workdir / "small"
    sources.mkdir()
    began = time.perf_counter()
    try:
        for start in range(0, count, PER_CALL):
            batch = [new_pdf(sources / f"{n}.pdf", SMALL_FILE, seed=10**6 + n)
                     for n in range(start, min(start + PER_CALL, count))]
            handles = [path.open("rb") for path in batch]
            try:
                svc.add_evidence("wang", item, [(p.name, h) for p, h in zip(batch, handles,
                                                                            strict=True)])
            finally:
                for handle in handles:
                    handle.close()
            for path in batch:
                path.unlink()
        stored_in = time.perf_counter() - began
        paths = sorted(p for p in (workdir / "store").glob("??/??/*"))
        assert len(paths) == count
        timings, floors = [], []
        for _ in range(3):  # alternating, the page cache warm for both
            began = time.perf_counter()
            report = svc.verify_files()
            timings.append(time.perf_counter() - began)
            assert report.ok and report.files_checked == count
            began = time.perf_counter()
            for path in paths:
                hashlib.sha256(path.read_bytes()).hexdigest()
            floors.append(time.perf_counter() - began)
    finally:
        svc.close()
    v, f = min(timings), min(floors)
    say(f"  {count:,} files of {SMALL_FILE // 1024} KB stored in {stored_in:.1f} s "
        f"({count / stored_in:,.0f} files/s, {PER_CALL} per event); verify --files "
        f"{v:.2f} s, plain hashing {f:.2f} s (best of 3)")
    return [
        Row(f"verify --files, {count:,} files", f"{v:.2f} s", f"plain hashing {f:.2f} s",
            f"{v / f:.2f}x", "-", "info"),
        Row("  files verified per second", f"{count / v:,.0f}/s", f"{count / f:,.0f}/s",
            "-", "-", "info"),
        Row(f"  attaching {PER_CALL} small files per event", f"{count / stored_in:,.0f}/s",
            "-", "-", "-", "info"),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 attachments, 2,000 files")
    parser.add_argument("--workdir", type=Path, help="keep the databases here")
    parser.add_argument("--keep", action="store_true", help="do not remove the databases")
    args = parser.parse_args(argv)
    runs, count = (5, 2_000) if args.quick else (15, 10_000)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    with bench_workdir(args, "evidence", {"attachments": runs, "files": count}) as workdir:
        say(f"\nrun {date.today():%Y-%m-%d}")
        for part in ("attach", "verify"):
            (workdir / part).mkdir()
        rows = measure_attach(workdir / "attach", 10 * CHUNK, runs)
        rows += measure_verify(workdir / "verify", count)
        say("")
        print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
