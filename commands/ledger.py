"""``duban ledger``, ``assess``, ``circular`` and ``import``: what the office reads and sends
from the whole database."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import click

from duban.commands.context import App
from duban.commands.options import OFFSET, Number, json_option, period_option
from duban.commands.output import echo_json

STYLES = {"green": "green", "yellow": "yellow", "red": "bold red", "": "dim"}
# A spreadsheet opening a CSV runs a cell starting like this as a formula (OWASP's list).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _period(text: str | None):
    """The period an option names; None only when the option was not given (an empty
    ``--period ''`` is a period nobody can read, refused like any other)."""
    from duban.engine.periods import parse_period

    return parse_period(text) if text is not None else None


@click.command("ledger")
@click.option("--unit", help="责任单位代码")
@click.option("--leader", help="牵头领导登录名")
@click.option("--state", help="状态, 如 in_progress")
@click.option("--source", help="来源, 如 instruction(批示件)、hotline、inspection")
@click.option("--workflow", help="工作流")
@click.option("--overdue", is_flag=True, help="只看逾期未办结的")
@click.option("--period", help="完成时限落在某时段: 2026-11、2026-Q4、2026-H2、2026")
@click.option("--open", "open_only", is_flag=True, help="只看未销号的")
@click.option("--zero", is_flag=True, help="清零视图: 各单位未销号事项, 多的在前, 最早的在前")
@click.option("--limit", type=Number(1, 100_000), default=200, show_default=True)
@click.option("--offset", type=OFFSET, default=0)
@click.option("--csv", "as_csv", is_flag=True, help="以 CSV 输出")
@click.option("--xlsx", type=click.Path(path_type=Path),
              help="导出 Excel(台账、清零、跟踪问效各一页; 不分页)")
@json_option
@click.pass_obj
def ledger(app: App, unit, leader, state, source, workflow, overdue, period, open_only, zero,
           limit, offset, as_csv, xlsx, as_json) -> None:
    """督办台账: 每个事项的时限、剩余工作日、颜色、跟踪问效与下一步由谁办理。"""
    from duban.engine.ledger import LedgerFilter

    service, actor = app.service, app.actor()
    if zero:
        clear = service.clear_to_zero(actor)
        if as_json:
            echo_json(clear)
        else:
            _print_zero(clear, service.tz)
        return
    flt = LedgerFilter(unit=unit, leader=leader, state=state, source=source, workflow=workflow,
                       overdue=overdue, period=_period(period), open_only=open_only)
    if xlsx is not None:
        written = service.export_ledger(actor, flt, xlsx)
        click.echo(f"已导出 {written} 个事项到 {xlsx}")
        return
    rows, total = service.ledger_page(actor, flt, limit=limit, offset=offset)
    if as_json:
        echo_json({"total": total, "items": rows})
    elif as_csv:
        _write_csv(rows, service.tz)
    else:
        _print_ledger(rows, total, offset, service.tz)


def _write_csv(rows: list[dict[str, Any]], tz: Any) -> None:
    from duban.engine.ledger import COLOURS, FOLLOW_UP
    from duban.engine.timeutil import local_text

    out = csv.writer(sys.stdout)
    out.writerow(["编号", "事项", "来源", "状态", "责任单位", "协办单位", "牵头领导", "原定时限",
                  "完成时限", "暂定", "剩余工作日", "颜色", "跟踪问效", "最新进展", "下一步由",
                  "佐证材料"])
    for row in rows:
        values = (row["id"], row["title"], row["source_label"], row["state_label"],
                  row["lead_unit_name"], "、".join(row["co_unit_names"]),
                  row["lead_leader"] or "", local_text(row["original_deadline"], tz),
                  local_text(row["current_deadline"], tz),
                  "是" if row["deadline_provisional"] else "", row["workdays_left"],
                  COLOURS[row["colour"]], FOLLOW_UP[row["follow_up"]],
                  row["last_progress"], row["next_actor"], row["evidence_count"])
        out.writerow([_as_text(value) for value in values])


def _as_text(value: Any) -> Any:
    """Users' text as text: one starting like a formula gets OWASP's leading quote, so a
    spreadsheet shows it instead of running it. Numbers (ids, counts, negative working days)
    are not text and stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _print_ledger(rows: list[dict[str, Any]], total: int, offset: int, tz: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from duban.engine.ledger import COLOURS, FOLLOW_UP
    from duban.engine.timeutil import local_text

    table = Table("编号", "事项", "来源", "状态", "责任单位", "完成时限", "剩余", "色",
                  "跟踪问效", "下一步", title=f"督办台账 (共 {total} 项)")
    for row in rows:
        deadline = local_text(row["current_deadline"], tz)[:10]
        if row["deadline_provisional"]:
            deadline += "(暂定)"
        left = row["workdays_left"]
        title = row["title"]
        if row["children"]:
            title += f" (子任务 {row['children']['closed']}/{row['children']['total']})"
        table.add_row(str(row["id"]), title, row["source_label"], row["state_label"],
                      row["lead_unit_name"], deadline, f"逾期{-left}" if left < 0 else str(left),
                      COLOURS[row["colour"]], FOLLOW_UP[row["follow_up"]], row["next_actor"],
                      style=STYLES[row["colour"]])
    Console(width=160).print(table)
    if offset + len(rows) < total:
        click.echo(f"第 {offset + 1}-{offset + len(rows)} 项; 用 --offset {offset + len(rows)} "
                   "看下一页")


def _print_zero(clear: list[dict[str, Any]], tz: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from duban.engine.timeutil import local_text

    table = Table("单位", "未销号", "逾期", "最早时限", "最早的事项", title="清零视图")
    for unit in clear:
        oldest = "；".join(f"{i['id']} {i['title']}" for i in unit["items"][:3])
        table.add_row(unit["unit_name"], str(unit["open"]), str(unit["overdue"]),
                      local_text(unit["oldest"], tz)[:10], oldest,
                      style="bold red" if unit["overdue"] else None)
    Console(width=160).print(table)


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@click.command("assess")
@period_option()
@click.option("--by", type=click.Choice(["unit", "leader", "category"]), default="unit",
              show_default=True, help="按单位排名, 或按牵头领导、问题类别(巡视整改)列出")
@json_option
@click.pass_obj
def assess(app: App, period, by, as_json) -> None:
    """考核: 按设置的权重给各单位打分、排名, 并与上一时段比较。"""
    from rich.console import Console
    from rich.table import Table

    service, actor = app.service, app.actor()
    chosen = _period(period)
    if by != "unit":
        rows = service.period_figures(actor, chosen, by=by)
        if as_json:
            echo_json([row.as_json() for row in rows])
            return
        heading = "牵头领导" if by == "leader" else "问题类别"
        table = Table(heading, "到期", "按期办结率", "逾期", "预警", "约谈", "问责",
                      title=f"{chosen.label} 按{heading}")
        for row in rows:
            table.add_row(row.name, str(row.items), _rate(row.on_time_rate), str(row.overdue),
                          str(row.count("warn:yellow") + row.count("warn:red")),
                          str(row.count("summon")), str(row.count("hold_accountable")))
        Console(width=160).print(table)
        return
    result = service.assess(actor, chosen)
    if as_json:
        echo_json({"period": chosen.code, "label": chosen.label,
                   "standings": [s.as_json() for s in result.standings],
                   "total": result.total.as_json()})
        return
    table = Table("排名", "单位", "到期", "按期办结率", "按时签收率", "逾期", "黄/红预警", "约谈",
                  "问责", "重办率", "满意率", "得分", "较上期", title=f"{chosen.label} 考核")
    for s in result.standings:
        f = s.figures
        change = "—" if s.change is None else f"{s.change:+.1f}"
        if s.previous_rank is not None:
            change += f" (上期第{s.previous_rank})"
        table.add_row(str(s.rank), f.name, str(f.items), _rate(f.on_time_rate),
                      _rate(f.signing_rate), str(f.overdue),
                      f"{f.count('warn:yellow')}/{f.count('warn:red')}", str(f.count("summon")),
                      str(f.count("hold_accountable")), _rate(f.redo_rate),
                      _rate(f.satisfaction_rate), f"{s.score:.1f}", change)
    Console(width=180).print(table)
    total = result.total
    line = (f"合计: 到期 {total.items} 件, 按期办结率 {_rate(total.on_time_rate)}, "
            f"逾期 {total.overdue}")
    if total.instructions:
        line += f"; 领导批示件按期办结率 {_rate(total.instruction_rate)} (目标 100%)"
    click.echo(line)


@click.command("circular")
@period_option()
@json_option
@click.pass_obj
def circular(app: App, period, as_json) -> None:
    """通报: 按考核结果生成通报(排名、表扬、点名逾期事项), 编号并作为通知发送。"""
    actor = app.actor()
    result = app.service.circular(actor, _period(period))
    if as_json:
        echo_json(result)
        return
    click.echo(app.service.notice(actor, result["notice"])["body_text"], nl=False)
    click.echo(f"—— 已生成通知 #{result['notice']}, 发送给 {len(result['to'])} 个单位负责人")


@click.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--workflow", default="standard", show_default=True, help="导入事项所用工作流")
@json_option
@click.pass_obj
def import_(app: App, path, workflow, as_json) -> None:
    """导入任务清单(Excel): 先检查全表并一次性告知所有问题, 全部无误才导入。"""
    # the engine refuses a missing, unreadable or malformed file (engine/workbooks.py)
    progress, finish = _progress_bar()
    try:
        created = app.service.import_task_list(app.actor(), path, workflow=workflow,
                                               progress=progress)
    finally:
        finish()
    if as_json:
        echo_json({"created": created})
    else:
        click.echo(f"已导入 {len(created)} 个事项(编号 {created[0]}-{created[-1]})"
                   if created else "没有导入任何事项")


def _progress_bar():
    """A progress bar on a terminal's stderr; nothing when output is not a terminal."""
    if not sys.stderr.isatty():
        return (lambda stage, done, total: None), (lambda: None)
    from rich.progress import Progress

    bar = Progress(transient=True, console=None)
    tasks: dict[str, Any] = {}
    bar.start()

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=max(total, 1))
        bar.update(tasks[stage], completed=done, total=max(total, 1))

    return update, bar.stop


COMMANDS = (ledger, assess, circular, import_)
