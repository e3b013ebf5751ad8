"""``duban tick`` and ``duban daemon``: the timers, by hand or in the background."""

from __future__ import annotations

from pathlib import Path

import click

from duban.commands.context import App
from duban.commands.options import Number, Seconds, json_option
from duban.commands.output import echo_json

LOG_LEVELS = ("debug", "info", "warning", "error")  # app.daemon.LOG_LEVELS, without importing it


@click.command()
@click.option("--batch", type=Number(1, 10_000), default=200, show_default=True,
              help="每批处理的步骤数")
@json_option
@click.pass_obj
def tick(app: App, batch, as_json) -> None:
    """处理一次到期的定时步骤(提醒、预警、催办); 配合 --now 可模拟时间。"""
    report = app.service.tick(batch_size=batch)
    if as_json:
        echo_json(report.as_json())
        return
    for step in report.steps:
        late = f", 迟 {step['late_seconds']} 秒" if step["late_seconds"] else ""
        click.echo(f"事项 {step['item_id']} {step['step']}: {step['status']} "
                   f"{step['note'] or ''}{late}")
    click.echo(f"触发 {report.fired}, 跳过 {report.skipped}, 取消 {report.cancelled}, "
               f"失败 {report.failed}")


@click.command()
@click.option("--interval", type=Seconds(1, 3600), default=30, show_default=True,
              help="两次处理之间的秒数")
@click.option("--batch", type=Number(1, 10_000), default=200, show_default=True)
@click.option("--no-send", is_flag=True, help="只处理定时步骤, 不发送通知")
@click.option("--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False),
              default="info", show_default=True, help="日志级别")
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="日志追加写入此文件(默认写到标准错误)")
@click.pass_obj
def daemon(app: App, interval, batch, no_send, log_level, log_file) -> None:
    """后台常驻: 启动时及每隔 --interval 秒处理到期步骤并发送通知; SIGTERM 处理完当前一批后退出。

    日志时间按配置的时区(timezone)记录并注明时差; 数据库连不上时启动即报错退出,
    运行中连不上则记一行日志, 到下次间隔再试。"""
    from duban.app.daemon import run_daemon

    run_daemon(app.service, interval=interval, batch_size=batch, send=not no_send,
               log_level=log_level.lower(), log_file=log_file)


COMMANDS = (tick, daemon)
