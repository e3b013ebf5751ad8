"""``duban calendar …``: working days, holidays and 调休, deadlines counted in them."""

from __future__ import annotations

from pathlib import Path

import click

from duban.commands.context import App
from duban.commands.options import Number, json_option
from duban.commands.output import echo_json


@click.group()
def calendar() -> None:
    """工作日历: 法定节假日与调休(国务院办公厅每年公布)。"""


@calendar.command("show")
@click.argument("year", type=Number(2000, 2100))  # the years a calendar file may hold
@json_option
@click.pass_obj
def calendar_show(app: App, year, as_json) -> None:
    """某年的放假与调休安排及工作日数。"""
    summary = app.service.calendar_year(app.actor(), year)
    if as_json:
        echo_json(summary)
        return
    status = {"official": "已公布", "provisional": "未公布, 按周一至周五暂计"}[summary["status"]]
    click.echo(f"{year} 年: {status}; 工作日 {summary['working_days']} 天")
    if summary["holidays"]:
        click.echo("放假: " + "、".join(summary["holidays"]))
    if summary["workdays"]:
        click.echo("调休上班: " + "、".join(summary["workdays"]))


@calendar.command("load")
@click.argument("path", type=click.Path(path_type=Path))  # checked by the engine, in Chinese
@json_option
@click.pass_obj
def calendar_load(app: App, path, as_json) -> None:
    """加载某年的放假与调休安排(TOML 文件, 管理员), 并重算暂定期限。"""
    result = app.service.load_calendar_year(app.actor(), path)
    if as_json:
        echo_json(result)
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
    answer = app.service.is_workday(app.actor(), day)
    if as_json:
        echo_json(answer)
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
    answer = app.service.deadline_from(app.actor(), start, period)
    if as_json:
        echo_json(answer)
    else:
        note = " (暂定: 所跨年份的安排未公布)" if answer["provisional"] else ""
        click.echo(f"期限: {answer['deadline_local']}{note}")


COMMANDS = (calendar,)
