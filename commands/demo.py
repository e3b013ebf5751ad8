"""``duban demo``: a municipal education bureau's quarter on a demo database, and with
``--serve`` the portal on it."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from duban.commands.context import App
from duban.commands.options import Number


@click.command()
@click.option("--db", "demo_db", help="演示库路径(默认在数据目录下的 demo.db)")
@click.option("--serve", is_flag=True, help="建好演示库后运行网页门户, 并给出三个可登录的账户")
@click.option("--port", type=Number(1, 65535), default=8000, show_default=True,
              help="与 --serve 同用: 端口")
@click.pass_obj
def demo(app: App, demo_db, serve, port) -> None:
    """建立一个市教育局的演示库, 走一遍交办、办理、预警、约谈、问责与销号。"""
    from rich.console import Console

    from duban.app.demo import run_demo
    from duban.engine.timeutil import local_text, zone

    console = Console(highlight=False)  # the terminal's width, or COLUMNS

    def echo(line: str) -> None:
        # A long line folds at the terminal's width, as the demo's tables do.
        console.print(line, markup=False, emoji=False, overflow="fold")

    result = run_demo(demo_db or app.db, config=app.config, echo=echo, accounts=serve)
    ends = local_text(result.end, zone(result.settings.timezone))
    # paths are printed whole, to be copied
    click.echo("")
    click.echo(f"演示库: {_shown_path(result.path)}")
    click.echo(f"发件箱: {_shown_path(result.outbox)}")
    click.echo(f"设置文件: {_shown_path(result.settings_file)}")
    click.echo(f"审计密钥: {_shown_path(result.settings.audit_key_path)}")
    echo("以上设置与密钥为演示库自用; 正式库及其审计密钥由 duban init 另建。")
    echo(f"继续体验(演示库的时钟停在 {ends}, 命令带上 --now 得出同样的数字):")
    for args in result.suggestions:
        click.echo(command_lines(result.command(args), console.width))
    if not serve:
        return
    from duban.app import build_service
    from duban.engine.clock import FixedClock
    from duban.web.server import run_server

    click.echo("")
    click.echo(f"网页门户: http://127.0.0.1:{port}/ (演示库的时间停在 {ends})")
    for login, who, password in result.logins:
        click.echo(f"  {who}: 登录名 {login}  密码 {password}")
    run_server(build_service(result.settings, FixedClock(result.end)), port=port,
               host="127.0.0.1", workers=1)


def command_lines(argv: list[str], width: int) -> str:
    """A command to copy into a shell, continued with a backslash onto the next line where it
    would not fit the terminal (a line folded by the terminal would not paste as one)."""
    from rich.cells import cell_len

    lines, line = [], "  " + _shell_word(argv[0])
    for word in _option_groups([_shell_word(word) for word in argv[1:]]):
        if cell_len(line) + cell_len(word) + 3 > width:  # the space, the word, " \"
            lines.append(line + " \\")
            line = "      " + word
        else:
            line += " " + word
    lines.append(line)
    return "\n".join(lines)


def _option_groups(words: list[str]) -> list[str]:
    """The words with each option and its value kept together, not split across lines."""
    groups: list[str] = []
    for word in words:
        if groups and groups[-1].startswith("-") and " " not in groups[-1] \
                and not word.startswith("-"):
            groups[-1] += " " + word
        else:
            groups.append(word)
    return groups


def _shell_word(word: str) -> str:
    """A word as a shell reads it back; a path in the home folder starts with ``~/``."""
    inside = _in_home(word)
    return "~/" + shlex.quote(inside) if inside is not None else shlex.quote(word)


def _shown_path(path: Path) -> str:
    inside = _in_home(str(path))
    return f"~/{inside}" if inside is not None else str(path)


def _in_home(path: str) -> str | None:
    """``path`` relative to the home folder, if it is in it."""
    try:
        home = str(Path.home())
    except RuntimeError:  # no home folder to be found
        return None
    if home != "/" and path.startswith(f"{home}/"):
        return path.removeprefix(f"{home}/")
    return None


COMMANDS = (demo,)
