"""``duban daemon``: APScheduler runs a tick at start and every interval after; each tick is
followed by delivering the notices that are due, by keeping the public board current and, once
a local day, by anchoring the audit record's head outside the database.

Only the periodic tick is APScheduler's; the steps themselves are rows of our own timer table
(APScheduler 3 drops one-time jobs missed while the process was down, and its job stores are
not meant to be shared). On SQLite one daemon per database file holds a lock file; a second
one refuses to start. On PostgreSQL several daemons share the work.

The log is one line per thing that happened, stamped in the office's time zone with its
offset. A database that cannot be reached is said in one line: at start the daemon exits
(the service manager starts it again), later a tick that fails is tried again at the next
interval.
"""

from __future__ import annotations

import fcntl
import logging
import logging.handlers
import os
import re
import signal
import sys
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from duban.engine import schema
from duban.engine.anchor import (
    BOARD_FILE,
    Anchor,
    AnchorPlaces,
    board_built,
    places_from,
    publish_on_board,
)
from duban.engine.errors import DubanError, InvalidInput, SetupError, from_database_error
from duban.engine.service import Service
from duban.engine.userfiles import reason
from duban.notifiers.sender import deliver

log = logging.getLogger("duban.daemon")
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
              "error": logging.ERROR}
LEVEL_WORDS = {logging.DEBUG: "调试", logging.INFO: "信息", logging.WARNING: "警告",
               logging.ERROR: "错误", logging.CRITICAL: "严重"}
# What the PostgreSQL client library says when it cannot reach or enter the database, in the
# words an administrator acts on. Checked in order; the server's own English messages.
CONNECTION_REASONS = (
    (r"Connection refused", "连接被拒绝(数据库服务器未运行, 或地址、端口不对)"),
    (r'password authentication failed for user "([^"]*)"', "用户 {0} 的密码不对"),
    (r"no password supplied", "服务器要求密码, 但没有提供"),
    (r'database "([^"]*)" does not exist', "数据库 {0} 不存在"),
    (r'role "([^"]*)" does not exist', "用户 {0} 不存在"),
    (r"no pg_hba\.conf entry", "服务器不允许以该用户从本机连接(见服务器的 pg_hba.conf)"),
    (r"resolve host|translate host name|Name or service not known|nodename nor servname",
     "主机名无法解析"),
    (r"timeout expired|timed out", "连接超时"),
    (r"No route to host|Network is unreachable", "网络不通, 无法到达数据库服务器"),
    (r"the database system is (starting up|shutting down|in recovery mode)",
     "数据库服务器正在启动或关闭"),
    (r"too many clients|remaining connection slots", "数据库服务器的连接数已满"),
    (r"server closed the connection|terminating connection|connection is (closed|lost)|"
     r"consuming input failed|SSL SYSCALL error", "与数据库服务器的连接中断"),
)


class LocalTimeFormatter(logging.Formatter):
    """``2026-12-03 09:30:00 +0800 信息 duban.daemon: …``: the office's time and its offset,
    the level in words. A defect's traceback (logged by APScheduler) follows its line."""

    def __init__(self, tz: ZoneInfo) -> None:
        super().__init__()
        self.tz = tz

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, self.tz).strftime("%Y-%m-%d %H:%M:%S %z")

    def format(self, record: logging.LogRecord) -> str:
        level = LEVEL_WORDS.get(record.levelno, record.levelname)
        line = f"{self.formatTime(record)} {level} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str, log_file: Path | None, tz: ZoneInfo) -> logging.Handler:
    """Send every logger's lines at ``level`` or above to ``log_file`` (appended to; a file
    moved away by logrotate is opened again) or to stderr."""
    if log_file is None:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
    else:
        try:
            handler = logging.handlers.WatchedFileHandler(log_file, mode="a", encoding="utf-8")
        except OSError as err:
            raise InvalidInput(f"无法打开日志文件 {log_file}: {reason(err)}") from None
    handler.setFormatter(LocalTimeFormatter(tz))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LOG_LEVELS[level])
    # APScheduler's line per run is noise, except when debugging
    logging.getLogger("apscheduler").setLevel(
        logging.DEBUG if LOG_LEVELS[level] == logging.DEBUG else logging.WARNING)
    return handler


