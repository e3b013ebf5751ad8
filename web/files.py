"""Evidence as the web hands it out and takes it in: one place for both the pages and the API.

A file goes out as what its content was judged to be, never as what a request asks; images
may be shown inline (thumbnails on the 督办单), everything else is a download. The headers of
:mod:`duban.web.security` (nosniff, the CSP) stand on every answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO
from urllib.parse import quote

from fastapi.responses import Response, StreamingResponse

CHUNK = 256 * 1024
INLINE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp")


def disposition(name: str, *, inline: bool = False) -> str:
    """The Content-Disposition of a file named ``name`` (any characters: RFC 5987)."""
    return f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quote(name)}"


def as_download(data: bytes, name: str, media_type: str) -> Response:
    """A made document (xlsx, docx, pdf) handed out as a file to save."""
    return Response(data, media_type=media_type, headers={"content-disposition": disposition(name)})


def file_response(row: dict[str, Any], content: BinaryIO, *, inline: bool) -> StreamingResponse:

    def chunks() -> Iterator[bytes]:
        with content:
            while chunk := content.read(CHUNK):
                yield chunk

    return StreamingResponse(chunks(), media_type=row["media_type"], headers={
        "content-disposition": disposition(
            row["name"], inline=inline and row["media_type"] in INLINE_TYPES),
        "content-length": str(row["size"]),
        "cache-control": "private, max-age=86400, immutable",  # content-addressed: never changes
        "etag": f'"{row["sha256"]}"',
    })


def attachments(uploads: Sequence[Any]) -> list[tuple[str, BinaryIO]]:
    """The files of a multipart form (Starlette's UploadFile), the empty file inputs left out."""
    return [(upload.filename or "未命名文件", upload.file) for upload in uploads
            if getattr(upload, "filename", None) and hasattr(upload, "file")]
