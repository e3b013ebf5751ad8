"""``duban workflow …``: the workflows, their diagrams, migrating items between versions."""

from __future__ import annotations

import click

from duban.commands.context import App
from duban.commands.options import ID, json_option
from duban.commands.output import echo_json, echo_table

JSON_EVENT_KEYS = ("name", "label", "source", "dest", "roles", "requires", "accepts")


@click.group()
def workflow() -> None:
    """工作流定义。"""


@workflow.command("list")
@json_option
@click.pass_obj
def workflow_list(app: App, as_json) -> None:
    """列出工作流。"""
    rows = app.service.workflow_list()
    echo_table(rows, as_json, ["name", "version", "label", "states", "events"],
               ["名称", "版本", "说明", "状态数", "事件数"])


@workflow.command("show")
@click.argument("name")
@click.option("--mermaid", is_flag=True, help="输出 Mermaid 状态图")
@json_option
@click.pass_obj
def workflow_show(app: App, name, mermaid, as_json) -> None:
    """查看工作流的状态、事件与权限。"""
    view = app.service.workflow_view(name)
    if mermaid:
        from duban.engine import diagram

        click.echo(diagram.mermaid(app.service.registry.latest(name)), nl=False)
        return
    if as_json:
        echo_json({"name": view["name"], "version": view["version"], "label": view["label"],
                   "initial": view["initial"], "states": view["states"],
                   "events": [{key: e[key] for key in JSON_EVENT_KEYS} for e in view["events"]]})
        return
    click.echo(f"{view['label']}({view['name']} v{view['version']}): {view['description']}")
    click.echo("状态: " + "、".join(f"{s['label']}({s['name']})" for s in view["states"]))
    for e in view["events"]:
        sources = "任意状态" if e["any_state"] else "、".join(e["source_labels"])
        dest = e["dest_label"] or "状态不变"
        needs = f"  需填: {'、'.join(e['requires_labels'])}" if e["requires"] else ""
        click.echo(f"  {e['label']}({e['name']}): {sources} → {dest}  "
                   f"由{e['role_labels']}办理{needs}")


@workflow.command("migrate")
@click.argument("name")
@click.option("--from", "from_version", type=ID, required=True, help="事项现在的版本")
@click.option("--to", "to_version", type=ID, required=True, help="迁移到的版本")
@click.option("--map", "mapping", multiple=True, metavar="旧状态=新状态",
              help="状态对照, 可重复; 同名状态无需给出")
@click.option("--item", "item_ids", type=ID, multiple=True, help="只迁移这些事项, 可重复")
@click.option("--dry-run", is_flag=True, help="只检查并列出将迁移的事项数, 不做改动")
@json_option
@click.pass_obj
def workflow_migrate(app: App, name, from_version, to_version, mapping, item_ids, dry_run,
                     as_json) -> None:
    """把运行中的事项从工作流的一个版本迁移到另一版本(按状态对照, 留痕, 重算定时步骤)。"""
    from duban.engine.errors import InvalidInput

    pairs = {}
    for entry in mapping:
        old, sep, new = entry.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise InvalidInput(f"状态对照应写成 旧状态=新状态: {entry}")
        pairs[old.strip()] = new.strip()
    ids = list(item_ids) or None
    run = app.service.migration_plan if dry_run else app.service.migrate_workflow
    plan = run(app.actor(), name, from_version, to_version, pairs, ids)
    if as_json:
        echo_json({"name": plan.name, "from": plan.from_version, "to": plan.to_version,
                   "items": plan.items, "moves": {k: list(v) for k, v in plan.moves.items()},
                   "dry_run": dry_run})
        return
    verb = "将迁移" if dry_run else "已迁移"
    click.echo(f"{verb} {plan.items} 个事项: {name} "
               f"第{plan.from_version}版 → 第{plan.to_version}版")
    for old, (new, count) in plan.moves.items():
        click.echo(f"  {old} → {new}: {count} 个")


COMMANDS = (workflow,)
