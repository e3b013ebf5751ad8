"""Web benchmark: the 督办单 and a write through `duban serve` under 20 concurrent clients, on
SQLite and on PostgreSQL, against a bare FastAPI endpoint served the same way in the same run.

Run from the repository root with the project's virtual environment::

    .venv/bin/python bench/web_bench.py            # 20 clients x 100 requests each
    .venv/bin/python bench/web_bench.py --quick    # 20 clients x 25

The server runs as its own processes (`duban serve` with the default `[web] workers` and
`threads`, or --workers/--threads); the clients are threads of this process with keep-alive
httpx clients, each request timed from send to answer, after a few warm-up requests each. The item
page is `GET /api/v1/items/{id}` (the 督办单: item, allowed events, history, notices, in one
read); the write is `POST /api/v1/items/{id}/events/progress` (a progress note: an audit event
and the item's version, one write transaction). The service's own cost of the same write is
timed in-process, one at a time, to give the server's share of a write.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
from core_bench import Row, bench_workdir, key_path, print_table, say

from duban.app import build_service
from duban.engine.access import Bearer
from duban.engine.clock import SystemClock
from duban.engine.directory import NewPerson
from duban.engine.items import NewItem
from duban.engine.settings import Settings
from duban.web.settings import WebSettings

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 20
WARM_UP = 5  # requests per client before each measured run
WEB = WebSettings()  # the defaults `duban serve` runs with: workers, threads, access log
SCHOOLS = 150  # a county's schools: the directory every reader's permissions are drawn from
TARGET_P99_MS = 100.0
TARGET_WRITES = 200.0
TARGET_SHARE = 2.0
BARE_APP = '''
from fastapi import FastAPI
app = FastAPI()
@app.get("/ping")
def ping() -> dict:
    return {"ok": True}
'''


@dataclass
class Load:
    p50_ms: float
    p99_ms: float
    rate: float  # requests per second over the run


def prepare(url: str, workdir: Path, items: int) -> tuple[list[int], str]:
    """A county office (the bureau's sections and ``SCHOOLS`` schools, a handler and a head
    in each) with open items the handler of 基础教育科 has signed, and that handler's token."""
    settings = Settings(db_url=url, audit_key_path=key_path(workdir))
    svc = build_service(settings, SystemClock())
    svc.init("admin", "管理员")
    for code, name in (("DCS", "局督查室"), ("JJK", "基础教育科")):
        svc.add_unit("admin", code, name)
    svc.add_person("admin", NewPerson("zhao", "赵督查", "DCS", ("supervisor",)))
    svc.add_person("admin", NewPerson("wang", "王承办", "JJK", ("handler",)))
    for n in range(SCHOOLS):
        code = f"S{n:03d}"
        svc.add_unit("admin", code, f"第{n}学校")
        svc.add_person("admin", NewPerson(f"h{n}", f"承办{n}", code, ("handler",)))
        svc.add_person("admin", NewPerson(f"u{n}", f"校长{n}", code, ("unit_head",)))
    ids = []
    for n in range(items):
        item = svc.new_item("zhao", NewItem(title=f"督办事项{n}", lead_unit="JJK",
                                            deadline="20个工作日"))
        svc.fire("wang", item["id"], "sign")
        ids.append(item["id"])
    token = svc.create_token("wang", "bench")["secret"]
    svc.close()
    return ids, token


def serve(command: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    """Start a server whose output goes to ``log`` (a pipe nobody reads would stall it)."""
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=sink,
                                   stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=1)
            return process
        except httpx.HTTPError:
            if process.poll() is not None:
                raise RuntimeError(log.read_text()) from None
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


