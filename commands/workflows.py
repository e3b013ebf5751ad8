"""``duban workflow …``: the workflows, their diagrams, migrating items between versions."""

from __future__ import annotations

from typing import Any

import click

from duban.commands.context import App
from duban.commands.options import ID, exclusive, json_option
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
    exclusive(mermaid=mermaid, json=as_json)
    view = app.service.workflow_view(name)
    if mermaid:
        from duban.engine import diagram

        click.echo(diagram.mermaid(app.service.registry.latest(name)), nl=False)
        return
    if as_json:
        echo_json({"name": view["name"], "version": view["version"], "label": view["label"],
                   "initial": view["initial"], "states": view["states"],
                   "events": [{key: e[key] for key in JSON_EVENT_KEYS} for e in view["events"]],
                   "timers": timers_with_notice_labels(app, view["timers"])})
        return
    click.echo(f"{view['label']}({view['name']} v{view['version']}): {view['description']}")
    click.echo("状态: " + "、".join(f"{s['label']}({s['name']})" for s in view["states"]))
    for e in view["events"]:
        sources = "任意状态" if e["any_state"] else "、".join(e["source_labels"])
        dest = e["dest_label"] or "状态不变"
        needs = f"  需填: {'、'.join(e['requires_labels'])}" if e["requires"] else ""
        click.echo(f"  {e['label']}({e['name']}): {sources} → {dest}  "
                   f"由{e['role_labels']}办理{needs}")
    if view["timers"]:
        click.echo("定时步骤:")
    for t in timers_with_notice_labels(app, view["timers"]):
        click.echo(f"  {t['label']}({t['step']}): {t['when']}; {timer_action(t)}; "
                   f"适用于{'、'.join(t['state_labels'])}"
                   + ("; 期限已过则跳过" if t["skip_after_deadline"] else ""))


def timer_action(timer: dict[str, Any]) -> str:
    """What a timer step does, in words: the event it fires, the notice and its readers."""
    done = []
    if timer["fire"]:
        shown = "、".join(f"{label}: {value}" for label, value in timer["value_labels"].items()
                         if label != "理由")
        done.append(f"办理“{timer['fire_label']}”" + (f"({shown})" if shown else ""))
    if timer["notice"]:
        cc = f", 抄送{'、'.join(timer['cc_labels'])}" if timer["cc_labels"] else ""
        done.append(f"发{timer['notice_label']}给{'、'.join(timer['to_labels'])}{cc}")
    return ", ".join(done)


def timers_with_notice_labels(app: App, timers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The timer steps with ``notice_label``, the name the notice's template gives it."""
    labels = notice_labels(app, {t["notice"] for t in timers if t["notice"]})
    return [{**t, "notice_label": labels.get(t["notice"]) if t["notice"] else None}
            for t in timers]


def notice_labels(app: App, kinds: set[str]) -> dict[str, str]:
    from duban.notifiers.kinds import labels

    return labels(template_folder(app), kinds)


def template_folder(app: App) -> Any:
    """The admin's own templates folder, if the settings name one."""
    from duban.engine.errors import DubanError
    from duban.notifiers.config import notice_config

    try:
        return notice_config(app.service.settings).templates_dir
    except DubanError:  # the settings' own problem, said by the commands that send notices
        return None


@workflow.command("check")
@click.argument("folder", metavar="DIR")
@json_option
def workflow_check(folder, as_json) -> None:
    """检查工作流目录 DIR: 逐个单独加载每个文件, 不需要数据库; 全部可用时退出码为 0, 否则为 2。"""
    from duban import workflows
    from duban.engine.errors import InvalidInput
    from duban.engine.userfiles import checked_path
    from duban.engine.workflow_files import PACKAGED, load_folder, packaged

    path = checked_path(folder)
    if not path.is_dir():
        raise InvalidInput(f"工作流目录 {path} 不存在或不是目录")
    shipped = {(wf.name, wf.version): PACKAGED for wf in packaged(workflows)}
    files = load_folder(path, shipped, keep=False)
    if as_json:
        echo_json([{"file": str(f.path), "ok": f.ok,
                    "workflows": [{"name": wf.name, "version": wf.version, "label": wf.label}
                                  for wf in f.declared] if f.ok else [],
                    "problems": [{"line": p.line, "message": p.message} for p in f.problems]}
                   for f in files])
    elif not files:
        click.echo(f"目录 {path} 中没有工作流文件(*.py, 不以 _ 开头)")
    else:
        for f in files:
            for wf in f.declared if f.ok else ():
                click.echo(f"✓ {wf.name} v{wf.version} ({wf.label})  {f.path}")
            for problem in f.problems:
                click.echo(f"✗ {f.place(problem)} {problem.message}")
        bad = sum(not f.ok for f in files)
        click.echo(f"共 {len(files)} 个文件: {len(files) - bad} 个可用"
                   + (f", {bad} 个有错(使用时将被跳过)" if bad else ""))
    if any(not f.ok for f in files):
        raise SystemExit(InvalidInput.exit_code)


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
