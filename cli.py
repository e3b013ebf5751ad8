"""duban 命令行: the ``duban`` group, its global options, and how a failure becomes an exit code.

The commands live in ``duban.commands``, one module per group; each reads its options, calls
one service method and formats what comes back. Every expected failure is a
:class:`duban.engine.errors.DubanError` carrying its one-line message and its exit code.

The global options (``--db``, ``--as``, ``--now``, ``--config``, ``--token``, ``--debug`` and
``--json``) may be given before the command or after it: ``duban --json item show 1`` and
``duban item show 1 --json`` are the same command.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any, NoReturn

import click

from duban.commands import click_zh
from duban.commands.context import App

click_zh.install()
# The commands of each module of duban.commands (its COMMANDS). A command's module is imported
# when the command is used: a state change needs ``items`` alone, and each module costs every
# start-up its time. Help, completion and an unknown name import them all; a name missing here
# is found that way too (tests/cli/test_startup.py checks the table against the modules).
COMMAND_MODULES = {
    "setup": ("init",),
    "directory": ("unit", "person"),
    "accounts": ("account", "token"),
    "items": ("item", "sign", "decline", "transfer", "progress", "report", "verify", "reject",
              "close", "extend", "approve-extension", "deny-extension", "warn", "summon",
              "hold-accountable", "exempt", "visit"),
    "evidence": ("evidence",),
    "assignments": ("inspector", "evaluation"),
    "workflows": ("workflow",),
    "calendar": ("calendar",),
    "timers": ("tick", "daemon"),
    "audit": ("audit",),
    "notices": ("notices",),
    "ledger": ("ledger", "assess", "circular", "import"),
    "public": ("board", "draw", "draws"),
    "demo": ("demo",),
    "web": ("serve",),
    "completion": ("completion",),
}
MODULE_OF = {name: module for module, names in COMMAND_MODULES.items() for name in names}
# (option, App attribute, help): each also accepted after the command, where a command of its
# own does not use the same name
GLOBAL_OPTIONS = (
    ("--db", "db", "数据库: SQLite 文件路径或 PostgreSQL 地址"),
    ("--as", "act_as", "以某人身份操作(仅管理员或演示库)"),
    ("--now", "now_text", "设定本次命令的当前时间(模拟与回放用)"),
    ("--config", "config", "配置文件路径"),
    ("--token", "token", "以 API 令牌代表的人员身份操作(代替系统登录名)"),
)


class LazyGroup(click.Group):
    """The ``duban`` group: it imports a command's module when the command is asked for."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            module = MODULE_OF.get(cmd_name)
            for each in (module,) if module else COMMAND_MODULES:
                _load(each)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        for module in COMMAND_MODULES:
            _load(module)
        return super().list_commands(ctx)


