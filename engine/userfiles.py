"""Files a user names: read within a size, written whole or not at all.

Every path typed by a user goes through here, so each way a path can be wrong (a NUL byte,
undecodable characters, a folder, a missing folder, no permission, a full disk) is answered in
one Chinese line (``InvalidInput``, exit 2) instead of a traceback.

Writing goes to a hidden temporary file beside the target and is renamed into place only when
complete (``os.replace``): a failed export leaves the old file, or nothing, never half a file.
A target that exists and is not a regular file (``/dev/stdout``, a pipe, ``/dev/full``) is
written straight: a user who names a device means it, and there is no half file to leave.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from duban.engine.errors import InvalidInput

MEGABYTE = 1024 * 1024

# What the operating system's reasons mean to a user; others are shown as the system says.
REASONS = {
    errno.ENOSPC: "磁盘空间不足",
    errno.EDQUOT: "超出磁盘配额",
    errno.EACCES: "没有权限",
    errno.EPERM: "没有权限",
    errno.EROFS: "只读文件系统",
    errno.ENOENT: "不存在",
    errno.ENOTDIR: "路径中有一段不是文件夹",
    errno.EISDIR: "是目录而不是文件",
    errno.ENAMETOOLONG: "路径太长",
    errno.ELOOP: "符号链接层数过多",
    errno.EIO: "读写错误",
}


def shown(path: Path | str) -> str:
    """The path as it can be printed: undecodable characters as escapes, never an error."""
    return str(path).encode("utf-8", "backslashreplace").decode("utf-8")


def reason(err: OSError) -> str:
    known = REASONS.get(err.errno or 0)
    if known and err.strerror:
        return f"{known} ({err.strerror})"
    return known or err.strerror or type(err).__name__


def checked_path(path: Path | str) -> Path:
    """``path`` when the operating system can take it; one line when it cannot."""
    text = os.fspath(path)
    if "\x00" in text:
        raise InvalidInput(f"路径含有空字符(NUL), 无法使用: {shown(text)!r}")
    # A lone surrogate is a name that is not valid UTF-8 (or not text at all): refused rather
    # than passed on, since every message showing it would fail to print.
    if any("\ud800" <= char <= "\udfff" for char in text):
        raise InvalidInput(f"路径含有无法识别的字符(不是有效的 UTF-8): {shown(text)}")
    if not text:
        raise InvalidInput("路径为空")
    return Path(text)


# -- reading ----------------------------------------------------------------------------------

@contextmanager
def open_for_reading(path: Path | str, *, streams: bool = False) -> Iterator[BinaryIO]:
    """A regular file open for reading; one line for anything else (missing, a folder, a
    device such as /dev/zero, a pipe, no permission). With ``streams`` a pipe or a device is
    taken too, for a reader that bounds what it reads itself (evidence uploads)."""
    target = checked_path(path)
    # O_NONBLOCK: opening a pipe with no writer would otherwise wait for ever; a reader of
    # streams wants exactly that wait.
    flags = os.O_RDONLY | os.O_NOCTTY | (0 if streams else os.O_NONBLOCK)
    try:
        descriptor = os.open(target, flags)
    except FileNotFoundError:
        raise InvalidInput(f"找不到文件 {shown(target)}") from None
    except OSError as err:
        raise InvalidInput(f"无法读取 {shown(target)}: {reason(err)}") from None
    handle = None
    try:
        kind = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(kind):
            raise InvalidInput(f"{shown(target)} 是目录, 请给出文件")
        if not stat.S_ISREG(kind) and not streams:
            raise InvalidInput(f"{shown(target)} 不是普通文件(设备或管道), 无法读取")
        os.set_blocking(descriptor, True)
        handle = os.fdopen(descriptor, "rb")
    finally:
        if handle is None:
            os.close(descriptor)  # refused before a file object owned it
    with handle:
        yield handle


def read_bounded(path: Path | str, limit: int, what: str = "文件") -> bytes:
    """The whole file, refused when larger than ``limit`` bytes: the size is checked before
    reading, and the read stops one byte past the limit (a file may grow meanwhile)."""
    target = checked_path(path)
    too_big = f"{what} {shown(target)} 太大, 上限 {_size_text(limit)}"
    with open_for_reading(target) as handle:
        if os.fstat(handle.fileno()).st_size > limit:
            raise InvalidInput(too_big)
        try:
            data = handle.read(limit + 1)
        except OSError as err:
            raise InvalidInput(f"无法读取 {shown(target)}: {reason(err)}") from None
    if len(data) > limit:
        raise InvalidInput(too_big)
    return data


def _size_text(size: int) -> str:
    return f"{size // MEGABYTE} MB" if size >= MEGABYTE else f"{size // 1024} KB"


# -- writing ----------------------------------------------------------------------------------

@contextmanager
def output_file(path: Path | str) -> Iterator[BinaryIO]:
    """A file to write ``path`` through; it takes the place of ``path`` only when the block
    ends without an error. Any OSError, raised here or by the block, becomes one line."""
    target = checked_path(path)
    try:
        existing = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        existing = None
    except OSError as err:
        raise InvalidInput(f"无法写入 {shown(target)}: {reason(err)}") from None
    if existing is not None and stat.S_ISDIR(existing.st_mode):
        raise InvalidInput(f"{shown(target)} 是目录, 请给出文件名")
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        with _straight(target) as handle:
            yield handle
        return
    folder = target.parent
    if not folder.is_dir():
        raise InvalidInput(f"无法写入 {shown(target)}: 文件夹 {shown(folder)} 不存在")
    try:
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.",
                                                 suffix=".part")
    except OSError as err:
        raise InvalidInput(f"无法写入 {shown(target)}: {reason(err)}") from None
    done = False
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, existing.st_mode & 0o7777 if existing else _new_file_mode())
        os.replace(temporary, target)
        done = True
    except OSError as err:
        raise InvalidInput(f"无法写入 {shown(target)}: {reason(err)}") from None
    finally:
        if not done:
            with suppress(FileNotFoundError):
                os.unlink(temporary)


def resolved(path: Path | str) -> Path:
    """The absolute form of a path a user gave: a symbolic-link loop or a name the system
    cannot take is one line."""
    try:
        return Path(path).expanduser().resolve()
    except (RuntimeError, OSError, ValueError) as err:
        raise InvalidInput(f"无法使用路径 {shown(path)}: {err}"[:300]) from None


def output_folder(path: Path | str) -> Path:
    """A folder to write a set of files into (made when missing); one line for a name the
    system cannot take, or one that is already something other than a folder."""
    target = checked_path(path)
    try:
        taken = target.exists() and not target.is_dir()
    except OSError as err:  # a name too long for the system, a folder that may not be read
        raise InvalidInput(f"无法使用文件夹 {shown(target)}: {reason(err)}") from None
    if taken:
        raise InvalidInput(f"{shown(target)} 已存在且不是文件夹, 请给出文件夹")
    return target


@contextmanager
def _straight(target: Path) -> Iterator[BinaryIO]:
    try:
        with open(target, "wb") as handle:
            yield handle
    except OSError as err:
        raise InvalidInput(f"无法写入 {shown(target)}: {reason(err)}") from None


def _new_file_mode() -> int:
    """What a file created the ordinary way would get (0666 less the umask): read from
    /proc, since setting the umask to learn it would race with other threads."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o644


