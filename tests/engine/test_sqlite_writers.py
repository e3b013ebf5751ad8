"""The queue of SQLite writers across processes: a writer waits for another process's write,
gives up with a clear refusal when that write never ends, and a wait it gave up never
disturbs the writers after it."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from duban.engine.errors import Conflict
from duban.engine.sqlite_writers import SqliteWriters

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX advisory locks")

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("held", flush=True)
except BlockingIOError:
    print("busy", flush=True)
    raise SystemExit(0)
sys.stdin.read()  # holds the lock until the test closes our stdin
"""


class Holder:
    """Another process that takes the writers' lock and keeps it until released."""

    def __init__(self, lock: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.answer = self.process.stdout.readline().strip()

    def release(self) -> None:
        self.process.communicate(timeout=30)  # closes its stdin, waits for it to end


def answer_of(lock: Path) -> str:
    """What a new process finds: the lock held by someone, or free for it."""
    holder = Holder(lock)
    holder.release()
    return holder.answer


def test_a_write_waits_for_another_process_and_then_goes_in(tmp_path):
    database = tmp_path / "duban.db"
    holder = Holder(Path(f"{database}-writer"))
    assert holder.answer == "held"
    writers = SqliteWriters(str(database), timeout=60)
    entered = threading.Event()

    def write() -> None:
        with writers:
            entered.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert not entered.wait(0.3)  # still held by the other process
    holder.release()
    writer.join(timeout=30)
    assert entered.is_set()


def test_a_write_that_cannot_get_in_is_refused_and_leaves_no_trace(tmp_path):
    database = tmp_path / "duban.db"
    lock = Path(f"{database}-writer")
    holder = Holder(lock)
    writers = SqliteWriters(str(database), timeout=0.2)
    with pytest.raises(Conflict, match="数据库正忙"):
        with writers:
            pytest.fail("entered while another process held the lock")
    holder.release()
    with writers:  # the abandoned wait neither blocks this one nor shares its lock
        assert answer_of(lock) == "busy"
    assert answer_of(lock) == "held"


def test_a_write_inside_a_write_of_the_same_thread_takes_nothing_more(tmp_path):
    writers = SqliteWriters(str(tmp_path / "duban.db"), timeout=0.2)
    with writers, writers:
        pass
    with writers:
        pass
