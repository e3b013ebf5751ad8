"""The 阳光督办 public board as a static site: an index, a page per public item, a JSON feed,
and the files the office marked public. Served by any web server, copied to a government
portal, readable on a phone.

What appears is decided by :mod:`duban.engine.board`; this only writes it, escaped throughout.
No path is built from the record's text: pages are named by item numbers, files by their hash.
The site is built in a fresh folder beside the target and swapped in at the end, so a reader
never sees half a site.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import jinja2

from duban.engine.board import Board
from duban.engine.errors import InvalidInput, SetupError
from duban.engine.userfiles import reason
from duban.engine.validation import shown

TEMPLATES = Path(__file__).parent / "templates"
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp",
              "application/pdf": "pdf", "application/ofd": "ofd", "text/plain": "txt"}
IMAGES = ("image/jpeg", "image/png", "image/gif", "image/webp")
COLOURS = {"green": "绿色", "yellow": "黄色", "red": "红色"}


def write_site(folder: Path, board: Board, *, office: str, tz: ZoneInfo,
               open_file: Callable[[str], BinaryIO]) -> dict[str, int]:
    """Write the site to ``folder`` (replacing what a previous build left there)."""
    env = _environment(tz)
    folder = folder.expanduser().absolute()
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{folder.name}.building-", dir=folder.parent))
    except OSError as err:
        raise InvalidInput(f"无法写入 {shown(folder)}: {reason(err)}") from None
    try:
        counts = _write(building, board, env, office, open_file)
        _swap_in(building, folder)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return counts


def content_key(board: Board) -> str:
    """What the site shows, as a hash: a rebuild is due only when this changes."""
    import hashlib

    shown = feed(board)
    shown.pop("generation"), shown.pop("built_at")
    return hashlib.sha256(json.dumps(shown, ensure_ascii=False, sort_keys=True)
                          .encode()).hexdigest()


def feed(board: Board) -> dict[str, Any]:
    """The JSON feed: the same content as the pages, for portals that show it their way."""
    return {
        "generation": board.generation, "built_at": board.built_at.isoformat(),
        "items": [{
            "id": item.id, "title": item.title, "unit": item.unit, "source": item.source,
            "deadline": item.deadline.isoformat(), "state": item.state,
            "colour": item.colour or None,
            "closed_at": item.closed_at.isoformat() if item.closed_at else None,
            "notes": [{"at": at.isoformat(), "note": note} for at, note in item.notes],
            "files": [{"name": f["name"], "type": f["media_type"], "size": f["size"],
                       "sha256": f["sha256"], "href": f"files/{_file_name(f)}"}
                      for f in item.evidence],
        } for item in board.items],
        "draws": [{**d, "at": d["at"].isoformat()} for d in board.draws],
    }


def _write(root: Path, board: Board, env: jinja2.Environment, office: str,
           open_file: Callable[[str], BinaryIO]) -> dict[str, int]:
    (root / "items").mkdir()
    (root / "files").mkdir()
    common = {"office": office, "generation": board.generation,
              "built_at": env.filters["when"](board.built_at)}
    states: dict[str, int] = {}
    for item in board.items:
        states[item.state] = states.get(item.state, 0) + 1
    page = env.get_template("board/index.html.j2").render(
        **common, root="", items=board.items, draws=board.draws, counts=sorted(states.items()))
    (root / "index.html").write_text(page, encoding="utf-8")
    item_page = env.get_template("board/item.html.j2")
    copied = 0
    for item in board.items:
        files = []
        for found in item.evidence:
            name = _file_name(found)
            target = root / "files" / name
            if not target.exists():
                with open_file(found["sha256"]) as source, target.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
                copied += 1
            files.append({"file": name, "name": found["name"],
                          "image": found["media_type"] in IMAGES})
        (root / "items" / f"{item.id}.html").write_text(
            item_page.render(**common, root="../", item=item, files=files), encoding="utf-8")
    # <, > and & as \u escapes: the feed stays safe when a portal pastes it into a page
    text = json.dumps(feed(board), ensure_ascii=False, indent=1)
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escaped)
    (root / "feed.json").write_text(text, encoding="utf-8")
    shutil.copyfile(TEMPLATES / "board" / "board.css", root / "board.css")
    for path in (root, *root.rglob("*")):  # a site is for everyone to read
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return {"items": len(board.items), "files": copied, "draws": len(board.draws)}


def _swap_in(building: Path, folder: Path) -> None:
    if folder.exists() and not (folder / "feed.json").exists() and any(folder.iterdir()):
        raise SetupError(f"{folder} 不是先前生成的公开页面目录(无 feed.json), 不会覆盖")
    previous = None
    if folder.exists():
        previous = folder.with_name(f".{folder.name}.previous-{os.getpid()}")
        os.replace(folder, previous)
    os.replace(building, folder)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def _file_name(found: dict[str, Any]) -> str:
    return f"{found['sha256']}.{EXTENSIONS.get(found['media_type'], 'bin')}"


def _environment(tz: ZoneInfo) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)

    def day(value: datetime) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d")

    def when(value: datetime) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")

    env.filters.update(day=day, when=when, colour=lambda c: COLOURS.get(c or "", ""))
    return env
