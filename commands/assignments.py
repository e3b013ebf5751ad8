"""``duban inspector …`` and ``duban evaluation …``: outside eyes on the items."""

from __future__ import annotations

import click

from duban.commands.context import App
from duban.commands.options import ID, json_option
from duban.commands.output import echo_json, echo_record


@click.group()
def inspector() -> None:
    """特邀督查员: 指派其督查的事项(只读)。"""


@inspector.command("assign")
@click.argument("item_id", type=ID)
@click.argument("login")
@json_option
@click.pass_obj
def inspector_assign(app: App, item_id, login, as_json) -> None:
    """指派特邀督查员 LOGIN 督查事项 ITEM_ID(督查员)。"""
    row = app.service.assign_inspector(app.actor(), item_id, login)
    echo_record(row, as_json, f"已指派 {login} 督查事项 {item_id}")


@click.group()
def evaluation() -> None:
    """第三方评估: 设立评估, 评估人员对其事项评价。"""


@evaluation.command("new")
@click.argument("name")
@click.option("--item", "item_ids", type=ID, multiple=True, required=True, help="事项编号, 可重复")
@click.option("--evaluator", "evaluators", multiple=True, required=True, help="评估人员, 可重复")
@json_option
@click.pass_obj
def evaluation_new(app: App, name, item_ids, evaluators, as_json) -> None:
    """设立第三方评估 NAME(督查员)。"""
    made = app.service.create_evaluation(app.actor(), name, item_ids, evaluators)
    echo_record(made, as_json, f"已设立评估“{made['name']}”: {len(made['items'])} 个事项, "
                               f"{len(made['evaluators'])} 位评估人员")


@evaluation.command("rate")
@click.argument("name")
@click.argument("item_id", type=ID)
@click.option("--rating", required=True, help="优秀、良好、一般或较差")
@click.option("--note", help="评价说明")
@json_option
@click.pass_obj
def evaluation_rate(app: App, name, item_id, rating, note, as_json) -> None:
    """评估人员对评估 NAME 中的事项 ITEM_ID 作出评价。"""
    row = app.service.rate(app.actor(), name, item_id, rating, note)
    echo_record(row, as_json, f"已评价事项 {item_id}: {row['rating']}")


@evaluation.command("show")
@click.argument("name")
@json_option
@click.pass_obj
def evaluation_show(app: App, name, as_json) -> None:
    """评估的事项与各评估人员的评价(督查员与该评估人员)。"""
    found = app.service.evaluation(app.actor(), name)
    if as_json:
        echo_json(found)
        return
    click.echo(f"评估“{found['name']}”: 事项 {'、'.join(map(str, found['items']))}; "
               f"评估人员 {'、'.join(found['evaluators'])}")
    for row in found["ratings"]:
        click.echo(f"  事项 {row['item_id']} {row['login']}: {row['rating']} {row['note'] or ''}")


COMMANDS = (inspector, evaluation)
