"""An item, its details and its timeline as lines of text, from the engine's views."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from duban.engine.views import FieldInfo, ItemView, TimelineEntry



def item_line(item: Mapping[str, Any], state_label: str, tz: ZoneInfo) -> str:
    from duban.engine.timeutil import local_text

    return (
        f"事项 {item['id']}〔{item['title']}〕 {state_label}  "
        f"承办: {item['lead_unit']}  期限: {local_text(item['current_deadline'], tz)}"
    )


def field_hint(field: FieldInfo) -> str:
    """How a command line gives one input: ``--level yellow|red`` or ``--field grade=…``."""
    if field.choices:
        value = "|".join(field.choices)
    else:
        value = field.label
    from duban.commands.options import FIELD_OPTIONS

    own = field.name in {name for name, _ in FIELD_OPTIONS}  # else given as --field NAME=VALUE
    option = f"--{field.name} " if own else f"--field {field.name}="
    return f"{option}{value}"


def event_needs(fields: Iterable[FieldInfo], evidence: str = "") -> str:
    """What an event asks for, after its name: required inputs, optional ones, evidence."""
    fields = list(fields)
    needed = [field_hint(f) for f in fields if f.required]
    optional = [field_hint(f) for f in fields if not f.required]
    text = f"  需填: {'  '.join(needed)}" if needed else ""
    if optional:
        text += f"  可填: {'  '.join(optional)}"
    if evidence:
        text += f"  须附佐证: {evidence}"
    return text


def item_detail(view: ItemView, tz: ZoneInfo) -> str:
    from duban.engine.timeutil import local_text

    item = view.item
    deadline = local_text(item["current_deadline"], tz)
    if item["current_deadline"] != item["original_deadline"]:
        deadline += f"(原 {local_text(item['original_deadline'], tz)}; {item['deadline_reason']})"
    rows = [
        ("编号", str(item["id"])),
        ("标题", item["title"]),
        ("工作流", f"{view.workflow_label}({item['workflow']} v{item['workflow_version']})"),
        ("状态", view.state_label),
        ("来源", view.source_label),
        ("承办单位", item["lead_unit"]),
        ("协办单位", "、".join(item["co_units"]) or "—"),
        ("牵头领导", item["lead_leader"] or "—"),
        ("办理期限", deadline),
        ("目标", item["goal"] or "—"),
        ("工作举措", item["measures"] or "—"),
        ("公开", "是" if item["public"] else "否"),
        ("版本", str(item["version"])),
        *view.attributes,
    ]
    if item["parent_id"]:
        rows.append(("上级事项", str(item["parent_id"])))
    children = view.children
    if children:
        rolled = f"{children['closed']}/{children['total']} 已销号"
        if children["next_deadline"] is not None:
            rolled += f", 最近的未销号期限 {local_text(children['next_deadline'], tz)}"
        rows.append(("子任务", rolled))
    if view.events:
        rows.append(("可办理", "、".join(f"{e.label}({e.name})" for e in view.events)))
    return "\n".join(f"{label}: {value}" for label, value in rows)


def timeline_lines(entries: Iterable[TimelineEntry], tz: ZoneInfo) -> list[str]:
    from duban.engine.timeutil import local_text

    lines = []
    for entry in entries:
        head = f"#{entry.seq:<6} {local_text(entry.at, tz)}  {entry.actor:<10} {entry.what}"
        if entry.kind in ("notice", "delivery"):
            lines.append(head + (f"  {entry.reason}" if entry.reason else ""))
            continue
        move = f" {entry.move[0]} → {entry.move[1]}" if entry.move else ""
        reason = f"  理由: {entry.reason}" if entry.reason else ""
        details = "".join(f"  {label}: {shown}" for label, shown in entry.details)
        files = ("  佐证: " + "、".join(f"{row['name']}(编号 {row['id']})"
                                       for row in entry.evidence)) if entry.evidence else ""
        lines.append(head + move + reason + details + files)
    return lines
