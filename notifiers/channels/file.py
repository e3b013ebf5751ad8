"""The outbox folder: each notice as ``<key>.txt`` (the document) and ``<key>.html`` (for
printing on A4; and ``<key>.docx`` if configured), each written aside and renamed into place.

Readers never see a half-written file. The text is renamed last, so its presence means the
notice is complete and is not written again: a sender that died after writing and before
recording is harmless. The files of a batch are made durable together (one ``syncfs`` of the
outbox's file system, see ``commit``) before the sender records them as delivered.
"""

from __future__ import annotations

import ctypes
import os
import re
from pathlib import Path

from duban.engine.permissions import create_private_file, make_private_dir
from duban.engine.ports import Outgoing, Transient
from duban.notifiers.render import Document, Renderer

UNSAFE = re.compile(r"[^0-9A-Za-z_.\-]+")


def folder_name(key: str) -> str:
    return UNSAFE.sub("_", key).strip("._")[:200]


class FileChannel:
    """The outbox folder (:class:`duban.engine.ports.Channel`)."""

    def __init__(self, outbox: Path, renderer: Renderer, with_docx: bool) -> None:
        self.outbox = outbox
        self.renderer = renderer
        self.with_docx = with_docx

    def send(self, message: Outgoing) -> str:
        stem = folder_name(message.notice["key"])
        marker = self.outbox / f"{stem}.txt"
        if marker.exists():
            return f"已在发件箱 {marker.name}"
        notice = message.notice
        files = {f"{stem}.html": notice["body_html"].encode()}
        if self.with_docx:
            files[f"{stem}.docx"] = self.renderer.docx(Document.from_json(notice["document"]))
        files[marker.name] = notice["body_text"].encode()  # last: its presence means complete
        try:
            make_private_dir(self.outbox)
            for name, data in files.items():
                staging = self.outbox / f".{name}.tmp"
                create_private_file(staging)
                staging.write_bytes(data)
                os.replace(staging, self.outbox / name)
        except OSError as err:
            raise Transient(f"写入发件箱失败: {err}") from None
        return f"已写入发件箱 {marker.name}"

    def commit(self) -> None:
        """Make everything written so far durable, before it is recorded as delivered."""
        if self.outbox.exists():
            sync_filesystem(self.outbox)

    def close(self) -> None:
        """Nothing stays open between files."""


def sync_filesystem(path: Path) -> None:
    """syncfs(2) on the file system holding ``path`` (Linux); sync(2) elsewhere."""
    fd = os.open(path, os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if getattr(libc, "syncfs", None) is None or libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)
