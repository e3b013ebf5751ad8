"""duban 命令行: a thin layer over the engine's service API.

The CLI reads options, builds the service, calls it and formats what comes back; every
decision (who may act, what is possible, what is stored) is the engine's. Only ``click`` is
imported at start-up so that ``duban --help`` stays fast; the engine is imported on first use.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from typing import Any

import click

EXIT_INTERNAL = 70
FIELD_OPTIONS = (
    ("reason", "理由"),
    ("report", "办理情况(报结内容)"),
    ("note", "说明"),
    ("deadline", "期限, 如 2026-12-10 或 2026-12-10 17:00"),
    ("unit", "单位代码(转办目标)"),
    ("person", "人员登录名"),
    ("level", "预警等级: yellow(黄色) 或 red(红色)"),
    ("at", "时间, 如 2026-12-01 09:30"),
    ("place", "地点"),
)
# Friendly commands for the common events of the standard workflow: (command, event, help).
EVENT_COMMANDS = (
    ("sign", "sign", "签收事项, 开始办理"),
    ("decline", "decline", "退回交办(非本单位职责, 需 --reason)"),
    ("transfer", "transfer", "转办到其他单位(需 --unit 与 --reason)"),
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
)


class App:
    """What every command shares: options from the group, the service built on first use."""

    def __init__(self, db: str | None, act_as: str | None, now: str | None,
                 config: str | None, debug: bool) -> None:
        self.db, self.act_as, self.now_text = db, act_as, now
        self.config, self.debug = config, debug
        self._service = None

    @property
    def service(self):
        if self._service is None:
            from duban.engine.clock import FixedClock, SystemClock
            from duban.engine.service import Service
            from duban.engine.settings import load_settings
            from duban.engine.timeutil import parse_instant, zone

            settings = load_settings(db=self.db, config_file=self.config)
            clock = SystemClock()
            if self.now_text:
                clock = FixedClock(parse_instant(self.now_text, zone(settings.timezone)))
            self._service = Service(settings, clock)
        return self._service

    def actor(self):
        """Who runs this command; the engine checks it inside the command's transaction."""
        from duban.engine.access import Identity

        return Identity(os_login(), self.act_as)

    def reader(self) -> str:
        """Check who runs a read-only command (reads need a registered person too)."""
        return self.service.identify(os_login(), self.act_as)

    def write_item(self, item: dict[str, Any], as_json: bool, event: str | None = None) -> None:
        from duban.engine import views

        service = self.service
        if as_json:
            click.echo(views.to_json(item))
            return
        line = views.item_line(service.registry, item, service.tz)
        if event:
            wf = service.registry.get(item["workflow"], item["workflow_version"])
            spec = wf.event(event)
            line += f"  ({spec.label if spec else event} → {wf.state_label(item['state'])})"
        click.echo(line)


def os_login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry, e.g. in a bare container
        return str(os.getuid())


def parse_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    """名称=值 pairs from repeated options."""
    from duban.engine.errors import InvalidInput

    found = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"应写成 名称=值: {pair}")
        found[name.strip()] = value.strip()
    return found


def json_option(command: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="以 JSON 输出")(command)


