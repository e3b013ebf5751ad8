"""duban 命令行: the ``duban`` group, its global options, and how a failure becomes an exit code.

The commands live in ``duban.commands``, one module per group; each reads its options, calls
one service method and formats what comes back. Every expected failure is a
:class:`duban.engine.errors.DubanError` carrying its one-line message and its exit code.
"""

from __future__ import annotations

import sys

import click

from duban.commands import (
    accounts,
    assignments,
    audit,
    calendar,
    demo,
    directory,
    evidence,
    items,
    ledger,
    notices,
    public,
    setup,
    timers,
    web,
    workflows,
)
from duban.commands.context import App

GROUPS = (setup, directory, accounts, items, evidence, assignments, workflows, calendar, timers,
          audit, notices, ledger, public, demo, web)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", envvar="DUBAN_DB", help="数据库: SQLite 文件路径或 PostgreSQL 地址")
@click.option("--as", "act_as", envvar="DUBAN_AS", help="以某人身份操作(仅管理员或演示库)")
@click.option("--now", envvar="DUBAN_NOW", help="设定本次命令的当前时间(模拟与回放用)")
@click.option("--config", envvar="DUBAN_CONFIG", help="配置文件路径")
@click.option("--token", envvar="DUBAN_TOKEN", help="以 API 令牌代表的人员身份操作(代替系统登录名)")
@click.option("--debug", is_flag=True, help="出错时显示完整调用栈")
@click.version_option(package_name="duban", message="duban %(version)s")
@click.pass_context
def cli(ctx: click.Context, db, act_as, now, config, token, debug) -> None:
    """duban 督查督办: 交办、催办、预警、约谈、问责, 全程留痕。"""
    ctx.obj = App(db, act_as, now, config, debug, token)


for _group in GROUPS:
    for _command in _group.COMMANDS:
        cli.add_command(_command)


def main() -> None:
    """Entry point: one clear line and a distinct exit code for every expected failure."""
    debug = "--debug" in sys.argv
    undecodable = next((arg for arg in sys.argv[1:] if not _utf8(arg)), None)
    if undecodable is not None:  # bytes the terminal's encoding did not make text of
        from duban.engine.validation import shown

        click.echo(f"错误: 参数“{shown(undecodable)}”含有不是 UTF-8 文本的字节, 请检查终端编码",
                   err=True)
        sys.exit(2)
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


def _utf8(arg: str) -> bool:
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def report_failure(err: Exception) -> int:
    """Print the one line a failure means to a user; return its exit code."""
    from duban.engine.errors import DubanError, InternalError, from_database_error

    failure = err if isinstance(err, DubanError) else from_database_error(err)
    if failure is None:
        click.echo(f"内部错误: {type(err).__name__}: {err} (加 --debug 查看详情)", err=True)
        return InternalError.exit_code
    click.echo(f"错误: {failure.message}", err=True)
    return failure.exit_code


if __name__ == "__main__":
    main()
