"""The daemon and the ticker under pressure: one daemon per SQLite file, clean stops, a kill -9
in the middle of the work, two tickers sharing the due steps of one PostgreSQL database; and
the daemon's log: its time zone, level and file, and a PostgreSQL it cannot reach.

Whatever happens to the process, every due step ends fired (or skipped, as the ladder says)
exactly once: one audit event per step, one notice request per fired step, no step pending.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from duban.app import build_service
from duban.engine import items
from duban.engine.clock import FixedClock
from duban.engine.items import NewItem
from duban.engine.models import AUDIT_EVENT, ITEM, NOTICE, TIMER, TimerStatus
from duban.engine.service import Service
from duban.engine.settings import Settings
from duban.engine.ticker import TickReport
from duban.workflows.standard import TIMERS
from tests.conftest import ADMIN, local
from tests.pgserver import free_port

ROOT = Path(__file__).resolve().parents[2]
DUBAN = str(Path(sys.executable).with_name("duban"))
T = TypeVar("T")
SPECS = {spec.step: spec for spec in TIMERS}
# Items created at START and due a working day later (2026-11-03): at CATCH_UP every step of
# their deadline ladders is due (the last, escalate, on 11-17); the monthly progress request of
# the signed ones is not (11-25) and must stay pending.
CATCH_UP = "2026-11-24 10:00"
CATCH_UP_AT = local(CATCH_UP)
BATCH = 50
SIGNED_EVERY = 5


# -- helpers ----------------------------------------------------------------------------------

def wait_for(condition: Callable[[], T], what: str, *, timeout: float = 30.0,
             daemon: Daemon | None = None) -> T:
    """Poll ``condition`` every few milliseconds until it is truthy; fail after ``timeout``."""
    give_up = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if daemon is not None and daemon.process.poll() is not None:
            pytest.fail(f"daemon exited with {daemon.process.returncode} while waiting for "
                        f"{what}:\n{daemon.log()}")
        if time.monotonic() > give_up:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def cli_env(settings: Settings, tmp_path: Path, now: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("DUBAN_")}
    env.update(DUBAN_DB=settings.db_url, DUBAN_AUDIT_KEY=str(settings.audit_key_path),
               DUBAN_CONFIG=str(tmp_path / "absent.toml"), DUBAN_NOW=now)
    return env


class Daemon:
    """``duban daemon`` in a subprocess, its output in a file."""

    def __init__(self, env: dict[str, str], log_path: Path, *args: str) -> None:
        self.log_path = log_path
        with log_path.open("w") as log:
            self.process = subprocess.Popen([DUBAN, "daemon", *args], cwd=ROOT, env=env,
                                            stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=60)


@contextmanager
def running_daemon(env: dict[str, str], log_path: Path, *args: str) -> Iterator[Daemon]:
    daemon = Daemon(env, log_path, *args)
    try:
        yield daemon
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
        daemon.process.wait(timeout=60)


def due_progress(service: Service, now: datetime) -> tuple[int, int]:
    """(steps handled, steps still pending) among the steps due at ``now``."""
    with service.db.read() as conn:
        rows = conn.execute(
            select(TIMER.c.status, func.count()).where(TIMER.c.due_at <= now)
            .group_by(TIMER.c.status)
        ).all()
    counts = dict(rows)
    pending = counts.pop(TimerStatus.pending, 0)
    return sum(counts.values()), pending


def create_items(service: Service, count: int) -> list[int]:
    """``count`` items due one working day after creation, in one transaction; every
    SIGNED_EVERY-th one signed, so that it also has a monthly progress step (not yet due at
    CATCH_UP)."""
    with service.transaction("zhao") as txn:
        created = [items.create(txn, NewItem(title=f"排查 {n}", lead_unit="JJK",
                                             deadline="1 workdays", lead_leader="chen"))["id"]
                   for n in range(count)]
    with service.transaction("wang") as txn:
        for item_id in created[::SIGNED_EVERY]:
            items.fire(txn, item_id, "sign", {})
    return created


def timer_events(conn) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(AUDIT_EVENT.c.item_id, AUDIT_EVENT.c.action, AUDIT_EVENT.c.event,
               AUDIT_EVENT.c.payload)
        .where(AUDIT_EVENT.c.action.in_(("timer_fired", "timer_skipped", "timer_failed")))
    ).mappings()
    return [dict(row) for row in rows]


def assert_every_due_step_handled_once(service: Service, now: datetime,
                                       item_ids: list[int]) -> list[dict[str, Any]]:
    """The whole ladder of every item handled exactly once; returns the due timer rows."""
    with service.db.read() as conn:
        timers = [dict(row) for row in conn.execute(select(TIMER)).mappings()]
        events = timer_events(conn)
        notice_keys = list(conn.execute(
            select(NOTICE.c.key).where(NOTICE.c.key.like("timer:%"))).scalars())
        warns = Counter(conn.execute(
            select(AUDIT_EVENT.c.item_id)
            .where(AUDIT_EVENT.c.action == "event", AUDIT_EVENT.c.event == "warn")).scalars())
        attrs = dict(conn.execute(
            select(ITEM.c.id, ITEM.c.attrs).where(ITEM.c.id.in_(item_ids))).all())
    due = [t for t in timers if t["due_at"] <= now]
    assert due and {t["item_id"] for t in due} == set(item_ids)
    assert [t for t in due if t["status"] == TimerStatus.pending] == []
    # What is not due yet is left alone: the signed items' progress requests of the month.
    ahead = {(t["item_id"], t["step"], t["status"]) for t in timers if t["due_at"] > now}
    assert ahead == {(item_id, "progress_report:2026-11", TimerStatus.pending)
                     for item_id in item_ids[::SIGNED_EVERY]}

    # Each step's outcome is the one the ladder prescribes: every deadline is past, so the
    # reminders are skipped and every other step fires; nothing is cancelled or failed.
    outcome = Counter((t["status"], SPECS[t["step"].split(":")[0]].skip_after_deadline)
                      for t in due)
    assert set(outcome) == {(TimerStatus.skipped, True), (TimerStatus.fired, False)}, outcome

    # One audit event per step, of the kind its status says, and no other.
    fired = Counter((e["item_id"], e["event"], e["payload"]["deadline_version"])
                    for e in events if e["action"] == "timer_fired")
    skipped = Counter((e["item_id"], e["event"]) for e in events if e["action"] == "timer_skipped")
    assert not [e for e in events if e["action"] == "timer_failed"]
    fired_rows = [t for t in due if t["status"] == TimerStatus.fired]
    assert fired == Counter((t["item_id"], t["step"], t["deadline_version"]) for t in fired_rows)
    assert skipped == Counter((t["item_id"], t["step"]) for t in due
                              if t["status"] == TimerStatus.skipped)
    assert max(fired.values()) == 1 and max(skipped.values()) == 1

    # One notice request per fired step, under the step's key.
    duplicates = [key for key, n in Counter(notice_keys).items() if n > 1]
    assert duplicates == []
    assert set(notice_keys) == {f"timer:{t['item_id']}:{t['step']}:{t['deadline_version']}"
                                for t in fired_rows}

    # The yellow and red steps each warned every item once.
    assert warns == Counter({item_id: 2 for item_id in item_ids})
    assert {item_id: (a.get("warnings"), a.get("warning")) for item_id, a in attrs.items()} == {
        item_id: (2, "red") for item_id in item_ids}

    assert service.verify_audit(ADMIN).ok
    assert service.check_rebuild(ADMIN).ok
    return due


# -- one daemon per SQLite file ---------------------------------------------------------------

@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_a_second_sqlite_daemon_refuses_and_the_first_stops_on_sigterm(office, settings,
                                                                       tmp_path):
    service = office.service
    item_id = office.item(deadline="2026-11-03 18:00")
    now = "2026-11-04 10:00"  # reminders late, yellow and urge due, red and escalate ahead
    env = cli_env(settings, tmp_path, now)
    database = settings.db_url.removeprefix("sqlite:///")

    with running_daemon(env, tmp_path / "first.log", "--interval", "3600") as first:
        def first_tick_done() -> bool:
            handled, pending = due_progress(service, local(now))
            return handled > 0 and pending == 0

        wait_for(first_tick_done, "the first tick", daemon=first)
        assert due_progress(service, local(now)) == (4, 0)

        second = subprocess.run([DUBAN, "daemon", "--interval", "3600"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 7, second.stderr
        assert "Traceback" not in second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert lines[0].startswith("错误: 另一个 duban daemon")
        assert f"进程 {first.pid}" in lines[0] and database in lines[0]
        assert first.process.poll() is None

        assert first.stop() == 0, first.log()
        assert "duban daemon 已停止" in first.log()

    status = {t["step"]: t["status"] for t in service.timers(ADMIN, item_id)}
    assert status == {"remind_3": "skipped", "remind_1": "skipped", "yellow": "fired",
                      "urge": "fired", "red": "pending", "escalate": "pending"}

    # The lock went with the clean stop: a new daemon starts and goes on with the ladder.
    later = "2026-11-12 10:00"
    with running_daemon(cli_env(settings, tmp_path, later), tmp_path / "third.log",
                        "--interval", "3600") as third:
        wait_for(lambda: {t["step"]: t["status"] for t in service.timers(ADMIN, item_id)}["red"]
                 == TimerStatus.fired, "the red warning", daemon=third)
        # each tick is followed by delivery: the notices reach the outbox folder
        wait_for(lambda: {n["status"] for n in service.notices(ADMIN, item_id)} == {"sent"},
                 "the notices delivered", daemon=third)
        assert third.stop() == 0, third.log()
    outbox = Path(database).with_name("duban-outbox")
    assert {f"timer_{item_id}_{step}_1.txt" for step in ("yellow", "urge", "red")} <= {
        p.name for p in outbox.iterdir()}
    statuses = [t["status"] for t in service.timers(ADMIN, item_id)]
    assert statuses.count(TimerStatus.pending) == 1  # escalate
    assert service.verify_audit(ADMIN).ok
    assert service.check_rebuild(ADMIN).ok


# -- stops and crashes in the middle of the work ----------------------------------------------

@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_sigterm_and_kill_9_in_the_middle_lose_no_step_and_repeat_none(office, settings,
                                                                      tmp_path):
    service = office.service
    item_ids = create_items(service, 500)
    handled, total = due_progress(service, CATCH_UP_AT)
    assert (handled, total) == (0, 500 * 6)
    env = cli_env(settings, tmp_path, CATCH_UP)
    args = ("--batch", str(BATCH), "--interval", "3600")

    def consistent_so_far() -> None:
        """Only whole batches were committed; each committed step has its one event."""
        done, _ = due_progress(service, CATCH_UP_AT)
        assert done % BATCH == 0
        with service.db.read() as conn:
            assert len(timer_events(conn)) == done
        assert service.verify_audit(ADMIN).ok
        assert service.check_rebuild(ADMIN).ok

    # A SIGTERM stops the daemon after its current batch, with work left for later.
    with running_daemon(env, tmp_path / "terminated.log", *args) as daemon:
        wait_for(lambda: due_progress(service, CATCH_UP_AT)[0] >= total // 10,
                 "a tenth of the steps", daemon=daemon)
        assert daemon.stop(signal.SIGTERM) == 0, daemon.log()
    after_stop, left = due_progress(service, CATCH_UP_AT)
    assert left > 0, "the daemon drained everything instead of stopping after its batch"
    consistent_so_far()

    # A kill -9 in the middle: whatever batch was open is lost as a whole.
    with running_daemon(env, tmp_path / "killed.log", *args) as daemon:
        target = after_stop + (total - after_stop) // 3
        wait_for(lambda: due_progress(service, CATCH_UP_AT)[0] >= target, "a third of the rest",
                 daemon=daemon)
        assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
    after_kill, left = due_progress(service, CATCH_UP_AT)
    assert after_stop < after_kill < total and left > 0
    consistent_so_far()

    # Restarted, it finishes the rest and fires nothing twice.
    with running_daemon(env, tmp_path / "restarted.log", *args) as daemon:
        wait_for(lambda: due_progress(service, CATCH_UP_AT)[1] == 0, "every due step", timeout=60,
                 daemon=daemon)
        assert daemon.stop() == 0, daemon.log()
    due = assert_every_due_step_handled_once(service, CATCH_UP_AT, item_ids)
    assert len(due) == total


# -- several tickers on one PostgreSQL database ----------------------------------------------

@pytest.mark.parametrize("db_kind", ["postgres"], indirect=True)
def test_two_tickers_share_the_due_steps_of_postgresql(office, settings):
    item_ids = create_items(office.service, 330)
    _, total = due_progress(office.service, CATCH_UP_AT)
    assert total == 330 * 6
    start = threading.Barrier(2)
    handled_by: dict[str, list[dict[str, Any]]] = {}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        service = build_service(settings, FixedClock(CATCH_UP_AT))
        steps: list[dict[str, Any]] = []
        try:
            start.wait(timeout=30)
            while True:  # a short batch may only mean the other ticker holds the rest
                report: TickReport = service.tick(batch_size=25)
                steps.extend(report.steps)
                if report.handled == 0:
                    break
        except BaseException as err:  # collected and reported by the test thread
            errors.append(err)
        finally:
            handled_by[name] = steps
            service.close()

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []

    ids = {name: Counter(step["timer_id"] for step in steps) for name, steps in handled_by.items()}
    assert ids["a"] and ids["b"], "one ticker did all the work"
    assert max((ids["a"] + ids["b"]).values()) == 1
    assert not set(ids["a"]) & set(ids["b"])
    due = assert_every_due_step_handled_once(office.service, CATCH_UP_AT, item_ids)
    assert set(ids["a"]) | set(ids["b"]) == {t["id"] for t in due}


# -- a monthly step missed before the item was planned again ----------------------------------

@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("deadline", "meanwhile", "tick_at"), [
    # The handler reports progress ten seconds after the step fell due, before the next tick.
    ("2026-12-20 18:00", "2026-11-25 09:00:10", "2026-11-25 09:00:30"),
    # The daemon was down for two days; catching up, the yellow warning (due 11-20) fires in an
    # earlier batch and its warn event plans the item again.
    ("2026-11-20 18:00", None, "2026-11-26 10:00"),
], ids=["user_event", "catch_up"])
def test_a_due_monthly_step_fires_even_if_the_item_was_planned_again(office, deadline,
                                                                    meanwhile, tick_at):
    service = office.service
    item_id = office.item(deadline=deadline)
    office.fire("wang", item_id, "sign")
    if meanwhile:
        office.clock.set(local(meanwhile))
        office.fire("wang", item_id, "progress", note="进展顺利")
    office.clock.set(local(tick_at))
    service.tick(batch_size=1)
    status = {t["step"]: t["status"] for t in service.timers(ADMIN, item_id)}
    assert status["progress_report:2026-11"] == TimerStatus.fired, status
    assert "progress_request" in [n["kind"] for n in service.notices(ADMIN, item_id)]


# -- the log: the office's time zone, levels, a file; databases that cannot be reached -------

LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}) (调试|信息|警告|错误) "
                      r"[\w.]+: \S")


def log_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
@pytest.mark.parametrize("level", ["debug", "warning"])
def test_the_log_goes_to_its_file_in_the_office_time_zone_at_the_level_asked(
        office, settings, tmp_path, level):
    item_id = office.item(deadline="2026-11-03 18:00")
    now = "2026-11-04 10:00"
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "broken.py").write_text("WORKFLOW = (\n", encoding="utf-8")
    env = {**cli_env(settings, tmp_path, now), "DUBAN_TIMEZONE": "Asia/Kolkata",
           "DUBAN_WORKFLOWS_DIR": str(flows)}
    log_file = tmp_path / "daemon.log"
    log_file.write_text("an earlier line\n", encoding="utf-8")
    with running_daemon(env, tmp_path / "console.txt", "--interval", "3600", "--log-file",
                        str(log_file), "--log-level", level.upper()) as daemon:
        # (the daemon reads --now in its own zone: the steps are compared by their status)
        wait_for(lambda: {t["step"]: t["status"] for t in office.service.timers(ADMIN, item_id)}
                 ["urge"] == TimerStatus.fired, "the first tick", daemon=daemon)
        wait_for(lambda: "duban.workflows" in log_file.read_text(encoding="utf-8"),
                 "the warning about the broken file", daemon=daemon)
        assert daemon.stop() == 0, daemon.log()
    assert daemon.log() == ""  # everything went to the log file
    first, *lines = log_lines(log_file)
    assert first == "an earlier line"  # appended to, not overwritten
    stamps = []
    for line in lines:
        matched = LOG_LINE.match(line)
        assert matched, line
        stamps.append(datetime.strptime(matched.group(1), "%Y-%m-%d %H:%M:%S %z"))
    assert {stamp.utcoffset() for stamp in stamps} == {timedelta(hours=5, minutes=30)}
    assert abs(stamps[-1] - datetime.now(UTC)) < timedelta(minutes=5)
    assert any(line.endswith(f"警告 duban.workflows: 工作流文件 {flows / 'broken.py'} 第 1 行: "
                             "语法错误: '(' was never closed; 已跳过该文件, 其余工作流照常使用")
               for line in lines), lines
    said = "\n".join(lines)
    if level == "debug":
        assert " 调试 " in said
        assert "信息 duban.daemon: 收到信号 SIGTERM, 处理完当前一批后退出" in said
        database = settings.db_url.removeprefix("sqlite:///")
        assert f"信息 duban.daemon: duban daemon 启动: 数据库 {database}, 每 3600 秒" in said
        assert "信息 duban.daemon: duban daemon 已停止" in said
    else:
        assert not [line for line in lines if " 信息 " in line or " 调试 " in line]
    assert "Traceback" not in said


def start_refused(url: str, tmp_path: Path, *args: str) -> str:
    """``duban daemon`` against ``url``: it must stop at once with one line on stderr."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("DUBAN_")}
    env.update(DUBAN_DB=url, DUBAN_AUDIT_KEY=str(tmp_path / "audit.key"),
               DUBAN_CONFIG=str(tmp_path / "absent.toml"))
    done = subprocess.run([DUBAN, "daemon", "--interval", "1", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 7, done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    return line


def test_a_postgresql_server_that_is_down_stops_the_start_in_one_line(tmp_path):
    port = free_port()  # nothing listens there
    log_file = tmp_path / "daemon.log"
    line = start_refused(f"postgresql://duban:s3cret@127.0.0.1:{port}/duban", tmp_path,
                         "--log-file", str(log_file))
    said = (f"无法连接数据库 postgresql://duban@127.0.0.1:{port}/duban: "
            "连接被拒绝(数据库服务器未运行, 或地址、端口不对)")
    assert line == f"错误: {said}"
    [logged] = log_lines(log_file)
    assert LOG_LINE.match(logged) and logged.endswith(f"错误 duban.daemon: 未能启动: {said}")
    assert "s3cret" not in line + logged


@pytest.fixture
def password_user(pg_admin_url):
    """A login that must give its password (``right``): the test server trusts everyone
    else, so a line for this user goes first in its pg_hba.conf for the test's length."""
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        hba = Path(conn.execute(text("SHOW hba_file")).scalar_one())
        conn.execute(text("DROP ROLE IF EXISTS duban_pw"))
        conn.execute(text("CREATE ROLE duban_pw LOGIN PASSWORD 'right'"))
    if not hba.parent.parent.name.startswith("duban-pg-") or not os.access(hba, os.W_OK):
        admin.dispose()  # a server of one's own (DUBAN_TEST_PG) keeps its pg_hba.conf
        pytest.skip("pg_hba.conf is changed only on the throwaway server the tests start")
    original = hba.read_text()
    hba.write_text("host all duban_pw 127.0.0.1/32 scram-sha-256\n" + original)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_reload_conf()"))
        yield "duban_pw"
    finally:
        hba.write_text(original)
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_reload_conf()"))
            conn.execute(text("DROP ROLE IF EXISTS duban_pw"))
        admin.dispose()


@pytest.mark.parametrize("case", ["unknown_database", "unknown_user", "wrong_password"])
def test_a_postgresql_database_that_refuses_us_stops_the_start_in_one_line(
        case, pg_admin_url, tmp_path, request):
    server = make_url(pg_admin_url)
    place = f"{server.host}:{server.port}"
    user, password, database, reason = {
        "unknown_database": ("postgres", None, "no_such_db", "数据库 no_such_db 不存在"),
        "unknown_user": ("nobody_here", None, "postgres", "用户 nobody_here 不存在"),
        "wrong_password": (None, "wrong-guess", "postgres", "用户 duban_pw 的密码不对"),
    }[case]
    if user is None:
        user = request.getfixturevalue("password_user")
    secret = f":{password}" if password else ""
    line = start_refused(f"postgresql://{user}{secret}@{place}/{database}", tmp_path)
    assert line == f"错误: 无法连接数据库 postgresql://{user}@{place}/{database}: {reason}"


class Proxy:
    """A loopback TCP relay in front of the PostgreSQL server: stopping it is the server going
    away for the daemon (its connections cut, new ones refused); starting it again on the
    same port brings the server back."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        if self._listener is None:
            return
        with contextlib.suppress(OSError):  # wakes the accepting thread: close alone does not
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._listener = None
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self._open += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.mark.parametrize("db_kind", ["postgres"], indirect=True)
def test_a_tick_that_cannot_reach_postgresql_says_so_in_one_line_and_is_tried_again(
        office, settings, tmp_path):
    service = office.service
    now = "2026-11-04 10:00"
    first_item = office.item(deadline="2026-11-03 18:00")
    url = make_url(settings.db_url)
    proxy = Proxy(url.port)
    proxy.start()
    proxied = url.set(port=proxy.port).render_as_string(hide_password=False)
    env = {**cli_env(settings, tmp_path, now), "DUBAN_DB": proxied}
    log_file = tmp_path / "daemon.log"
    said = f"无法连接数据库 postgresql://{url.username}@127.0.0.1:{proxy.port}/{url.database}: "

    def failed_ticks() -> list[str]:
        return [line for line in log_lines(log_file) if "本次未能处理" in line]

    with running_daemon(env, tmp_path / "console.txt", "--interval", "1", "--log-file",
                        str(log_file)) as daemon:
        try:
            wait_for(lambda: due_progress(service, local(now)) == (4, 0), "the first tick",
                     daemon=daemon)
            proxy.stop()
            wait_for(lambda: len(failed_ticks()) >= 3, "three failed ticks", daemon=daemon)
            second_item = office.item(deadline="2026-11-03 18:00")  # due while it is away
            proxy.start()
            wait_for(lambda: due_progress(service, local(now)) == (8, 0),
                     "the steps due meanwhile", daemon=daemon)
            assert daemon.stop() == 0, daemon.log()
        finally:
            proxy.stop()
    for line in failed_ticks():
        assert LOG_LINE.match(line), line
        reason = line.split(said, 1)[1]
        assert reason in ("连接被拒绝(数据库服务器未运行, 或地址、端口不对); 1 秒后重试",
                          "与数据库服务器的连接中断; 1 秒后重试"), line
    assert "Traceback" not in log_file.read_text(encoding="utf-8")
    assert daemon.log() == ""
    for item_id in (first_item, second_item):
        assert {t["step"]: t["status"] for t in service.timers(ADMIN, item_id)}["urge"] == (
            TimerStatus.fired)
