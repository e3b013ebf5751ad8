"""``duban daemon``: APScheduler runs a tick at start and every interval after; each tick is
followed by delivering the notices that are due.

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
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from duban.engine.errors import SetupError
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
    from apscheduler.schedulers.blocking import BlockingScheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per tick is noise
    lock = lock_sqlite(service)
    stop = threading.Event()
    scheduler = BlockingScheduler(timezone=UTC)
    board_folder = configured_board(service)
    built: dict[str, str | None] = {}

    def one_tick() -> None:
        report = service.tick(batch_size=batch_size, should_stop=stop.is_set, keep_steps=False)
        if report.handled:
            log.info("触发 %d 步, 跳过 %d, 取消 %d, 失败 %d", report.fired, report.skipped,
                     report.cancelled, report.failed)
        if send:  # what the tick wrote goes out at once, and earlier failures are retried
            sent = deliver(service, should_stop=stop.is_set, keep_outcomes=False)
            if sent.sent or sent.failed or sent.dead:
                log.info("通知送达 %d, 失败待重试 %d, 无法送达 %d", sent.sent, sent.failed,
                         sent.dead)

        if board_folder is not None:
            built["key"] = refresh_board(service, board_folder, built.get("key"))

    def on_signal(signum, _frame) -> None:
        log.info("收到信号 %s, 处理完当前一批后退出", signum)
        stop.set()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler.add_job(one_tick, "interval", seconds=interval, next_run_time=datetime.now(UTC),
                      max_instances=1, coalesce=True, misfire_grace_time=None)
    log.info("duban daemon 启动: 每 %s 秒处理一次, 每批 %d 步", interval, batch_size)
    try:
        scheduler.start()
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
