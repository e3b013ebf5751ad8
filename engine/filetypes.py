"""What a file is, judged from its content (never its name): the kinds of evidence an office
keeps, and nothing else.

Offices send photos, scans, PDF, OFD (the national fixed-layout format), Office and WPS
documents and archives of them. WPS writes Office's formats (OOXML, or the old compound files
for .wps/.et/.dps), so the content tells the family, not the program.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

HEAD_BYTES = 8192


@dataclass(frozen=True)
class FileType:
    media_type: str
    label: str  # as a person reads it in a list of evidence

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")


JPEG = FileType("image/jpeg", "JPEG 图片")
PNG = FileType("image/png", "PNG 图片")
GIF = FileType("image/gif", "GIF 图片")
WEBP = FileType("image/webp", "WebP 图片")
BMP = FileType("image/bmp", "BMP 图片")
TIFF = FileType("image/tiff", "TIFF 图片")
HEIC = FileType("image/heic", "HEIC 图片")
PDF = FileType("application/pdf", "PDF 文档")
OFD = FileType("application/ofd", "OFD 版式文档")
DOCX = FileType("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "Word/WPS 文字文档")
XLSX = FileType("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "Excel/WPS 表格")
PPTX = FileType("application/vnd.openxmlformats-officedocument.presentationml.presentation",
                "PowerPoint/WPS 演示")
ODF = FileType("application/vnd.oasis.opendocument", "OpenDocument 文档")
COMPOUND = FileType("application/x-ole-storage", "Office/WPS 旧格式文档(doc/xls/ppt/wps/et)")
ZIP = FileType("application/zip", "ZIP 压缩包")
SEVEN_ZIP = FileType("application/x-7z-compressed", "7z 压缩包")
RAR = FileType("application/vnd.rar", "RAR 压缩包")
GZIP = FileType("application/gzip", "gzip 压缩包")
TAR = FileType("application/x-tar", "tar 归档")
TEXT = FileType("text/plain", "文本")

LABELS = {kind.media_type: kind.label for kind in (
    JPEG, PNG, GIF, WEBP, BMP, TIFF, HEIC, PDF, OFD, DOCX, XLSX, PPTX, ODF, COMPOUND, ZIP,
    SEVEN_ZIP, RAR, GZIP, TAR, TEXT)}

_MAGIC: tuple[tuple[bytes, FileType], ...] = (
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
    (b"BM", BMP),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
    (b"%PDF-", PDF),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", COMPOUND),
    (b"7z\xbc\xaf\x27\x1c", SEVEN_ZIP),
    (b"Rar!\x1a\x07", RAR),
    (b"\x1f\x8b", GZIP),
)
ACCEPTED = "图片(JPEG/PNG/GIF/WebP/BMP/TIFF/HEIC)、PDF、OFD、Office/WPS 文档、文本、压缩包"


def judge(path: Path) -> FileType | None:
    """The file's type, or None for anything that is not evidence (programs, scripts of
    binary formats, unknown data)."""
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip_kind(path)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"heif"):
        return HEIC
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if len(head) > 262 and head[257:262] == b"ustar":
        return TAR
    return TEXT if _is_text(head) else None


def _zip_kind(path: Path) -> FileType | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "mimetype" in names and "content.xml" in names:
                return ODF
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    if "OFD.xml" in names:
        return OFD
    if "[Content_Types].xml" in names:
        for prefix, kind in (("word/", DOCX), ("xl/", XLSX), ("ppt/", PPTX)):
            if any(name.startswith(prefix) for name in names):
                return kind
    return ZIP


def _is_text(head: bytes) -> bool:
    """UTF-8 or GB18030 text without control characters (a cut multi-byte character at the
    end of the sample is allowed)."""
    if not head or b"\x00" in head:
        return not head  # an empty file is an empty text
    for encoding in ("utf-8", "gb18030"):
        try:
            text = head.decode(encoding)
        except UnicodeDecodeError as err:
            if err.start < len(head) - 4:
                continue
            text = head[:err.start].decode(encoding)
        return all(ch.isprintable() or ch in "\t\r\n\f" for ch in text)
    return False
