"""Text a person reads: item lines, item details, timelines. Used by the CLI and the demo."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from duban.engine.audit import canonical
from duban.engine.models import SOURCE_LABELS, SourceKind
from duban.engine.registry import Registry
from duban.engine.timeutil import from_iso, local_text

ACTION_LABELS = {
    "created": "交办",
    "edited": "修改",
    "refused": "被拒绝",
    "migrated": "迁移",
    "unit_added": "新增单位",
    "unit_changed": "修改单位",
    "person_added": "新增人员",
    "person_changed": "修改人员",
    "schema_upgraded": "升级数据库",
    "timer_fired": "时限步骤",
    "timer_skipped": "时限步骤跳过",
    "timer_failed": "时限步骤失败",
}
NOTICE_LABELS = {
    "created": "生成通知",
    "sent": "通知已送达",
    "failed": "通知送达失败(将重试)",
    "dead": "通知无法送达",
    "requeued": "通知重新送达",
}


ATTR_LABELS = {
    "owner": "责任人(首位签收)",
    "last_progress": "最新进展",
    "requested_deadline": "申请延期至",
    "verification": "核查意见",
    "warning": "当前预警",
    "warnings": "预警次数",
    "interviews": "约谈次数",
    "accountability": "问责",
    "accountability_cases": "问责次数",
    "extensions": "延期次数",
    "redos": "退回重办次数",
    "transfers": "转办次数",
    "reported_at": "报结时间",
    "on_time": "按期办结",
    "signed_at": "签收时间",
    "signed_on_time": "按时签收",
    "verified_at": "核查时间",
    "satisfaction": "回访满意度",
    "first_satisfaction": "首次回访",
    "grade": "答复分类",
    "co_views": "协办意见",
    "contact": "面商情况",
    "contacted_at": "面商时间",
    "repeat_of": "重复投诉, 关联工单",
    "category": "问题类别",
    "term": "整改类型",
    "unit_confirmed": "单位确认",
    "group_confirmed": "巡视组确认",
    "office_confirmed": "督查室确认",
}
ATTR_VALUES = {"yellow": "黄色", "red": "红色", "proposed": "问责中", "exempted": "容错免责",
               "True": "是", "False": "否", "immediate": "立行立改", "long_term": "长期整改"}


def to_json(value: Any) -> str:
    return json.dumps(canonical(value), ensure_ascii=False, indent=2)


def state_label(registry: Registry, item: Mapping[str, Any]) -> str:
    try:
        return registry.get(item["workflow"], item["workflow_version"]).state_label(item["state"])
    except Exception:
        return item["state"]


def item_line(registry: Registry, item: Mapping[str, Any], tz: ZoneInfo) -> str:
    return (
        f"事项 {item['id']}〔{item['title']}〕 {state_label(registry, item)}  "
        f"承办: {item['lead_unit']}  期限: {local_text(item['current_deadline'], tz)}"
    )


def item_detail(
    registry: Registry,
    item: Mapping[str, Any],
    tz: ZoneInfo,
    possible: Iterable[tuple[str, str]] = (),
    children: Mapping[str, Any] | None = None,
) -> str:
    workflow = registry.get(item["workflow"], item["workflow_version"])
    deadline = local_text(item["current_deadline"], tz)
    if item["current_deadline"] != item["original_deadline"]:
        deadline += f"(原 {local_text(item['original_deadline'], tz)}; {item['deadline_reason']})"
    source = SOURCE_LABELS.get(SourceKind(item["source"]), item["source"])
    rows = [
        ("编号", str(item["id"])),
        ("标题", item["title"]),
        ("工作流", f"{workflow.label}({workflow.name} v{workflow.version})"),
        ("状态", workflow.state_label(item["state"])),
        ("来源", source),
        ("承办单位", item["lead_unit"]),
        ("协办单位", "、".join(item["co_units"]) or "—"),
        ("牵头领导", item["lead_leader"] or "—"),
        ("办理期限", deadline),
        ("目标", item["goal"] or "—"),
        ("工作举措", item["measures"] or "—"),
        ("公开", "是" if item["public"] else "否"),
        ("版本", str(item["version"])),
    ]
    rows += [(ATTR_LABELS.get(key, key), _attr_text(key, value, tz))
             for key, value in sorted(item["attrs"].items())]
    if item["parent_id"]:
        rows.append(("上级事项", str(item["parent_id"])))
    if children:
        rolled = f"{children['closed']}/{children['total']} 已销号"
        if children["next_deadline"] is not None:
            rolled += f", 最近的未销号期限 {local_text(children['next_deadline'], tz)}"
        rows.append(("子任务", rolled))
    possible = list(possible)
    if possible:
        rows.append(("可办理", "、".join(f"{label}({name})" for name, label in possible)))
    return "\n".join(f"{label}: {value}" for label, value in rows)


def _attr_text(key: str, value: Any, tz: ZoneInfo) -> str:
    """An attribute as a reader wants it: instants local, flags and codes in words."""
    if isinstance(value, str) and (key.endswith("_at") or key.endswith("_deadline")):
        try:
            return local_text(from_iso(value), tz)
        except ValueError:
            return value
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    return ATTR_VALUES.get(str(value), str(value))


def history_lines(
    registry: Registry, item: Mapping[str, Any], events: Iterable[Mapping[str, Any]], tz: ZoneInfo
) -> list[str]:
    workflow = registry.get(item["workflow"], item["workflow_version"])
    lines = []
    for event in events:
        if event["action"] == "event":
            spec = workflow.event(event["event"])
            what = spec.label if spec else event["event"]
        elif event["action"] == "refused":
            spec = workflow.event(event["event"] or "")
            what = f"尝试{spec.label if spec else event['event']}被拒绝"
        elif event["action"] == "notice":
            lines.append(_notice_line(event, tz))
            continue
        else:
            what = ACTION_LABELS.get(event["action"], event["action"])
        move = ""
        if event["to_state"] and event["from_state"] != event["to_state"]:
            before = workflow.state_label(event["from_state"]) if event["from_state"] else "—"
            move = f" {before} → {workflow.state_label(event['to_state'])}"
        reason = f"  理由: {event['reason']}" if event["reason"] else ""
        reason += _values_text(workflow, event, tz)
        when = local_text(event["at"], tz)
        lines.append(f"#{event['seq']:<6} {when}  {event['actor']:<10} {what}{move}{reason}")
    return lines


def _notice_line(event: Mapping[str, Any], tz: ZoneInfo) -> str:
    payload = event["payload"]
    what = NOTICE_LABELS.get(event["event"], event["event"])
    number = f" {payload['doc_number']}" if payload.get("doc_number") else ""
    channel = f" [{payload['channel']}]" if payload.get("channel") else ""
    detail = f"  {event['reason']}" if event["reason"] else ""
    when = local_text(event["at"], tz)
    return f"#{event['seq']:<6} {when}  {event['actor']:<10} {what}{number}{channel}{detail}"


def _values_text(workflow: Any, event: Mapping[str, Any], tz: ZoneInfo) -> str:
    """The inputs of an event other than its reason, as a reader wants them."""
    if event["action"] != "event":
        return ""
    parts = []
    for name, value in event["payload"].get("values", {}).items():
        if name == "reason":
            continue
        spec = workflow.field_spec(name)
        if spec.kind in ("instant", "deadline"):
            shown = local_text(from_iso(value), tz)
        else:
            shown = spec.display(value)
        parts.append(f"{spec.label}: {shown}")
    return "".join(f"  {part}" for part in parts)