def field_options(command: Callable) -> Callable:
    for name, help_text in reversed(FIELD_OPTIONS):
        command = click.option(f"--{name}", name, default=None, help=help_text)(command)
    command = click.option("--field", "extra_fields", multiple=True, metavar="名称=值",
                           help="工作流自定义字段, 可重复")(command)
    command = click.option("--expect-version", type=int, default=None,
                           help="仅当事项仍为此版本时才办理(防止并发修改)")(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", envvar="DUBAN_DB", help="数据库: SQLite 文件路径或 PostgreSQL 地址")
@click.option("--as", "act_as", envvar="DUBAN_AS", help="以某人身份操作(仅管理员或演示库)")
@click.option("--now", envvar="DUBAN_NOW", help="设定本次命令的当前时间(模拟与回放用)")
@click.option("--config", envvar="DUBAN_CONFIG", help="配置文件路径")
@click.option("--debug", is_flag=True, help="出错时显示完整调用栈")
@click.version_option(package_name="duban", message="duban %(version)s")
@click.pass_context
def cli(ctx: click.Context, db, act_as, now, config, debug) -> None:
    """duban 督查督办: 交办、催办、预警、约谈、问责, 全程留痕。"""
    ctx.obj = App(db, act_as, now, config, debug)


@cli.command()
@click.option("--admin-name", help="首位管理员的姓名(默认用系统登录名)")
@json_option
@click.pass_obj
def init(app: App, admin_name, as_json) -> None:
    """创建或升级数据库, 生成审计签名密钥; 可重复运行。"""
    result = app.service.init(os_login(), admin_name)
    if as_json:
        from duban.engine import views

        click.echo(views.to_json(result.__dict__))
        return
    if result.schema_before == result.schema_after:
        click.echo(f"数据库已是最新结构(版本 {result.schema_after})")
    else:
        click.echo(f"数据库结构: {result.schema_before or '空'} → {result.schema_after}")
    if result.key_created:
        click.echo(f"已生成审计签名密钥: {app.service.settings.audit_key_path} (请妥善备份)")
    if result.admin_created:
        click.echo(f"已登记首位管理员: {result.admin_created}")


# -- units and people ---------------------------------------------------------------------

@cli.group()
def unit() -> None:
    """单位: 科室、学校、督查室。"""


@unit.command("add")
@click.argument("code")
@click.argument("name")
@click.option("--parent", help="上级单位代码")
@click.option("--head", help="单位负责人登录名")
@json_option
@click.pass_obj
def unit_add(app: App, code, name, parent, head, as_json) -> None:
    """新增单位 CODE NAME。"""
    row = app.service.add_unit(app.actor(), code, name, parent, head)
    echo_record(row, as_json, f"已新增单位 {row['code']} {row['name']}")


@unit.command("head")
@click.argument("code")
@click.argument("login")
@json_option
@click.pass_obj
def unit_head(app: App, code, login, as_json) -> None:
    """设定单位负责人。"""
    row = app.service.set_unit_head(app.actor(), code, login)
    echo_record(row, as_json, f"{row['name']} 的负责人设为 {login}")


@unit.command("webhook")
@click.argument("code")
@click.argument("url", required=False)
@click.option("--style", type=click.Choice(["json", "wecom", "dingtalk"]), default="json",
              show_default=True, help="消息格式: 通用 JSON、企业微信或钉钉群机器人")
@click.option("--remove", is_flag=True, help="取消该单位的群机器人")
@json_option
@click.pass_obj
def unit_webhook(app: App, code, url, style, remove, as_json) -> None:
    """设定单位的群机器人 Webhook 地址, 通知将同时推送到该群。"""
    from duban.engine.errors import InvalidInput

    if remove == bool(url):
        raise InvalidInput("请给出 Webhook 地址, 或用 --remove 取消(二者选一)")
    row = app.service.set_unit_webhook(app.actor(), code, None if remove else url, style)
    echo_record(row, as_json, f"{row['name']} 的群机器人" + ("已取消" if remove else f"设为 {url}"))


@unit.command("list")
@json_option
@click.pass_obj
def unit_list(app: App, as_json) -> None:
    """列出单位。"""
    app.reader()
    rows = app.service.units()
    echo_table(rows, as_json, ["code", "name", "parent_code", "head_login"],
               ["代码", "名称", "上级", "负责人"])


@cli.group()
def person() -> None:
    """人员: 承办人、单位负责人、牵头领导、督查员、管理员。"""


@person.command("add")
@click.argument("login")
@click.argument("name")
@click.option("--unit", "unit_code", help="所在单位代码")
@click.option("--role", "roles", multiple=True,
              help="角色, 可重复: handler 承办人, unit_head 单位负责人, lead_leader 牵头领导, "
                   "supervisor 督查员, admin 管理员")
@click.option("--deputy", help="B 岗人员登录名(本人不在岗时代为办理)")
@click.option("--email")
@click.option("--phone")
@json_option
@click.pass_obj
def person_add(app: App, login, name, unit_code, roles, deputy, email, phone, as_json) -> None:
    """登记人员 LOGIN NAME(LOGIN 为其系统登录名)。"""
    from duban.engine.directory import NewPerson

    spec = NewPerson(login, name, unit_code, tuple(roles), deputy, email, phone)
    row = app.service.add_person(app.actor(), spec)
    echo_record(row, as_json, f"已登记 {row['name']}({row['login']})")


@person.command("away")
@click.argument("login")
@click.option("--until", required=True, help="不在岗至何时, 如 2026-12-05")
@click.option("--deputy", help="B 岗人员(未设定时必填)")
@json_option
@click.pass_obj
def person_away(app: App, login, until, deputy, as_json) -> None:
    """标记人员不在岗, 期间由 B 岗代为办理。"""
    from duban.engine.timeutil import parse_instant

    moment = parse_instant(until, app.service.tz, end_of_day=True)
    row = app.service.set_away(app.actor(), login, moment, deputy)
    echo_record(row, as_json, f"{row['name']} 不在岗至 {until}, 由 {row['deputy_login']} 代办")


@person.command("back")
@click.argument("login")
@json_option
@click.pass_obj
def person_back(app: App, login, as_json) -> None:
    """人员回岗。"""
    row = app.service.set_away(app.actor(), login, None)
    echo_record(row, as_json, f"{row['name']} 已回岗")


@person.command("list")
@click.option("--unit", "unit_code", help="只看某单位")
@json_option
@click.pass_obj
def person_list(app: App, unit_code, as_json) -> None:
    """列出人员。"""
    app.reader()
    rows = app.service.people(unit_code)
    for row in rows:
        row["roles_text"] = ",".join(row["roles"])
    echo_table(rows, as_json, ["login", "name", "unit_code", "roles_text", "deputy_login"],
               ["登录名", "姓名", "单位", "角色", "B岗"])


# -- items ----------------------------------------------------------------------------------

@cli.group()
def item() -> None:
    """督办事项: 交办、查看、办理、留痕。"""


@item.command("new")
@click.option("--title", required=True, help="事项标题")
@click.option("--unit", "lead_unit", required=True, help="牵头(主办)承办单位代码")
@click.option("--deadline", required=True,
              help="办理期限: 日期(2026-12-10)或期限(10个工作日、15天、3个月、2小时)")
@click.option("--workflow", default="standard", show_default=True, help="工作流")
@click.option("--goal", default="", help="目标")
@click.option("--measures", default="", help="工作举措")
@click.option("--source", default="other", show_default=True,
              help="来源: instruction 批示件, meeting 会议议定, key_task 重点工作, "
                   "proposal 建议提案, "
                   "hotline 热线, inspection 巡视整改, petition 信访, other 其他")
@click.option("--leader", help="牵头领导登录名")
@click.option("--co-unit", "co_units", multiple=True, help="协办单位代码, 可重复")
@click.option("--public", is_flag=True, help="在阳光督办公开")
@click.option("--parent", "parent_id", type=int, help="上级事项编号(任务拆解)")
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
    app.write_item(app.service.new_item(app.actor(), spec), as_json)


@item.command("show")
@click.argument("item_id", type=int)
@json_option
@click.pass_obj
def item_show(app: App, item_id, as_json) -> None:
    """查看事项详情及当前可办理的操作。"""
    from duban.engine import views

    login = app.reader()
    row = app.service.item(item_id)
    possible = app.service.possible_events(login, item_id)
    children = app.service.children(item_id)
    if as_json:
        click.echo(views.to_json({**row, "possible_events": [name for name, _ in possible],
                                  "children": children}))
    else:
        click.echo(views.item_detail(app.service.registry, row, app.service.tz, possible,
                                     children))


@item.command("list")
@click.option("--state", help="状态")
@click.option("--unit", "unit_code", help="承办单位代码")
@click.option("--workflow", help="工作流")
@click.option("--open", "open_only", is_flag=True, help="只看未销号的")
@click.option("--limit", type=click.IntRange(1, 10_000), default=200, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@json_option
@click.pass_obj
def item_list(app: App, state, unit_code, workflow, open_only, limit, offset, as_json) -> None:
    """列出事项。"""
    app.reader()
    rows = app.service.items(state=state, unit=unit_code, workflow=workflow,
                             open_only=open_only, limit=limit, offset=offset)
    if as_json:
        from duban.engine import views

        click.echo(views.to_json(rows))
        return
    print_items(app, rows)


@item.command("history")
@click.argument("item_id", type=int)
@json_option
@click.pass_obj
def item_history(app: App, item_id, as_json) -> None:
    """事项的全部留痕记录。"""
    from duban.engine import views

    app.reader()
    events = app.service.history(item_id)
    if as_json:
        click.echo(views.to_json(events))
        return
    row = app.service.item(item_id)
    click.echo("\n".join(views.history_lines(app.service.registry, row, events, app.service.tz)))


@item.command("edit")
@click.argument("item_id", type=int)
@click.option("--title")
@click.option("--goal")
@click.option("--measures")
@json_option
@click.pass_obj
def item_edit(app: App, item_id, title, goal, measures, as_json) -> None:
    """修改事项的标题、目标或工作举措(督查员)。"""
    changes = {k: v for k, v in (("title", title), ("goal", goal), ("measures", measures))
               if v is not None}
    app.write_item(app.service.edit_item(app.actor(), item_id, changes), as_json)


@item.command("fire")
@click.argument("item_id", type=int)
@click.argument("event")
@field_options
@json_option
@click.pass_obj
def item_fire(app: App, item_id, event, as_json, **options) -> None:
    """对事项办理任一事件 EVENT(见 duban workflow show)。"""
    fire_event(app, item_id, event, as_json, options)


@item.command("timers")
@click.argument("item_id", type=int)
@json_option
@click.pass_obj
def item_timers(app: App, item_id, as_json) -> None:
    """事项的定时步骤(提醒、预警、催办)及其状态。"""
    from duban.engine import views
    from duban.engine.timeutil import local_text

    app.reader()
    rows = app.service.timers(item_id)
    if as_json:
        click.echo(views.to_json(rows))
        return
    for row in rows:
        click.echo(f"{local_text(row['due_at'], app.service.tz)}  {row['step']:<22} "
                   f"{row['status']:<10} {row['outcome'] or ''}")


@item.command("events")
@click.argument("item_id", type=int)
@json_option
@click.pass_obj
def item_events(app: App, item_id, as_json) -> None:
    """当前身份对该事项可办理的操作。"""
    possible = app.service.possible_events(app.reader(), item_id)
    if as_json:
        from duban.engine import views

        click.echo(views.to_json([{"event": n, "label": label} for n, label in possible]))
    elif possible:
        click.echo("\n".join(f"{name}\t{label}" for name, label in possible))
    else:
        click.echo("当前无可办理的操作")


def fire_event(app: App, item_id: int, event: str, as_json: bool, options: dict) -> None:
    expected = options.pop("expect_version", None)
    values = {name: value for name, value in options.items()
              if name != "extra_fields" and value is not None}
    values.update(parse_pairs(options.get("extra_fields") or ()))
    row = app.service.fire(app.actor(), item_id, event, values, expected)
    app.write_item(row, as_json, event)


def _event_command(name: str, event: str, help_text: str) -> click.Command:
    @click.argument("item_id", type=int)
    @field_options
    @json_option
    @click.pass_obj
    def command(app: App, item_id, as_json, **options) -> None:
        fire_event(app, item_id, event, as_json, options)

    return click.command(name, help=help_text, short_help=help_text)(command)


for _name, _event, _help in EVENT_COMMANDS:
    cli.add_command(_event_command(_name, _event, _help))


# -- workflows, audit, demo --------------------------------------------------------------------

@cli.group()
def workflow() -> None:
    """工作流定义。"""


@workflow.command("list")
@json_option
@click.pass_obj
def workflow_list(app: App, as_json) -> None:
    """列出工作流。"""
    rows = [{"name": wf.name, "version": wf.version, "label": wf.label,
             "states": len(wf.states), "events": len(wf.events)}
            for wf in app.service.registry.all_latest()]
    echo_table(rows, as_json, ["name", "version", "label", "states", "events"],
               ["名称", "版本", "说明", "状态数", "事件数"])


@workflow.command("show")
@click.argument("name")
@click.option("--mermaid", is_flag=True, help="输出 Mermaid 状态图")
@json_option
@click.pass_obj
def workflow_show(app: App, name, mermaid, as_json) -> None:
    """查看工作流的状态、事件与权限。"""
    from duban.engine import diagram, views
    from duban.engine.access import role_names

    wf = app.service.registry.latest(name)
    if mermaid:
        click.echo(diagram.mermaid(wf), nl=False)
        return
    events = [{"name": e.name, "label": e.label, "source": list(e.source), "dest": e.dest,
               "roles": [r.value for r in e.roles], "requires": list(e.requires),
               "accepts": list(e.accepts)} for e in wf.events]
    if as_json:
        click.echo(views.to_json({"name": wf.name, "version": wf.version, "label": wf.label,
                                  "initial": wf.initial,
                                  "states": [{"name": s.name, "label": s.label, "final": s.final}
                                             for s in wf.states],
                                  "events": events}))
        return
    click.echo(f"{wf.label}({wf.name} v{wf.version}): {wf.description}")
    click.echo("状态: " + "、".join(f"{s.label}({s.name})" for s in wf.states))
    for e in wf.events:
        sources = "任意状态" if "*" in e.source else "、".join(wf.state_label(s) for s in e.source)
        dest = wf.state_label(e.dest) if e.dest else "状态不变"
        labels = "、".join(wf.field_spec(f).label for f in e.requires)
        needs = f"  需填: {labels}" if e.requires else ""
        click.echo(f"  {e.label}({e.name}): {sources} → {dest}  由{role_names(e.roles)}办理{needs}")


@workflow.command("migrate")
@click.argument("name")
@click.option("--from", "from_version", type=int, required=True, help="事项现在的版本")
@click.option("--to", "to_version", type=int, required=True, help="迁移到的版本")
@click.option("--map", "mapping", multiple=True, metavar="旧状态=新状态",
              help="状态对照, 可重复; 同名状态无需给出")
@click.option("--item", "item_ids", type=int, multiple=True, help="只迁移这些事项, 可重复")
@click.option("--dry-run", is_flag=True, help="只检查并列出将迁移的事项数, 不做改动")
@json_option
@click.pass_obj
def workflow_migrate(app: App, name, from_version, to_version, mapping, item_ids, dry_run,
                     as_json) -> None:
    """把运行中的事项从工作流的一个版本迁移到另一版本(按状态对照, 留痕, 重算定时步骤)。"""
    from duban.engine import views
    from duban.engine.errors import InvalidInput

    pairs = {}
    for entry in mapping:
        old, sep, new = entry.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise InvalidInput(f"状态对照应写成 旧状态=新状态: {entry}")
        pairs[old.strip()] = new.strip()
    ids = list(item_ids) or None
    if dry_run:
        app.reader()
        plan = app.service.migration_plan(name, from_version, to_version, pairs, ids)
    else:
        plan = app.service.migrate_workflow(app.actor(), name, from_version, to_version, pairs,
                                            ids)
    if as_json:
        click.echo(views.to_json({"name": plan.name, "from": plan.from_version,
                                  "to": plan.to_version, "items": plan.items,
                                  "moves": {k: list(v) for k, v in plan.moves.items()},
                                  "dry_run": dry_run}))
        return
    verb = "将迁移" if dry_run else "已迁移"
    click.echo(f"{verb} {plan.items} 个事项: {name} "
               f"第{plan.from_version}版 → 第{plan.to_version}版")
    for old, (new, count) in plan.moves.items():
        click.echo(f"  {old} → {new}: {count} 个")


@cli.group()
def calendar() -> None:
    """工作日历: 法定节假日与调休(国务院办公厅每年公布)。"""


@calendar.command("show")
@click.argument("year", type=click.IntRange(1990, 2100))
@json_option
@click.pass_obj
def calendar_show(app: App, year, as_json) -> None:
    """某年的放假与调休安排及工作日数。"""
    from duban.engine import views
    from duban.engine.calendar_view import year_summary

    summary = year_summary(app.service.calendar, year)
    if as_json:
        click.echo(views.to_json(summary))
        return
    status = {"official": "已公布", "provisional": "未公布, 按周一至周五暂计"}[summary["status"]]
    click.echo(f"{year} 年: {status}; 工作日 {summary['working_days']} 天")
    if summary["holidays"]:
        click.echo("放假: " + "、".join(summary["holidays"]))
    if summary["workdays"]:
        click.echo("调休上班: " + "、".join(summary["workdays"]))


@calendar.command("load")
@click.argument("path", type=click.Path(dir_okay=False))
@json_option
@click.pass_obj
def calendar_load(app: App, path, as_json) -> None:
    """加载某年的放假与调休安排(TOML 文件, 管理员), 并重算暂定期限。"""
    from pathlib import Path

    from duban.engine import views

    result = app.service.load_calendar_year(app.actor(), Path(path))
    if as_json:
        click.echo(views.to_json(result))
        return
    click.echo(f"已加载 {result['year']} 年安排({result['source'] or '未注明来源'}): "
               f"工作日 {result['working_days']} 天, 请核对")
    moved = result["moved_items"]
    click.echo(f"重算暂定期限: {len(moved)} 个事项期限变动" + (
        f"(事项 {'、'.join(map(str, moved))})" if moved else ""))


@calendar.command("is-workday")
@click.argument("day")
@json_option
@click.pass_obj
def calendar_is_workday(app: App, day, as_json) -> None:
    """某日是否为工作日。"""
    from duban.engine import views
    from duban.engine.calendar_view import day_answer

    answer = day_answer(app.service.calendar, day)
    if as_json:
        click.echo(views.to_json(answer))
    else:
        note = "(该年安排未公布, 暂按周一至周五计)" if answer["provisional"] else ""
        click.echo(f"{answer['date']} {'是' if answer['workday'] else '不是'}工作日{note}")


@calendar.command("add")
@click.argument("start")
@click.argument("period")
@json_option
@click.pass_obj
def calendar_add(app: App, start, period, as_json) -> None:
    """从 START 起算期限 PERIOD, 如: duban calendar add 2026-02-10 "5 workdays"。"""
    from duban.engine import views
    from duban.engine.calendar_view import deadline_answer

    service = app.service
    answer = deadline_answer(service.calendar, service.tz, start, period,
                             service.settings.closing_time)
    if as_json:
        click.echo(views.to_json(answer))
    else:
        note = " (暂定: 所跨年份的安排未公布)" if answer["provisional"] else ""
        click.echo(f"期限: {answer['deadline_local']}{note}")


@cli.command()
@click.option("--batch", type=click.IntRange(1, 10_000), default=200, show_default=True,
              help="每批处理的步骤数")
@json_option
@click.pass_obj
def tick(app: App, batch, as_json) -> None:
    """处理一次到期的定时步骤(提醒、预警、催办); 配合 --now 可模拟时间。"""
    from duban.engine import views

    report = app.service.tick(batch_size=batch)
    if as_json:
        click.echo(views.to_json({**report.__dict__}))
        return
    for step in report.steps:
        late = f", 迟 {step['late_seconds']} 秒" if step["late_seconds"] else ""
        click.echo(f"事项 {step['item_id']} {step['step']}: {step['status']} "
                   f"{step['note'] or ''}{late}")
    click.echo(f"触发 {report.fired}, 跳过 {report.skipped}, 取消 {report.cancelled}, "
               f"失败 {report.failed}")


@cli.command()
@click.option("--interval", type=click.FloatRange(1, 3600), default=30, show_default=True,
              help="两次处理之间的秒数")
@click.option("--batch", type=click.IntRange(1, 10_000), default=200, show_default=True)
@click.option("--no-send", is_flag=True, help="只处理定时步骤, 不发送通知")
@click.pass_obj
def daemon(app: App, interval, batch, no_send) -> None:
    """后台常驻: 启动时及每隔 --interval 秒处理到期步骤并发送通知; SIGTERM 处理完当前一批后退出。"""
    from duban.engine.daemon import run_daemon

    run_daemon(app.service, interval=interval, batch_size=batch, send=not no_send)


@cli.group()
def audit() -> None:
    """审计: 全程留痕, 可检查、可追溯。"""


@audit.command("verify")
@json_option
@click.pass_obj
def audit_verify(app: App, as_json) -> None:
    """校验整条审计链与签名检查点; 发现问题时以非零状态退出。"""
    from duban.engine import views

    report = app.service.verify_audit()
    if as_json:
        click.echo(views.to_json({**report.__dict__, "ok": report.ok}))
    else:
        click.echo(
            f"已校验 {report.rows_checked} 条事件、{report.checkpoints_checked} 个签名检查点"
        )
        click.echo(f"链头: 序号 {report.head_seq}, 哈希 {report.head_hash[:16]}…")
        if report.ok:
            click.echo("审计链完整, 未发现篡改")
        else:
            click.echo(f"发现问题, 最早出错序号: {report.first_bad_seq}")
            for problem in report.problems:
                click.echo(f"  - {problem}")
    if not report.ok:
        sys.exit(integrity_exit_code())


@audit.command("rebuild")
@click.option("--item", "item_id", type=int, help="只检查某一事项")
@json_option
@click.pass_obj
def audit_rebuild(app: App, item_id, as_json) -> None:
    """由审计事件重建事项, 与库中现状逐项比对。"""
    from duban.engine import views

    report = app.service.check_rebuild(item_id)
    if as_json:
        click.echo(views.to_json({**report.__dict__, "ok": report.ok}))
    else:
        click.echo(f"已重建并比对 {report.items_checked} 个事项")
        click.echo("全部一致" if report.ok else "\n".join(f"  - {m}" for m in report.mismatches))
    if not report.ok:
        sys.exit(integrity_exit_code())


def integrity_exit_code() -> int:
    from duban.engine.errors import IntegrityFailure

    return IntegrityFailure.exit_code


@cli.command()
@click.option("--db", "demo_db", help="演示库路径(默认在数据目录下的 demo.db)")
@click.pass_obj
def demo(app: App, demo_db) -> None:
    """建立一个市教育局的演示库, 走一遍交办、办理、预警、约谈、问责与销号。"""
    from duban.engine.demo import run_demo

    run_demo(demo_db, config=app.config, echo=click.echo)


# -- output helpers ------------------------------------------------------------------------------

def echo_record(row: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        from duban.engine import views

        click.echo(views.to_json(row))
    else:
        click.echo(text)


def echo_table(rows: list[dict[str, Any]], as_json: bool, keys: list[str],
               headers: list[str]) -> None:
    if as_json:
        from duban.engine import views

        click.echo(views.to_json(rows))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*headers)
    for row in rows:
        table.add_row(*["" if row.get(k) is None else str(row.get(k)) for k in keys])
    Console().print(table)


def print_items(app: App, rows: list[dict[str, Any]]) -> None:
    from duban.engine.timeutil import local_text
    from duban.engine.views import state_label

    service = app.service
    data = [{"id": r["id"], "title": r["title"], "state": state_label(service.registry, r),
             "unit": r["lead_unit"], "deadline": local_text(r["current_deadline"], service.tz)}
            for r in rows]
    echo_table(data, False, ["id", "title", "state", "unit", "deadline"],
               ["编号", "标题", "状态", "承办单位", "期限"])


from duban.commands.ledger import COMMANDS as LEDGER_COMMANDS  # noqa: E402  (only click imported)
from duban.notifiers.commands import notices  # noqa: E402

cli.add_command(notices)
for _command in LEDGER_COMMANDS:
    cli.add_command(_command)


def main() -> None:
    """Entry point: one clear line and a distinct exit code for every expected failure."""
    debug = "--debug" in sys.argv
    try:
        cli.main(standalone_mode=False, prog_name="duban")
    except click.exceptions.Abort:
        click.echo("已取消", err=True)
        sys.exit(1)
    except click.ClickException as err:
        hint = ""
        if isinstance(err, click.UsageError) and err.ctx is not None:
            hint = f" (用法见 {err.ctx.command_path} --help)"
        click.echo(f"错误: {err.format_message()}{hint}", err=True)
        sys.exit(err.exit_code)
    except SystemExit:
        raise
    except Exception as err:
        if debug:
            raise
        sys.exit(report_failure(err))


def report_failure(err: Exception) -> int:
    from duban.engine.errors import DubanError

    if isinstance(err, DubanError):
        click.echo(f"错误: {err.message}", err=True)
        return err.exit_code
    try:
        from sqlalchemy.exc import DBAPIError, OperationalError
    except ImportError:  # pragma: no cover
        DBAPIError = OperationalError = ()  # noqa: N806
    if isinstance(err, OperationalError):
        click.echo(f"错误: 数据库无法使用: {str(err.orig).splitlines()[0]}", err=True)
        return 7
    if isinstance(err, DBAPIError):
        click.echo(f"错误: 数据库拒绝了操作: {str(err.orig).splitlines()[0]}", err=True)
        return 5
    click.echo(f"内部错误: {type(err).__name__}: {err} (加 --debug 查看详情)", err=True)
    return EXIT_INTERNAL


if __name__ == "__main__":
    main()