@click.group(cls=LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", help=GLOBAL_OPTIONS[0][2])  # DUBAN_DB is read below the settings file
@click.option("--as", "act_as", envvar="DUBAN_AS", help=GLOBAL_OPTIONS[1][2])
@click.option("--now", envvar="DUBAN_NOW", help=GLOBAL_OPTIONS[2][2])
@click.option("--config", envvar="DUBAN_CONFIG", help=GLOBAL_OPTIONS[3][2])
@click.option("--token", envvar="DUBAN_TOKEN", help=GLOBAL_OPTIONS[4][2])
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出(出错时也是 JSON, 在标准输出)")
@click.option("--debug", is_flag=True, help="出错时显示完整调用栈")
@click.version_option(package_name="duban", message="duban %(version)s",
                      help="显示版本并退出。")
@click.pass_context
def cli(ctx: click.Context, db, act_as, now, config, token, as_json, debug) -> None:
    """duban 督查督办: 交办、催办、预警、约谈、问责, 全程留痕。

    全局选项(--db、--as、--now、--config、--token、--json、--debug)写在命令前后均可。
    """
    ctx.obj = App(db, act_as, now, config, debug, token)
    ctx.obj.json = as_json


def _every_command(command: click.Command):
    yield command
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            yield from _every_command(sub)


def _setter(attribute: str):
    def store(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None and value is not False:
            setattr(ctx.ensure_object(App), attribute, value)
    return store


def _no_json_output(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """``--json`` on a command that prints no JSON is refused rather than ignored."""
    if value or ctx.ensure_object(App).json:
        raise click.UsageError(f"{ctx.command_path} 没有 JSON 输出, 请去掉 --json", ctx)


def _accept_global_options(command: click.Command) -> None:
    """Let a command take the group's options after its own name too (hidden from its help,
    which points at ``duban --help``)."""
    taken = {opt for param in command.params for opt in getattr(param, "opts", ())}
    for option, attribute, help_text in GLOBAL_OPTIONS:
        if option not in taken:
            command.params.append(click.Option([option], expose_value=False, hidden=True,
                                               callback=_setter(attribute), help=help_text))
    if "--debug" not in taken:
        command.params.append(click.Option(["--debug"], is_flag=True, expose_value=False,
                                           hidden=True, callback=_setter("debug")))
    if "--json" not in taken:  # a group passes it on; a command without JSON refuses it
        refuse = not isinstance(command, click.Group)
        command.params.append(click.Option(
            ["--json"], is_flag=True, expose_value=False, hidden=True,
            callback=_no_json_output if refuse else _setter("json")))


def _usage_in_chinese(command: click.Command) -> None:
    command.options_metavar = "[选项]"
    for param in command.params:  # a path's type took its name ("path") when it was made
        if isinstance(param.type, click.Path):
            param.type.name = click_zh.gettext(param.type.name)
    if isinstance(command, click.Group):
        command.subcommand_metavar = "命令 [参数]..."
        for sub in command.commands.values():
            _usage_in_chinese(sub)


_loaded: set[str] = set()


def _load(module: str) -> None:
    """Add the commands of one module of duban.commands to the group, ready for use."""
    if module in _loaded:
        return
    _loaded.add(module)
    for command in importlib.import_module(f"duban.commands.{module}").COMMANDS:
        cli.add_command(command)
        for each in _every_command(command):
            _accept_global_options(each)
        _usage_in_chinese(command)


_usage_in_chinese(cli)


def main() -> None:
    """Entry point: one clear line and a distinct exit code for every expected failure."""
    debug = "--debug" in sys.argv
    wants_json = "--json" in sys.argv[1:]
    undecodable = next((arg for arg in sys.argv[1:] if not _utf8(arg)), None)
    if undecodable is not None:  # bytes the terminal's encoding did not make text of
        from duban.engine.validation import shown

        fail(f"参数“{shown(undecodable)}”含有不是 UTF-8 文本的字节, 请检查终端编码",
             "invalid_input", 2, wants_json)
    try:
        cli.main(standalone_mode=False, prog_name="duban")
    except click.exceptions.Abort:
        fail("已取消", "cancelled", 1, wants_json, prefix="")
    except click.exceptions.NoArgsIsHelpError as err:  # a group without its command
        if wants_json:
            fail(f"缺少命令 (用法见 {err.ctx.command_path} --help)", "invalid_input", 2, True)
        click.echo(err.ctx.get_help(), err=True)
        sys.exit(err.exit_code)
    except click.ClickException as err:
        hint = ""
        if isinstance(err, click.UsageError) and err.ctx is not None:
            hint = f" (用法见 {err.ctx.command_path} --help)"
        code = "invalid_input" if isinstance(err, click.UsageError) else "error"
        fail(click_zh.one_line(err.format_message()) + hint, code, err.exit_code, wants_json)
    except SystemExit:
        raise
    except Exception as err:
        if debug:
            raise
        message, code, exit_code = describe_failure(err)
        internal = code == "internal"  # its line says so itself
        fail(message, code, exit_code, wants_json, prefix="" if internal else None)


def fail(message: str, code: str, exit_code: int, as_json: bool, *,
         prefix: str | None = None) -> NoReturn:
    """End the command: one line on stderr, or with ``--json`` one JSON object on stdout."""
    if as_json:
        click.echo(json.dumps({"error": message, "code": code, "exit_code": exit_code},
                              ensure_ascii=False))
    else:
        click.echo(f"{'错误: ' if prefix is None else prefix}{message}", err=True)
    sys.exit(exit_code)


def _utf8(arg: str) -> bool:
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def describe_failure(err: Exception) -> tuple[str, str, int]:
    """What a failure means to a user: its one line, a code for programs, the exit code."""
    from duban.engine.errors import DubanError, InternalError, from_database_error

    failure = err if isinstance(err, DubanError) else from_database_error(err)
    if failure is None:
        return (f"内部错误: {type(err).__name__}: {err} (加 --debug 查看详情)",
                InternalError.code, InternalError.exit_code)
    return failure.message, failure.code, failure.exit_code


if __name__ == "__main__":
    main()
