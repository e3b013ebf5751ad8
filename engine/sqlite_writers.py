"""The queue of writers of one SQLite file: threads of a process, and the processes beside it
(the daemon, ``duban serve`` and its workers, a command run by hand).

SQLite lets one writer in at a time and makes the others wait in its busy handler, which
sleeps in growing steps of up to 100 ms: under a few dozen concurrent writes, a queue of 1 ms
transactions becomes a tail of hundreds of milliseconds. Here threads wait on a lock that hands
over the moment the writer before them commits, and processes on an advisory lock of a file
beside the database, which the kernel hands over just as fast. SQLite's own lock still guards
the data: this only decides who asks for it next.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

from duban.engine.errors import Conflict
from duban.engine.permissions import private_mode

try:
    import fcntl
except ImportError:  # not a POSIX system: the threads' lock and SQLite's own waiting remain
    fcntl = None  # type: ignore[assignment]


class SqliteWriters:
    """A context manager around each write transaction of one SQLite database."""

    def __init__(self, database: str | None, timeout: float) -> None:
        self._threads = threading.RLock()
        self._depth = 0  # a write inside a write (same thread) takes nothing more
        self._timeout = timeout
        self._path = (Path(f"{database}-writer")
                      if database and database != ":memory:" and fcntl is not None else None)
        self._held: int | None = None  # the descriptor holding the processes' lock

    def __enter__(self) -> None:
        if not self._threads.acquire(timeout=self._timeout):
            raise _busy()
        self._depth += 1
        if self._depth > 1:
            return
        try:
            self._held = self._lock_file()
        except BaseException:
            self._depth -= 1
            self._threads.release()
            raise

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and self._held is not None:
                os.close(self._held)  # closing the descriptor lets the next process in
                self._held = None
        finally:
            self._threads.release()

    def _lock_file(self) -> int | None:
        """The processes' lock, on a descriptor of its own (a lock belongs to the open file,
        so a wait abandoned below can never release a later holder's lock)."""
        if self._path is None:
            return None
        try:
            descriptor = os.open(self._path, os.O_RDWR | os.O_CREAT, private_mode(0o660))
        except OSError:  # a folder we may read but not write: SQLite decides alone
            self._path = None
            return None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return descriptor
        except BlockingIOError:
            return self._wait(descriptor)

    def _wait(self, descriptor: int) -> int:
        """Wait in the kernel, which wakes the waiter the moment the holder lets go, for at
        most the timeout; an abandoned wait closes its descriptor when it gets the lock."""
        taken, guard = threading.Event(), threading.Lock()
        abandoned = False

        def wait() -> None:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            with guard:
                if abandoned:
                    os.close(descriptor)
                else:
                    taken.set()

        threading.Thread(target=wait, name="duban-sqlite-writer", daemon=True).start()
        if taken.wait(self._timeout):
            return descriptor
        with guard:
            if taken.is_set():
                return descriptor
            abandoned = True
        raise _busy()


def _busy() -> Conflict:
    return Conflict("数据库正忙: 另一个写入长时间未结束, 本次未作任何改动, 请稍后重试")