def shown_database(url: str) -> str:
    """The database as an administrator names it, never with its password:
    ``postgresql://duban@dbhost/duban``, or the SQLite file."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or url
    user = f"{parsed.username}@" if parsed.username else ""
    port = f":{parsed.port}" if parsed.port else ""
    return (f"{parsed.get_backend_name()}://{user}{parsed.host or ''}{port}"
            f"/{parsed.database or ''}")


def database_failure(err: Exception, url: str) -> DubanError | None:
    """What a failure means in one line: a database that cannot be reached or entered is named
    (without its password) with the reason; None for a defect."""
    if isinstance(err, DubanError):
        return err
    from sqlalchemy.exc import DBAPIError

    if isinstance(err, DBAPIError) and not url.startswith("sqlite"):
        text = str(err.orig)
        for pattern, words in CONNECTION_REASONS:
            found = re.search(pattern, text)
            if found:
                return SetupError(f"无法连接数据库 {shown_database(url)}: "
                                  f"{words.format(*found.groups())}")
        if text.startswith("connection failed"):
            detail = text.splitlines()[0].rsplit("failed:", 1)[-1].strip()
            return SetupError(f"无法连接数据库 {shown_database(url)}: {detail}")
    return from_database_error(err)


def check_database(service: Service) -> None:
    """Open the database once before the first tick, so that one that cannot be used stops
    the start with its reason."""
    try:
        with service.db.read() as conn:
            schema.require_current(conn)
    except Exception as err:
        failure = database_failure(err, service.settings.db_url)
        if failure is None:
            raise
        raise failure from None


def lock_sqlite(service: Service) -> IO[str] | None:
    """Hold an exclusive lock beside the SQLite file for the daemon's life."""
    if not service.db.is_sqlite:
        return None
    database = service.db.engine.url.database
    path = Path(f"{database}.daemon.lock")
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise SetupError(f"另一个 duban daemon(进程 {holder})正在处理 {database}: "
                         "SQLite 库只能运行一个") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def run_daemon(service: Service, *, interval: float = 30, batch_size: int = 200,
               send: bool = True, log_level: str = "info",
               log_file: Path | None = None) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    configure_logging(log_level, log_file, service.tz)
    lock = None
    try:
        lock = lock_sqlite(service)
        check_database(service)
        board_folder = configured_board(service)
    except DubanError as err:
        if lock is not None:
            lock.close()
        if log_file is not None:  # on stderr the command line says it
            log.error("未能启动: %s", err.message)
        raise
    stop = threading.Event()
    scheduler = BackgroundScheduler(timezone=UTC)
    built: dict[str, str | None] = {}
    anchoring = DailyAnchor(service, places_from(service.settings))

    def one_tick() -> None:
        try:
            tick_and_send()
        except Exception as err:  # said in one line each tick, and tried again at the next
            failure = database_failure(err, service.settings.db_url)
            if failure is None:
                raise  # a defect: APScheduler logs it whole
            log.error("本次未能处理: %s; %g 秒后重试", failure.message, interval)

    def tick_and_send() -> None:
        # the documents are made by the sender below, before it delivers
        report = service.tick(batch_size=batch_size, should_stop=stop.is_set, keep_steps=False,
                              documents=not send)
        if report.handled:
            log.info("触发 %d 步, 跳过 %d, 取消 %d, 失败 %d", report.fired, report.skipped,
                     report.cancelled, report.failed)
        if send:  # what the tick wrote goes out at once, and earlier failures are retried
            sent = deliver(service, should_stop=stop.is_set, keep_outcomes=False)
            if sent.sent or sent.failed or sent.dead:
                log.info("通知送达 %d, 失败待重试 %d, 无法送达 %d", sent.sent, sent.failed,
                         sent.dead)
            if sent.repeats_possible:
                log.warning("%d 件通知上次发送中断后重发, 对方可能收到两次",
                            sent.repeats_possible)

        if board_folder is not None:
            built["key"] = refresh_board(service, board_folder, built.get("key"))
        anchoring.run()

    def on_signal(signum, _frame) -> None:
        # Only the flag: stopping the scheduler from inside a signal handler can wait on a
        # lock the interrupted main thread holds. The main thread stops it below.
        log.info("收到信号 %s, 处理完当前一批后退出", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler.add_job(one_tick, "interval", seconds=interval, next_run_time=datetime.now(UTC),
                      max_instances=1, coalesce=True, misfire_grace_time=None)
    log.info("duban daemon 启动: 数据库 %s, 每 %g 秒处理一次, 每批 %d 步",
             shown_database(service.settings.db_url), interval, batch_size)
    try:
        scheduler.start()
        while not stop.wait(1):  # a signal may come at any moment, even before the start
            pass
        scheduler.shutdown(wait=True)  # the batch under way finishes; it checks ``stop``
    finally:
        if lock is not None:
            lock.close()
        log.info("duban daemon 已停止")


def configured_board(service: Service) -> Path | None:
    """``[board] folder``: where the daemon keeps the public board current, if anywhere."""
    table = dict(service.settings.tables.get("board", {}))
    unknown = sorted(set(table) - {"folder"})
    if unknown:
        raise SetupError(f"配置 [board] 含未知设置项: {', '.join(unknown)}")
    folder = table.get("folder")
    if folder is not None and (not isinstance(folder, str) or not folder.strip()):
        raise SetupError("配置 [board] folder 应为目录路径")
    return Path(folder).expanduser() if folder else None


def refresh_board(service: Service, folder: Path, last_key: str | None) -> str | None:
    """Rebuild the board when what it shows has changed; a failure is logged, not fatal."""
    from duban.engine.errors import DubanError
    from duban.notifiers.board_site import content_key, write_site
    from duban.notifiers.config import notice_config

    try:
        board = service.board()
        key = content_key(board)
        if key != last_key or not (folder / "feed.json").exists():
            counts = write_site(folder, board, office=notice_config(service.settings).office.name,
                                tz=service.tz, open_file=service.evidence_store.open)
            log.info("公开页面已更新: %d 个事项", counts["items"])
        return key
    except DubanError as err:
        log.error("公开页面未能更新: %s", err.message)
        return last_key


class DailyAnchor:
    """Anchors the audit head once per local day, after a round, when a place is configured.

    The day of the last anchor is read from the record (the newest ``audit_anchored`` event
    sent to the same places), so a restarted daemon does not anchor twice in one day; a
    manual ``duban audit anchor --to`` elsewhere does not count. A board rebuilt since the
    anchor lost its ``anchor.json``: it is put back from the newest anchor.
    """

    def __init__(self, service: Service, places: AnchorPlaces) -> None:
        self.service = service
        self.places = places
        self.anchored_on: date | None = None
        self.latest: Anchor | None = None
        self._read_record = False

    def run(self) -> bool:
        """Anchor if none was written today; True when this call wrote one. A failure is
        logged and tried again next round, never fatal."""
        if self.places.empty:
            return False
        try:
            if not self._read_record:
                self.latest = self.service.last_anchor(self.places)
                if self.latest is not None:
                    self.anchored_on = self._day(self.latest.instant)
                self._read_record = True
            today = self._day(self.service.clock.now())
            if self.anchored_on == today:
                self._restore_board()
                return False
            done = self.service.anchor_audit()
        except DubanError as err:
            log.error("审计链头未能锚定: %s", err.message)
            return False
        self.latest, self.anchored_on = done.anchor, today
        log.info("审计链头已锚定: 序号 %d", done.anchor.seq)
        return True

    def _restore_board(self) -> None:
        board = self.places.board
        if (board is not None and self.latest is not None and board_built(board)
                and not (board / BOARD_FILE).exists()):
            publish_on_board(board, self.latest)

    def _day(self, moment: datetime) -> date:
        return moment.astimezone(self.service.tz).date()
