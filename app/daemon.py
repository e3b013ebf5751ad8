"""``duban daemon``: APScheduler runs a tick at start and every interval after; each tick is
followed by delivering the notices that are due, by keeping the public board current and, once
a local day, by anchoring the audit record's head outside the database.

Only the periodic tick is APScheduler's; the steps themselves are rows of our own timer table
(APScheduler 3 drops one-time jobs missed while the process was down, and its job stores are
not meant to be shared). On SQLite one daemon per database file holds a lock file; a second
one refuses to start. On PostgreSQL several daemons share the work.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO

from duban.engine.anchor import (
    BOARD_FILE,
    Anchor,
    AnchorPlaces,
    board_built,
    places_from,
    publish_on_board,
)
from duban.engine.errors import DubanError, SetupError, from_database_error
from duban.engine.service import Service
from duban.notifiers.sender import deliver

log = logging.getLogger("duban.daemon")


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
               send: bool = True) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per tick is noise
    lock = lock_sqlite(service)
    stop = threading.Event()
    scheduler = BackgroundScheduler(timezone=UTC)
    board_folder = configured_board(service)
    built: dict[str, str | None] = {}
    anchoring = DailyAnchor(service, places_from(service.settings))

    def one_tick() -> None:
        try:
            tick_and_send()
        except Exception as err:  # said in one line each tick, and tried again at the next
            failure = err if isinstance(err, DubanError) else from_database_error(err)
            if failure is None:
                raise  # a defect: APScheduler logs it whole
            log.error("本次未能处理: %s", failure.message)

    def tick_and_send() -> None:
        report = service.tick(batch_size=batch_size, should_stop=stop.is_set, keep_steps=False)
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
    log.info("duban daemon 启动: 每 %s 秒处理一次, 每批 %d 步", interval, batch_size)
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
