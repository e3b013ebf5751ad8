"""``duban item …`` and the short forms of the common events (``duban sign 12`` …)."""

from __future__ import annotations

from typing import Any

import click

from duban.commands.context import App
from duban.commands.options import ID, OFFSET, Number, field_options, json_option, parse_pairs
from duban.commands.output import echo_json, echo_table

TIMER_STATUS = {"pending": "待触发", "fired": "已触发", "skipped": "已跳过", "cancelled": "已取消",
                "failed": "失败"}
# Short commands for the common events of the standard workflow: (command, event, help).
EVENT_COMMANDS = (
    ("sign", "sign", "签收事项, 开始办理"),
    ("decline", "decline", "退回交办(非本单位职责, 需 --reason)"),
    ("transfer", "transfer", "督查室把事项改交其他单位承办(需 --unit 与 --reason)"),
    ("progress", "progress", "反馈办理进展(需 --note)"),
    ("report", "report", "报结(需 --report)"),
    ("verify", "verify", "核查通过"),
    ("reject", "reject", "退回重办(需 --reason 与新的 --deadline)"),
    ("close", "close", "销号"),
    ("extend", "request_extension", "申请延期(需 --reason 与 --deadline)"),
    ("approve-extension", "approve_extension", "批准延期"),
    ("deny-extension", "deny_extension", "驳回延期(需 --reason)"),
    ("warn", "warn", "预警(需 --level 与 --reason)"),
    ("summon", "summon", "约谈单位负责人(需 --reason)"),
    ("hold-accountable", "hold_accountable", "问责(需 --reason), 上查一级"),
    ("exempt", "exempt", "容错免责(需 --reason)"),
    ("visit", "visit", "回访并记录满意度(热线工单, 需 --satisfaction)"),
)


@click.group()
def item() -> None:
    """督办事项: 交办、查看、办理、留痕。"""


@item.command("new")
@click.option("--title", required=True, help="事项标题")
@click.option("--unit", "lead_unit", required=True, help="牵头(主办)承办单位代码")
@click.option("--deadline", required=True,
              help="办理期限: 日期(2026-12-10)或期限(10个工作日、15天、3个月、2小时)")
@click.option("--workflow", default="standard", show_default=True,
              help="工作流: 名称或中文名")
@click.option("--goal", default="", help="目标")
@click.option("--measures", default="", help="工作举措")
@click.option("--source", default="other", show_default=True,
              help="来源: instruction 批示件, meeting 会议议定, key_task 重点工作, "
                   "proposal 建议提案, "
                   "hotline 热线, inspection 巡视整改, petition 信访, other 其他")
@click.option("--leader", help="牵头领导登录名")
@click.option("--co-unit", "co_units", multiple=True, help="协办单位代码, 可重复")
@click.option("--public", is_flag=True, help="在阳光督办公开")
@click.option("--parent", "parent_id", type=ID, help="上级事项编号(任务拆解)")
@click.option("--field", "fields", multiple=True, metavar="名称=值",
              help="工作流在交办时接受的字段, 如 category=选人用人, 可重复")
@json_option
@click.pass_obj
def item_new(app: App, title, lead_unit, deadline, workflow, goal, measures, source, leader,
             co_units, public, parent_id, fields, as_json) -> None:
    """交办新事项。"""
    from duban.engine.items import NewItem

    spec = NewItem(
        title=title, lead_unit=lead_unit, workflow=workflow, goal=goal, measures=measures,
        deadline=deadline, source=source,
        lead_leader=leader, co_units=tuple(co_units), public=public, parent_id=parent_id,
        attrs=parse_pairs(fields),
    )
    echo_item(app, app.service.new_item(app.actor(), spec), as_json)


@item.command("show")
@click.argument("item_id", type=ID)
@json_option
@click.pass_obj
def item_show(app: App, item_id, as_json) -> None:
    """查看事项详情及当前可办理的操作。"""
    from duban.commands.text import item_detail

    view = app.service.item_view(app.actor(), item_id)
    if as_json:
        echo_json({**view.item, "possible_events": [e.name for e in view.events],
                   "children": view.children, "evidence": list(view.evidence)})
    else:
        click.echo(item_detail(view, app.service.tz))


@item.command("list")
@click.option("--state", help="状态: 中文或代码, 如 办理中 或 in_progress")
@click.option("--unit", "unit_code", help="承办单位: 代码或全称")
@click.option("--workflow", help="工作流: 名称或中文名")
@click.option("--open", "open_only", is_flag=True, help="只看未销号的")
@click.option("--limit", type=Number(1, 10_000), default=200, show_default=True)
@click.option("--offset", type=OFFSET, default=0)
@json_option
@click.pass_obj
def item_list(app: App, state, unit_code, workflow, open_only, limit, offset, as_json) -> None:
    """列出事项。"""
    from duban.engine.timeutil import local_text
    from duban.engine.views import state_label

    service = app.service
    rows = service.items(app.actor(), state=state, unit=unit_code, workflow=workflow,
                         open_only=open_only, limit=limit, offset=offset)
    if as_json:
        echo_json(rows)
        return
    data = [{"id": r["id"], "title": r["title"], "state": state_label(service.registry, r),
             "unit": r["lead_unit"], "deadline": local_text(r["current_deadline"], service.tz)}
            for r in rows]
    echo_table(data, False, ["id", "title", "state", "unit", "deadline"],
               ["编号", "标题", "状态", "承办单位", "期限"])


