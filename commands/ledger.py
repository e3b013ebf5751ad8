"""``duban ledger``, ``assess``, ``circular`` and ``import``: what the office reads and sends
from the whole database."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import click

from duban.commands.context import App
from duban.commands.options import OFFSET, Number, exclusive, json_option, period_option
from duban.commands.output import Column, echo_json, print_table

STYLES = {"green": "green", "yellow": "yellow", "red": "bold red", "": "dim"}
# A spreadsheet opening a CSV runs a cell starting like this as a formula (OWASP's list).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _period(text: str | None):
    """The period an option names; None only when the option was not given (an empty
    ``--period ''`` is a period nobody can read, refused like any other)."""
    from duban.engine.periods import parse_period

    return parse_period(text) if text is not None else None


@click.command("ledger")
@click.option("--unit", help="责任单位: 代码或全称, 如 JJK 或 基础教育科")
@click.option("--leader", help="牵头领导: 登录名或姓名")
@click.option("--state", help="状态: 中文或代码, 如 办理中 或 in_progress")
@click.option("--source", help="来源, 如 instruction(批示件)、hotline、inspection")
@click.option("--workflow", help="工作流: 名称或中文名, 如 standard 或 标准督办")
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

    exclusive(json=as_json, csv=as_csv, xlsx=xlsx)
    if zero:  # the clear-to-zero view has its own columns and takes no filter
        exclusive(zero=zero, csv=as_csv, xlsx=xlsx)
        for name, value in (("unit", unit), ("leader", leader), ("state", state),
                            ("source", source), ("workflow", workflow), ("overdue", overdue),
                            ("period", period), ("open", open_only)):
            exclusive(zero=zero, **{name: value})
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
    from duban.engine.ledger import COLOURS, FOLLOW_UP, shown_workdays_left
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
                  "是" if row["deadline_provisional"] else "", shown_workdays_left(row),
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
    from duban.engine.ledger import COLOURS, FOLLOW_UP
    from duban.engine.timeutil import local_text

    columns = [Column("编号", justify="right"), Column("事项"), Column("来源", 120),
               Column("状态"), Column("责任单位"), Column("完成时限"), Column("剩余"),
               Column("色", 100), Column("跟踪问效", 140), Column("下一步", 100)]
    lines = []
    for row in rows:
        deadline = local_text(row["current_deadline"], tz)[:10]
        if row["deadline_provisional"]:
            deadline += "(暂定)"
        title = row["title"]
        if row["children"]:
            title += f" (子任务 {row['children']['closed']}/{row['children']['total']})"
        lines.append([str(row["id"]), title, row["source_label"], row["state_label"],
                      row["lead_unit_name"], deadline, _days_left(row),
                      COLOURS[row["colour"]], FOLLOW_UP[row["follow_up"]], row["next_actor"]])
    print_table(columns, lines, title=f"督办台账 (共 {total} 项)",
                styles=[STYLES[row["colour"]] for row in rows])
    if offset + len(rows) < total:
        click.echo(f"第 {offset + 1}-{offset + len(rows)} 项; 用 --offset {offset + len(rows)} "
                   "看下一页")


def _days_left(row: dict[str, Any]) -> str:
    """Working days left as a person reads them: none once the item is finished."""
    from duban.engine.ledger import shown_workdays_left

    left = shown_workdays_left(row)
    if left is None:
        return "—"
    return f"逾期{-left}" if left < 0 else str(left)


def _print_zero(clear: list[dict[str, Any]], tz: Any) -> None:
    from duban.engine.timeutil import local_text

    lines = [[unit["unit_name"], str(unit["open"]), str(unit["overdue"]),
              local_text(unit["oldest"], tz)[:10],
              "；".join(f"{i['id']} {i['title']}" for i in unit["items"][:3])] for unit in clear]
    print_table([Column("单位"), Column("未销号", justify="right"),
                 Column("逾期", justify="right"), Column("最早时限", 90), Column("最早的事项")],
                lines, title="清零视图",
                styles=["bold red" if unit["overdue"] else None for unit in clear])


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
    from duban.engine.assessment import signed

    service, actor = app.service, app.actor()
    chosen = _period(period)
    if by != "unit":
        rows = service.period_figures(actor, chosen, by=by)
        if as_json:
            echo_json([row.as_json() for row in rows])
            return
        heading = "牵头领导" if by == "leader" else "问题类别"
        print_table([Column(heading), *(Column(h, justify="right") for h in
                                        ("到期", "按期办结率", "逾期", "预警", "约谈", "问责"))],
                    [[row.name, str(row.items), _rate(row.on_time_rate), str(row.overdue),
                      str(row.count("warn:yellow") + row.count("warn:red")),
                      str(row.count("summon")), str(row.count("hold_accountable"))]
                     for row in rows], title=f"{chosen.label} 按{heading}")
        return
    result = service.assess(actor, chosen)
    if as_json:
        echo_json({"period": chosen.code, "label": chosen.label,
                   "standings": [s.as_json() for s in result.standings],
                   "total": result.total.as_json()})
        return
    columns = [Column("排名", justify="right"), Column("单位"), Column("到期", justify="right"),
               Column("按期办结率", justify="right"), Column("按时签收率", 120, "right"),
               Column("逾期", justify="right"), Column("黄/红预警", 100), Column("约谈", 100),
               Column("问责", 100), Column("重办率", 120, "right"),
               Column("满意率", 120, "right"), Column("得分", justify="right"),
               Column("较上期", 100)]
    lines = []
    for s in result.standings:
        f = s.figures
        change = "—" if s.change is None else signed(s.change)
        if s.previous_rank is not None:
            change += f" (上期第{s.previous_rank})"
        lines.append([str(s.rank), f.name, str(f.items), _rate(f.on_time_rate),
                      _rate(f.signing_rate), str(f.overdue),
                      f"{f.count('warn:yellow')}/{f.count('warn:red')}", str(f.count("summon")),
                      str(f.count("hold_accountable")), _rate(f.redo_rate),
                      _rate(f.satisfaction_rate), f"{s.score:.1f}", change])
    print_table(columns, lines, title=f"{chosen.label} 考核")
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
@click.option("--workflow", default="standard", show_default=True,
              help="导入事项所用工作流(名称或中文名)")
@click.option("--title", help="清单名称, 写入交办通知《…》; 默认按工作流称“标准督办任务清单”等")
@json_option
@click.pass_obj
def import_(app: App, path, workflow, title, as_json) -> None:
    """导入任务清单(Excel): 先检查全表并一次性告知所有问题(每行一处), 全部无误才导入。"""
    from duban.engine.excel import ImportProblems

    # the engine refuses a missing, unreadable or malformed file (engine/workbooks.py)
    progress, finish = _progress_bar()
    try:
        created = app.service.import_task_list(app.actor(), path, workflow=workflow,
                                               title=title, progress=progress)
    except ImportProblems as err:
        finish()
        _report_problems(err, as_json)
    finally:
        finish()
    if as_json:
        echo_json({"created": created})
    else:
        click.echo(f"已导入 {len(created)} 个事项(编号 {_span(created)})"
                   if created else "没有导入任何事项")


def _span(numbers: list[int]) -> str:
    return str(numbers[0]) if len(numbers) == 1 else f"{numbers[0]}-{numbers[-1]}"


def _report_problems(err: Any, as_json: bool) -> None:
    """Every problem of a task list on a line of its own (row, column, what), or as a list."""
    problems = err.problems
    head = f"任务清单有 {len(problems)} 处问题, 未导入任何事项"
    if as_json:
        echo_json({"error": head, "code": "invalid_input", "exit_code": err.exit_code,
                   "problems": [{"row": p.row or None, "column": p.column or None,
                                 "message": p.message} for p in problems]})
    else:
        click.echo(f"错误: {head}:", err=True)
        for problem in problems:
            click.echo(f"  {problem}", err=True)
    sys.exit(err.exit_code)


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
