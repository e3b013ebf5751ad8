"""Forms of the portal: an event's form from the fields it asks for, the new item's form, and
how their answers become the engine's values; and the filters the templates use."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from duban.engine.errors import DubanError
from duban.engine.items import NewItem
from duban.engine.labels import size_text
from duban.engine.models import SOURCE_LABELS
from duban.engine.timeutil import local_text
from duban.engine.views import EventOption, ItemView
from duban.web.errors import shown_message

COLOURS = {"green": "绿", "yellow": "黄", "red": "红", "": "—"}
TEXTAREA = ("long_text",)


def _local(value: Any, tz: Any = None) -> str:
    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    from duban.engine.timeutil import zone

    return local_text(value, tz or zone("Asia/Shanghai"))


def _left(days: int | None) -> str:
    if days is None:
        return ""
    return f"逾期 {-days} 个工作日" if days < 0 else f"剩 {days} 个工作日"


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


FILTERS = {"pct": _pct, "local": _local, "colour": lambda c: COLOURS.get(c or "", "—"),
           "left": _left, "filesize": size_text}


def action(view: ItemView, event: str, units: list[dict[str, Any]],
           data: Mapping[str, Any] | None = None, err: DubanError | None = None) -> dict:
    """What the form of one event shows: its fields, the values given, the engine's message
    beside the field it names (or above the form)."""
    option: EventOption | None = next((e for e in view.events if e.name == event), None)
    message = shown_message(err) if err else None
    fields = []
    for field in option.fields if option else ():
        fields.append({
            "name": field.name, "label": field.label, "kind": field.kind,
            "required": field.required, "choices": field.choices,
            "units": [(u["code"], u["name"]) for u in units] if field.kind == "unit" else None,
            "value": (data or {}).get(field.name, ""),
            "error": message if message and field.label in message else None,
        })
    placed = any(f["error"] for f in fields)
    about_files = bool(message) and not placed and ("文件" in message or "佐证" in message)
    return {"event": event, "label": option.label if option
            else view.event_labels.get(event, event),
            "allowed": option is not None, "fields": fields,
            "error": None if placed or about_files else message,
            "evidence_error": message if about_files else None,
            "requires_evidence": option.requires_evidence if option else "",
            "version": view.item["version"]}


def event_values(data: Mapping[str, Any]) -> tuple[dict[str, str], int | None]:
    """The event's inputs from a posted form, and the version the person saw."""
    values = {key[2:]: str(value) for key, value in data.items()
              if key.startswith("f_") and str(value).strip()}
    version = str(data.get("version", ""))
    return values, int(version) if version.isdigit() and len(version) < 12 else None


def new_item_context(service: Any, actor: Any) -> dict[str, Any]:
    return {"units": service.units(actor), "workflows": service.workflow_list(),
            "sources": [(kind.value, label) for kind, label in SOURCE_LABELS.items()],
            "leaders": [p for p in service.people(actor) if "lead_leader" in p["roles"]
                        and p["active"]]}


def new_item_spec(data: Mapping[str, Any]) -> NewItem:
    def text(name: str) -> str:
        return str(data.get(name, "") or "").strip()

    co_units = tuple(code for code in text("co_units").replace("，", ",").split(",")
                     if code.strip())
    return NewItem(title=text("title"), lead_unit=text("unit"), deadline=text("deadline"),
                   workflow=text("workflow") or "standard", goal=text("goal"),
                   measures=text("measures"), source=text("source") or "other",
                   lead_leader=text("leader") or None,
                   co_units=tuple(c.strip() for c in co_units))