def load(base: str, requests: int, send: Callable[[httpx.Client, int], httpx.Response],
         headers: dict[str, str]) -> Load:
    """``CLIENTS`` threads, each sending ``requests`` requests; latencies of all of them."""
    times: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS + 1)
    failures: list[str] = []

    def client(index: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            mine = []
            start.wait()
            for n in range(requests):
                began = time.perf_counter()
                answer = send(http, index * requests + n)
                mine.append(time.perf_counter() - began)
                if answer.status_code >= 400:
                    failures.append(f"{answer.status_code} {answer.text[:200]}")
            with lock:
                times.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    times.sort()
    return Load(statistics.median(times) * 1000, times[int(len(times) * 0.99) - 1] * 1000,
                len(times) / elapsed)


@dataclass
class WriteCosts:
    """Median milliseconds of one progress write, one at a time."""

    over_http: float  # as the client sees it
    in_app: float  # inside the application (its Server-Timing): routing, checks, JSON
    service: float  # the same write by the same person, straight to the service
    bare: float  # one bare request, as the same client sees it


def write_costs(site: str, floor_site: str, url: str, workdir: Path, items: list[int],
                token: str, rounds: int = 10, runs: int = 40) -> WriteCosts:
    """One write at a time over HTTP, straight to the service, and one bare request, in
    alternating rounds so that the machine's ups and downs fall on all three alike."""
    svc = build_service(Settings(db_url=url, audit_key_path=key_path(workdir)), SystemClock())
    actor = Bearer(token)
    headers = {"Authorization": f"Bearer {token}"}
    over_http: list[float] = []
    in_app: list[float] = []
    direct: list[float] = []
    bare: list[float] = []

    def write(n: int) -> None:
        answer = http.post(f"/api/v1/items/{items[n]}/events/progress",
                           json={"values": {"note": "经网"}})
        timing = answer.headers["server-timing"]  # app;dur=<ms>
        in_app.append(float(timing.split("dur=")[1]) / 1000)

    def timed(into: list[float], call: Callable[[int], object]) -> None:
        for n in range(runs):
            began = time.perf_counter()
            call(n)
            into.append(time.perf_counter() - began)

    with httpx.Client(base_url=site, headers=headers) as http, \
            httpx.Client(base_url=floor_site) as floor:
        for _ in range(rounds):
            timed(over_http, write)
            timed(direct, lambda n: svc.fire(actor, items[runs + n], "progress",
                                             {"note": "直接"}))
            timed(bare, lambda n: floor.get("/ping"))
    svc.close()
    return WriteCosts(*(statistics.median(found) * 1000
                        for found in (over_http, in_app, direct, bare)))


def measure(kind: str, url: str, workdir: Path, requests: int) -> list[Row]:
    from tests.web.conftest import free_port

    ids, token = prepare(url, workdir, 200)
    env = {**os.environ, "DUBAN_DB": url, "DUBAN_AUDIT_KEY": str(key_path(workdir)),
           "DUBAN_CONFIG": str(workdir / "duban.toml")}
    (workdir / "duban.toml").write_text(f"[web]\nserver_timing = true\nworkers = {WEB.workers}\n"
                                        f"threads = {WEB.threads}\n")
    port, bare_port = free_port(), free_port()
    duban = str(Path(sys.executable).with_name("duban"))
    server = serve([duban, "serve", "--port", str(port)], env, port, workdir / "serve.log")
    (workdir / "bare_app.py").write_text(BARE_APP)
    bare = serve([sys.executable, "-m", "uvicorn", "--app-dir", str(workdir), "bare_app:app",
                  "--port", str(bare_port), "--workers", str(WEB.workers)], env, bare_port,
                 workdir / "bare.log")
    headers = {"Authorization": f"Bearer {token}"}
    site, floor_site = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"

    def ping(http: httpx.Client, n: int) -> httpx.Response:
        return http.get("/ping")

    def item_page(http: httpx.Client, n: int) -> httpx.Response:
        return http.get(f"/api/v1/items/{ids[n % len(ids)]}")

    def progress(http: httpx.Client, n: int) -> httpx.Response:
        return http.post(f"/api/v1/items/{ids[n % len(ids)]}/events/progress",
                         json={"values": {"note": f"进展{n}"}})

    try:
        for base, send in ((floor_site, ping), (site, item_page), (site, progress)):
            load(base, WARM_UP, send, headers)  # every worker's first requests build things
        floor = load(floor_site, requests, ping, headers)
        page = load(site, requests, item_page, headers)
        write = load(site, requests, progress, headers)
        costs = write_costs(site, floor_site, url, workdir, ids, token)
    finally:
        for process in (server, bare):
            process.terminate()
            process.wait(timeout=30)
    share = (costs.in_app - costs.service) / costs.service
    seen = (costs.over_http - costs.service) / costs.service
    say(f"  {kind}: bare p50 {floor.p50_ms:.1f} p99 {floor.p99_ms:.1f} ms, {floor.rate:,.0f}/s; "
        f"item page p50 {page.p50_ms:.1f} p99 {page.p99_ms:.1f} ms, {page.rate:,.0f}/s; "
        f"write p50 {write.p50_ms:.1f} p99 {write.p99_ms:.1f} ms, {write.rate:,.0f}/s; "
        f"one write: {costs.over_http:.2f} ms at the client, {costs.in_app:.2f} ms in the app, "
        f"{costs.service:.2f} ms straight to the service; one bare request {costs.bare:.2f} ms")
    return [
        Row(f"{kind}: item page p99", f"{page.p99_ms:.1f} ms", f"bare {floor.p99_ms:.1f} ms",
            f"{page.p99_ms / floor.p99_ms:.1f}x", f"<= {TARGET_P99_MS:.0f} ms",
            "PASS" if page.p99_ms <= TARGET_P99_MS else "MISS"),
        Row(f"{kind}: item page p50", f"{page.p50_ms:.1f} ms", f"bare {floor.p50_ms:.1f} ms",
            f"{page.p50_ms / floor.p50_ms:.1f}x", "-", "info"),
        Row(f"{kind}: writes/s, 20 clients", f"{write.rate:,.0f}/s",
            f"bare {floor.rate:,.0f}/s", f"{write.rate / floor.rate:.2f}",
            f">= {TARGET_WRITES:.0f}/s", "PASS" if write.rate >= TARGET_WRITES else "MISS"),
        Row(f"{kind}: write p50 / p99", f"{write.p50_ms:.1f} / {write.p99_ms:.1f} ms", "-",
            "-", "-", "info"),
        Row(f"{kind}: server's share of a write", f"{costs.in_app - costs.service:.2f} ms",
            f"service {costs.service:.2f} ms", f"{share:.2f}x", f"<= {TARGET_SHARE:.0f}x",
            "PASS" if share <= TARGET_SHARE else "MISS"),
        Row(f"{kind}: a write as the client sees it", f"{costs.over_http:.2f} ms",
            f"service {costs.service:.2f} ms", f"{seen:.2f}x more", "-", "info"),
        Row(f"{kind}: one bare request, same client", f"{costs.bare:.2f} ms", "-", "-", "-",
            "info"),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="25 requests per client")
    parser.add_argument("--workdir", type=Path, help="keep the databases here")
    parser.add_argument("--keep", action="store_true", help="do not remove the databases")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--sqlite-only", dest="no_postgres", action="store_true",
                        help=argparse.SUPPRESS)
    parser.add_argument("--postgres-only", action="store_true", help="PostgreSQL only")
    parser.add_argument("--workers", type=int, help="[web] workers (default: the default)")
    parser.add_argument("--threads", type=int, help="[web] threads (default: the default)")
    args = parser.parse_args(argv)
    global WEB
    WEB = WebSettings(workers=args.workers or WEB.workers, threads=args.threads or WEB.threads)
    requests = 25 if args.quick else 100
    sys.path.insert(0, str(ROOT))
    with bench_workdir(args, "web", {"clients": CLIENTS, "requests": requests}) as workdir:
        say(f"\n{CLIENTS} clients x {requests} requests, `duban serve` with {WEB.workers} "
            f"workers x {WEB.threads} threads, run {date.today():%Y-%m-%d}")
        rows = ([] if args.postgres_only
                else measure("SQLite", f"sqlite:///{workdir / 'web.db'}", workdir, requests))
        if not args.no_postgres:
            pgserver = importlib.import_module("tests.pgserver")
            server = pgserver.PostgresServer()
            if server.available:
                url = server.start()
                try:
                    pg_dir = workdir / "pg"
                    pg_dir.mkdir()
                    rows += measure("PostgreSQL", url, pg_dir, requests)
                finally:
                    server.stop()
        say("")
        print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