class HeldErrorWriter:
    """A file wrapper that keeps the first write error and quietly takes the rest, so a
    library that cannot unwind in the middle of writing (openpyxl's zip and XML streams print
    tracebacks from their finalisers) finishes cleanly; ``raise_held`` then raises the error.
    """

    def __init__(self, target: BinaryIO) -> None:
        self._target = target
        self.error: OSError | None = None
        self._position = 0

    def write(self, data: bytes) -> int:
        if self.error is None:
            try:
                return self._target.write(data)
            except OSError as err:
                self.error = err
                self._position = self._current()
        self._position += len(data)
        return len(data)

    def flush(self) -> None:
        if self.error is None:
            try:
                self._target.flush()
            except OSError as err:
                self.error = err

    def seekable(self) -> bool:
        return self._target.seekable()

    def tell(self) -> int:
        return self._target.tell() if self.error is None else self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if self.error is None:
            try:
                return self._target.seek(offset, whence)
            except OSError as err:
                self.error = err
                self._position = self._current()
        if whence == os.SEEK_SET:
            self._position = offset
        elif whence == os.SEEK_CUR:
            self._position += offset
        return self._position

    def _current(self) -> int:
        # Only the library's own offsets depend on it once writing failed: any number does.
        try:
            return self._target.tell()
        except (OSError, ValueError):
            return 0

    def raise_held(self) -> None:
        if self.error is not None:
            raise self.error
