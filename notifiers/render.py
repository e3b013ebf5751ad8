"""Notices rendered from Jinja2 templates into official documents.

A notice kind is one template, ``kinds/<kind>.j2``: its output is the body (paragraphs
separated by blank lines) and it sets ``label`` (提醒函), ``title`` and optionally
``recipient`` (主送) and ``numbered``. The body is kept as a :class:`Document`, the parts of a
GB/T 9704 document, which the layouts turn into plain text, Markdown for chat robots, HTML for
A4 printing (autoescaped) and .docx (docxtpl, so an office restyles its letterhead in Word).
An admin overrides any template by a file of the same name in the ``templates_dir`` folder.

The printed layouts follow GB/T 9704-2012 (``notifiers/typeset.py``): the title is broken into
lines by meaning, the circular's table is sized to the text block, and body paragraphs that
open with 一、 or （一） carry the heading fonts.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from duban.engine.errors import InvalidInput, SetupError
from duban.notifiers.typeset import column_widths, fit_table, outline, title_lines

PACKAGE_TEMPLATES = Path(__file__).with_name("templates")
DOCX_TEMPLATE = "document.docx"
FORMATS = ("text", "markdown", "html")


@dataclass(frozen=True)
class Document:
    """One notice as an official document: what every output format shows."""

    kind: str
    label: str  # 提醒函, 督办函 …
    issuer: str  # 发文机关
    doc_number: str | None  # 督办〔2026〕12号
    title: str
    recipient: str  # 主送
    paragraphs: tuple[str, ...]
    signature: str  # 落款
    date: str  # 2026年11月25日
    cc: str = ""  # 抄送
    contact: str = ""
    table: tuple[tuple[str, ...], ...] = ()  # a header row, then rows (the circular's ranking)
    table_after: int = 1  # shown after this many paragraphs
    signer: str = ""  # 签发人 of a document sent up (上行文); none for the others

    def as_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in DOCUMENT_FIELDS}
        data["paragraphs"] = list(self.paragraphs)
        data["table"] = [list(row) for row in self.table]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Document:
        table = tuple(tuple(str(cell) for cell in row) for row in data.get("table", ()))
        return cls(**{**data, "paragraphs": tuple(data["paragraphs"]), "table": table})


DOCUMENT_FIELDS = tuple(Document.__dataclass_fields__)


@dataclass(frozen=True)
class Body:
    """What a kind template produced, before a document number is given."""

    label: str
    title: str
    recipient: str | None
    numbered: bool
    paragraphs: tuple[str, ...]
    table: tuple[tuple[str, ...], ...] = ()
    table_after: int = 1
    signer: str = ""


def cn_date(value: datetime | None, tz: ZoneInfo | None = None) -> str:
    """2026年11月25日, the way dates are written on documents (GB/T 9704-2012, 7.3.5.3)."""
    if value is None:
        return ""
    local = value.astimezone(tz) if tz is not None and value.tzinfo else value
    return f"{local.year}年{local.month}月{local.day}日"


def cn_datetime(value: datetime | None, tz: ZoneInfo | None = None) -> str:
    """2026年12月10日17时30分; the time is left out when it is the end of the day."""
    if value is None:
        return ""
    local = value.astimezone(tz) if tz is not None and value.tzinfo else value
    text = cn_date(local)
    if (local.hour, local.minute) == (23, 59) or (local.hour, local.minute) == (0, 0):
        return text
    return text + f"{local.hour}时" + (f"{local.minute:02d}分" if local.minute else "")


def sentence(text: str) -> str:
    """Text as a sentence: a full stop added unless it already ends with punctuation. A
    closing bracket or quote ends nothing by itself (…（含幼儿园）。), only with a stop
    inside it (…“已整改。”)."""
    text = str(text).strip()
    last = text.rstrip("）)”’」』")
    if not text or (last and last[-1] in "。！？；：.!?;:…"):
        return text
    return text + "。"


def aligned(table: Sequence[Sequence[str]]) -> list[str]:
    """A table as lines of text, columns padded to the display width of Chinese text."""
    widths = [max(_width(row[n]) for row in table) for n in range(len(table[0]))] if table else []
    return ["  ".join(cell + " " * (width - _width(cell))
                      for cell, width in zip(row, widths, strict=False)).rstrip()
            for row in table]


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def layout_values(document: Document) -> dict[str, Any]:
    """What a layout template sees: the document's fields, its title in lines, the table's
    column widths (fractions of the text block) and the paragraphs with heading levels."""
    values = document.as_json()
    values["title_lines"] = title_lines(document.title)
    values["column_widths"] = column_widths(document.table)
    values["blocks"] = [outline(paragraph) for paragraph in document.paragraphs]
    return values


class Renderer:
    """Templates loaded once per process; the admin's folder comes before the package's."""

    def __init__(self, templates_dir: Path | None, tz: ZoneInfo) -> None:
        self.templates_dir = templates_dir
        self.tz = tz
        folders = [str(templates_dir)] if templates_dir else []
        loader = jinja2.FileSystemLoader([*folders, str(PACKAGE_TEMPLATES)])
        common = {"loader": loader, "undefined": jinja2.StrictUndefined,
                  "trim_blocks": True, "lstrip_blocks": True, "keep_trailing_newline": True}
        self.plain = jinja2.Environment(autoescape=False, **common)
        self.html = jinja2.Environment(autoescape=True, **common)
        for env in (self.plain, self.html):
            env.filters["cn_date"] = lambda value: cn_date(value, tz)
            env.filters["cn_datetime"] = lambda value: cn_datetime(value, tz)
            env.filters["sentence"] = sentence
            env.filters["aligned"] = aligned
        self._docx_bytes: bytes | None = None

    def has_kind(self, kind: str) -> bool:
        try:
            self.plain.get_template(f"kinds/{kind}.j2")
        except jinja2.TemplateNotFound:
            return False
        return True

    def body(self, kind: str, context: Mapping[str, Any]) -> Body:
        """Run a kind's template; its top-level ``set`` names give the label and title."""
        try:
            template = self.plain.get_template(f"kinds/{kind}.j2")
        except jinja2.TemplateNotFound:
            raise InvalidInput(f"没有通知类型 {kind} 的模板 kinds/{kind}.j2") from None
        try:
            module = template.make_module(dict(context))
        except jinja2.TemplateError as err:
            raise SetupError(f"模板 kinds/{kind}.j2 出错: {err}") from None
        missing = [name for name in ("label", "title") if not hasattr(module, name)]
        if missing:
            raise SetupError(f"模板 kinds/{kind}.j2 未设定 {'、'.join(missing)}")
        return Body(
            label=str(module.label),
            title=str(module.title),
            recipient=str(module.recipient) if getattr(module, "recipient", None) else None,
            numbered=bool(getattr(module, "numbered", True)),
            paragraphs=paragraphs(str(module)),
            table=tuple(tuple(str(cell) for cell in row) for row in getattr(module, "table", ())),
            table_after=int(getattr(module, "table_after", 1)),
            signer=str(getattr(module, "signer", "") or ""),
        )

    def text(self, document: Document) -> str:
        return self._layout(self.plain, "document.txt.j2", document)

    def markdown(self, document: Document) -> str:
        return self._render(self.plain, "document.md.j2", inert_markdown(document.as_json()))

    def html_page(self, document: Document) -> str:
        return self._layout(self.html, "document.html.j2", document)

    def render(self, document: Document, fmt: str) -> str:
        renderers: dict[str, Callable[[Document], str]] = {
            "text": self.text, "markdown": self.markdown, "html": self.html_page}
        return renderers[fmt](document)

    def docx(self, document: Document) -> bytes:
        """The document in the office's Word template (``document.docx``)."""
        from docxtpl import DocxTemplate

        template = DocxTemplate(io.BytesIO(self._docx_template()))
        # autoescape: a title with < or & must not break the document's XML
        template.render(layout_values(document), autoescape=True)
        if document.table:
            fit_table(template.docx, document.table)
        out = io.BytesIO()
        template.save(out)
        return out.getvalue()

    def page(self, name: str, context: Mapping[str, Any], html: bool = False) -> str:
        """Any other template (the circular's table, the digest), by name."""
        env = self.html if html else self.plain
        try:
            return env.get_template(name).render(**context)
        except jinja2.TemplateNotFound:
            raise SetupError(f"找不到模板 {name}") from None
        except jinja2.TemplateError as err:
            raise SetupError(f"模板 {name} 出错: {err}") from None

    def _layout(self, env: jinja2.Environment, name: str, document: Document) -> str:
        return self._render(env, name, layout_values(document))

    def _render(self, env: jinja2.Environment, name: str, values: Mapping[str, Any]) -> str:
        try:
            return env.get_template(name).render(**values)
        except jinja2.TemplateError as err:
            raise SetupError(f"模板 {name} 出错: {err}") from None

    def _docx_template(self) -> bytes:
        if self._docx_bytes is None:
            folders = [self.templates_dir] if self.templates_dir else []
            for folder in [*folders, PACKAGE_TEMPLATES]:
                path = folder / DOCX_TEMPLATE
                if path.is_file():
                    self._docx_bytes = path.read_bytes()
                    break
            else:
                raise SetupError(f"找不到 Word 模板 {DOCX_TEMPLATE}")
        return self._docx_bytes


