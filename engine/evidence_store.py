"""The evidence store: files kept by their SHA-256 under one folder, never changed, never
deleted.

A file arrives in ``.incoming/`` under a temporary name while it is hashed, measured and its
type judged; it is synced there and renamed to ``ab/cd/<sha256>`` only when the event that
cites it is about to commit (:meth:`Incoming.keep`). A crash before that leaves only a
temporary file, which no record names and a later upload clears; a rename whose transaction
then fails leaves a stored file nobody cites, which is harmless. The same content attached
twice is stored once. Stored files are read-only; what proves them is the audit chain, whose
events carry each file's hash.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from duban.engine.errors import InvalidInput, SetupError
from duban.engine.filetypes import ACCEPTED, FileType, judge
from duban.engine.permissions import make_private_dir

CHUNK = 1 << 20
STALE_INCOMING_SECONDS = 24 * 3600
MAX_NAME = 200


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    max_files: int


@dataclass(frozen=True)
class StoredFile:
    """One file as the record cites it."""

    sha256: str
    size: int
    type: FileType
    name: str  # the name it was given, for people; never used as a path

    def as_payload(self) -> dict[str, object]:
        return {"sha256": self.sha256, "size": self.size, "type": self.type.media_type,
                "name": self.name}


class Incoming:
    """Files received for one event, not yet in the store."""

    def __init__(self, store: FileStore, files: list[tuple[StoredFile, Path]]) -> None:
        self._store, self._files = store, files
        self.files = [stored for stored, _ in files]

    def keep(self) -> None:
        """Move every file to its place in the store (just before the event commits)."""
        for stored, temporary in self._files:
            self._store.place(temporary, stored.sha256)
        self._files = []  # placed: nothing left to discard

    def discard(self) -> None:
        """Remove the temporary files not placed (the event was refused or failed)."""
        for _, temporary in self._files:
            temporary.unlink(missing_ok=True)
        self._files = []


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, sha256: str) -> Path:
        return Path(os.path.join(self.root, sha256[:2], sha256[2:4], sha256))

    def receive(self, files: Iterable[tuple[str, BinaryIO]], limits: Limits) -> Incoming:
        """Take in files for one event: all of them, or none and a one-line refusal that
        names the file and the reason."""
        files = list(files)
        if len(files) > limits.max_files:
            raise InvalidInput(f"一次最多附 {limits.max_files} 个文件, 收到 {len(files)} 个")
        incoming = self._incoming_dir()
        received: list[tuple[StoredFile, Path]] = []
        try:
            for name, source in files:
                stored, temporary = self._receive_one(incoming, _clean_name(name), source,
                                                      limits)
                if any(stored.sha256 == kept.sha256 for kept, _ in received):
                    temporary.unlink()  # the same file twice in one event: cited once
                    continue
                received.append((stored, temporary))
        except BaseException:
            Incoming(self, received).discard()
            raise
        return Incoming(self, received)

    def place(self, temporary: Path, sha256: str) -> None:
        target = self.path_of(sha256)
        if target.exists():
            temporary.unlink(missing_ok=True)
            return
        make_private_dir(target.parent)
        os.replace(temporary, target)
        sync_dir(target.parent)

    def check(self, sha256: str, size: int) -> str | None:
        """What is wrong with a stored file, or None when it is there with its hash."""
        path = self.path_of(sha256)
        try:
            found_size, digest = _hash_file(path)
        except FileNotFoundError:
            return "文件缺失"
        except OSError as err:
            return f"文件无法读取: {err.strerror}"
        if digest != sha256:
            return f"内容已被改动(现哈希 {digest[:16]}…)"
        if found_size != size:
            return f"大小不符: 记录 {size} 字节, 现为 {found_size} 字节"
        return None

    def open(self, sha256: str) -> BinaryIO:
        try:
            return self.path_of(sha256).open("rb")
        except FileNotFoundError:
            raise SetupError(f"佐证材料文件缺失: {sha256[:16]}… (请运行 duban audit verify "
                             "--files)") from None

    def _incoming_dir(self) -> Path:
        incoming = self.root / ".incoming"
        try:
            make_private_dir(incoming)
        except OSError as err:
            raise SetupError(f"无法使用佐证材料目录 {self.root}: {err.strerror}") from None
        _clear_stale(incoming)
        return incoming

    def _receive_one(self, incoming: Path, name: str, source: BinaryIO,
                     limits: Limits) -> tuple[StoredFile, Path]:
        handle = tempfile.NamedTemporaryFile(dir=incoming, prefix="in-", delete=False)
        temporary = Path(handle.name)
        try:
            with handle:
                digest, size = hashlib.sha256(), 0
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if size > limits.max_file_bytes:
                        raise InvalidInput(f"文件 {name} 超过大小上限 "
                                           f"{_size_text(limits.max_file_bytes)}")
                    digest.update(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            if size == 0:
                raise InvalidInput(f"文件 {name} 是空文件")
            kind = judge(temporary)
            if kind is None:
                raise InvalidInput(f"文件 {name} 的类型不受支持(按内容判断); 可附: {ACCEPTED}")
            os.chmod(temporary, 0o440)
            return StoredFile(digest.hexdigest(), size, kind, name), temporary
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


def _clean_name(name: str) -> str:
    """The last part of the name as given, printable, bounded: shown, never opened."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip() or "未命名文件"
    return base[:MAX_NAME]


def _hash_file(path: Path) -> tuple[int, str]:
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256")  # its own buffer, no Python loop
        return handle.tell(), digest.hexdigest()


def sync_dir(folder: Path) -> None:
    """Make a new or renamed entry of ``folder`` durable (its directory entry, not the file)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _clear_stale(incoming: Path) -> None:
    """Temporary files of uploads that never finished (a process killed halfway)."""
    cutoff = time.time() - STALE_INCOMING_SECONDS
    for leftover in incoming.glob("in-*"):
        try:
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
        except OSError:
            pass


def _size_text(size: int) -> str:
    return f"{size / (1 << 20):g} MB" if size >= 1 << 20 else f"{size / 1024:g} KB"
