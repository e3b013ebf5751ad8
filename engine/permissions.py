"""Files duban creates are never readable by everyone on the machine.

The database, the outbox and the audit key hold the office's business. What duban creates
gets the group's access the process's umask allows (several operating-system users of one
deployment share a group, docs/DEPLOYMENT.md) and never any for others.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

_lock = threading.Lock()


def _umask() -> int:
    with _lock:  # reading the umask means setting it: keep that window closed to threads
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def private_mode(mode: int) -> int:
    """``mode`` as the umask allows it, without any bit for others."""
    return mode & ~_umask() & ~0o007


def make_private_dir(path: Path) -> None:
    """Create a folder (and its parents) that others cannot enter."""
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True, mode=private_mode(0o770))
    os.chmod(path, private_mode(0o770))  # mkdir's mode is cut by the umask only


def create_private_file(path: Path) -> None:
    """Create an empty file others cannot read, unless it exists already."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, private_mode(0o660))
    except FileExistsError:
        return
    os.close(descriptor)


def readable_by_others(path: Path) -> bool:
    return bool(path.stat().st_mode & 0o004)
