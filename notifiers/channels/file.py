"""The outbox folder: each notice a folder named by its key, renamed into place at once.

Readers never see a half-written notice, and a notice already there is not written again, so
a sender that died after writing and before recording is harmless.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from notifiers.channels import Outgoing, Transient
from notifiers.render import Document, Renderer

UNSAFE = re.compile(r"[^0-9A-Za-z_.\-]+")


def folder_name(key: str) -> str:
    return UNSAFE.sub("_", key).strip("._")[:200]


class FileChannel:
    def __init__(self, outbox: Path, renderer: Renderer, with_docx: bool) -> None:
        self.outbox = outbox
        self.renderer = renderer
        self.with_docx = with_docx

    def send(self, message: Outgoing) -> str:
        final = self.outbox / folder_name(message.notice["key"])
        if final.exists():
            return f"已在发件箱 {final.name}"
        notice = message.notice
        files = {
            "notice.txt": notice["body_text"].encode(),
            "notice.md": notice["body_markdown"].encode(),
            "notice.html": notice["body_html"].encode(),
            "meta.json": json.dumps(
                {"key": notice["key"], "kind": notice["kind"], "doc_number": notice["doc_number"],
                 "title": notice["title"], "item_id": notice["item_id"],
                 "to": notice["recipients"], "cc": notice["cc"]},
                ensure_ascii=False, indent=2).encode(),
        }
        if self.with_docx:
            files["notice.docx"] = self.renderer.docx(Document.from_json(notice["document"]))
        try:
            self.outbox.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.outbox))
            for name, data in files.items():
                with open(staging / name, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
            try:
                os.rename(staging, final)
            except OSError:
                if not final.exists():
                    raise
                # another sender put it there first: the notice is delivered once
                for name in files:
                    (staging / name).unlink()
                staging.rmdir()
            _sync_folder(self.outbox)
        except OSError as err:
            raise Transient(f"写入发件箱失败: {err}") from None
        return f"已写入发件箱 {final.name}"


def _sync_folder(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