# Markdown's markup characters as their full-width forms: in a group robot's message, text a
# user typed (a title, a reason, a unit's name) shows as typed and never becomes a link, an
# image, emphasis or HTML. Full-width forms rather than backslashes, because the robots'
# markdown dialects do not all honour backslash escapes.
MARKDOWN_INERT = str.maketrans({
    "\\": "＼", "`": "｀", "*": "＊", "_": "＿", "[": "［", "]": "］", "(": "（", ")": "）",
    "<": "＜", ">": "＞", "!": "！", "#": "＃", "|": "｜", "~": "～", "&": "＆"})


def inert_markdown(value: Any) -> Any:
    """``value`` (a document's fields) with every string safe to place in markdown."""
    if isinstance(value, str):
        return (value.translate(MARKDOWN_INERT).replace("://", "：//")
                .replace("www.", "www．"))
    if isinstance(value, list | tuple):
        return [inert_markdown(part) for part in value]
    if isinstance(value, dict):
        return {key: inert_markdown(part) for key, part in value.items()}
    return value


def paragraphs(text: str) -> tuple[str, ...]:
    """Blank lines separate paragraphs; lines inside one are joined (templates wrap freely),
    without a space where Chinese text was wrapped."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        joined = lines[0]
        for line in lines[1:]:
            joined += ("" if _wide(joined[-1]) or _wide(line[0]) else " ") + line
        out.append(joined)
    return tuple(out)


def _wide(char: str) -> bool:
    return ord(char) > 0x2E7F