@item.command("history")
@click.argument("item_id", type=ID)
@json_option
@click.pass_obj
def item_history(app: App, item_id, as_json) -> None:
    """事项的全部留痕记录。"""
    from duban.commands.text import timeline_lines

    view = app.service.item_view(app.actor(), item_id)
    if as_json:
        echo_json(list(view.history))
        return
    click.echo("\n".join(timeline_lines(view.timeline, app.service.tz)))


@item.command("edit")
@click.argument("item_id", type=ID)
@click.option("--title")
@click.option("--goal")
@click.option("--measures")
@json_option
@click.pass_obj
def item_edit(app: App, item_id, title, goal, measures, as_json) -> None:
    """修改事项的标题、目标或工作举措(督查员)。"""
    changes = {k: v for k, v in (("title", title), ("goal", goal), ("measures", measures))
               if v is not None}
    echo_item(app, app.service.edit_item(app.actor(), item_id, changes), as_json)


@item.command("fire")
@click.argument("item_id", type=ID)
@click.argument("event")
@field_options
@json_option
@click.pass_obj
def item_fire(app: App, item_id, event, as_json, **options) -> None:
    """对事项办理任一事件 EVENT(见 duban workflow show)。"""
    fire_event(app, item_id, event, as_json, options)


@item.command("timers")
@click.argument("item_id", type=ID)
@json_option
@click.pass_obj
def item_timers(app: App, item_id, as_json) -> None:
    """事项的定时步骤(提醒、预警、催办)及其状态。"""
    from duban.engine.timeutil import local_text

    rows = app.service.timers(app.actor(), item_id)
    if as_json:
        echo_json(rows)
        return
    from duban.commands.output import Column, print_table

    print_table([Column("时间"), Column("步骤"), Column("状态"), Column("结果", 90)],
                [[local_text(row["due_at"], app.service.tz), row["label"],
                  TIMER_STATUS.get(row["status"], row["status"]), row["outcome"] or ""]
                 for row in rows], title=f"事项 {item_id} 的定时步骤")


@item.command("events")
@click.argument("item_id", type=ID)
@json_option
@click.pass_obj
def item_events(app: App, item_id, as_json) -> None:
    """当前身份对该事项可办理的操作, 以及每项需填的内容和可选值。"""
    options = app.service.event_options(app.actor(), item_id)
    if as_json:
        echo_json([{"event": o.name, "label": o.label,
                    "fields": [{"name": f.name, "label": f.label, "kind": f.kind,
                                "required": f.required, "choices": f.choices}
                               for f in o.fields],
                    "requires_evidence": o.requires_evidence or None} for o in options])
    elif options:
        from duban.commands.text import event_needs

        click.echo("\n".join(f"{o.name}\t{o.label}{event_needs(o.fields, o.requires_evidence)}"
                             for o in options))
    else:
        click.echo("当前无可办理的操作")


def fire_event(app: App, item_id: int, event: str, as_json: bool,
               options: dict[str, Any]) -> None:
    from duban.commands.evidence import opened

    expected = options.pop("expect_version", None)
    attach = options.pop("attach", ())
    values = {name: value for name, value in options.items()
              if name != "extra_fields" and value is not None}
    values.update(parse_pairs(options.get("extra_fields") or ()))
    with opened(attach) as attachments:
        row = app.service.fire(app.actor(), item_id, event, values, expected,
                               attachments=attachments)
    echo_item(app, row, as_json, event)


def echo_item(app: App, item: dict[str, Any], as_json: bool, event: str | None = None) -> None:
    """An item just written: JSON, or one line with what happened."""
    from duban.commands.text import item_line

    if as_json:
        echo_json(item)
        return
    service = app.service
    workflow = service.registry.get(item["workflow"], item["workflow_version"])
    line = item_line(item, workflow.state_label(item["state"]), service.tz)
    if event:
        spec = workflow.event(event)
        line += f"  ({spec.label if spec else event} → {workflow.state_label(item['state'])})"
    click.echo(line)


class EventCommand(click.Command):
    """The short form of one event. Its help adds, from the shipped workflows, who may fire
    the event, from which states, and what it asks for (read only when help is asked for)."""

    def __init__(self, *args: Any, event: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.event = event

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_help_text(ctx, formatter)
        lines = event_help(self.event)
        if lines:
            formatter.write_paragraph()
            with formatter.indentation():
                for line in lines:
                    formatter.write_text(line)


def event_help(event_name: str) -> list[str]:
    """One line per shipped workflow that has the event: states, roles, inputs."""
    from duban import workflows
    from duban.commands.text import event_needs
    from duban.engine.access import role_names
    from duban.engine.registry import Registry
    from duban.engine.views import event_option

    lines = []
    for wf in Registry.discover((workflows,)).all_latest():
        event = wf.event(event_name)
        if event is None:
            continue
        option = event_option(wf, event)
        states = ("任意状态" if "*" in event.source
                  else "、".join(wf.state_label(s) for s in event.source))
        lines.append(f"{wf.label}: {states}时由{role_names(event.roles)}办理"
                     f"{event_needs(option.fields, option.requires_evidence)}")
    return lines


def _event_command(name: str, event: str, help_text: str) -> click.Command:
    @click.argument("item_id", type=ID)
    @field_options
    @json_option
    @click.pass_obj
    def command(app: App, item_id, as_json, **options) -> None:
        fire_event(app, item_id, event, as_json, options)

    return click.command(name, cls=EventCommand, event=event, help=help_text,
                         short_help=help_text)(command)


COMMANDS = (item, *(_event_command(*spec) for spec in EVENT_COMMANDS))
