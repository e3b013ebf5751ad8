"""Options that several commands take, written once."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import click

F = Callable[..., Any]
FIELD_OPTIONS = (
    ("reason", "理由"),
    ("report", "办理情况(报结内容)"),
    ("note", "说明"),
    ("deadline", "期限, 如 2026-12-10 或 2026-12-10 17:00"),
    ("unit", "单位代码(转办目标)"),
    ("person", "人员登录名"),
    ("level", "预警等级: yellow(黄色) 或 red(红色)"),
    ("at", "时间, 如 2026-12-01 09:30"),
    ("place", "地点"),
    ("satisfaction", "回访满意度: 满意、基本满意 或 不满意"),
)


MAX_ROW_ID = 2**63 - 1  # the largest integer either database stores
DIGITS = re.compile(r"-?[0-9]{1,25}")
DECIMAL = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,15})?")
FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９－．", "0123456789-.")


class Number(click.ParamType):
    """A whole number within bounds, refused in Chinese: a number past what the database can
    store is one clear line, never an internal error."""

    name = "整数"

    def __init__(self, low: int, high: int = MAX_ROW_ID) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip().translate(FULL_WIDTH_DIGITS)
            number = int(text) if DIGITS.fullmatch(text) else None  # not ① or ²
        if number is None or not self.low <= number <= self.high:
            shown = str(value)[:25] + ("…" if len(str(value)) > 25 else "")
            hint = (param.opts[0] if param is not None and param.param_type_name == "option"
                    else param.human_readable_name if param is not None else "数值")
            raise click.UsageError(f"{hint} 应为 {self.low} 至 {self.high} 的整数, 收到“{shown}”",
                                   ctx)
        return number


class Seconds(click.ParamType):
    """A finite number of seconds or days within bounds (``nan`` and ``inf`` are not)."""

    name = "数值"

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        text = str(value).strip().translate(FULL_WIDTH_DIGITS)
        number = float(text) if DECIMAL.fullmatch(text) else math.nan  # not ٣, 1_0 or nan
        if not (math.isfinite(number) and self.low <= number <= self.high):
            hint = param.opts[0] if param is not None else "数值"
            raise click.UsageError(f"{hint} 应为 {self.low:g} 至 {self.high:g} 之间的数, "
                                   f"收到“{str(value)[:25]}”", ctx)
        return number


ID = Number(1)  # an item's, a notice's, a token's, a file's number; a version
OFFSET = Number(0)


def json_option(command: F) -> F:
    """``--json`` on a command, also on when it was given before the command's name."""
    def given_anywhere(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
        from duban.commands.context import App

        app = ctx.find_object(App)
        return bool(value or (app is not None and getattr(app, "json", False)))

    return click.option("--json", "as_json", is_flag=True, callback=given_anywhere,
                        help="以 JSON 输出")(command)


def exclusive(**given: Any) -> None:
    """Refuse output options that exclude each other (given as ``--name=value`` pairs with
    ``_`` for ``-``): one of them would be silently ignored."""
    chosen = [f"--{name.replace('_', '-')}" for name, value in given.items()
              if value not in (None, False, ())]
    if len(chosen) > 1:
        raise click.UsageError(f"{' 与 '.join(chosen)} 不能同时使用, 请选其一")


def field_options(command: F) -> F:
    """The inputs an event may take, the workflow's own fields and a version check."""
    for name, help_text in reversed(FIELD_OPTIONS):
        command = click.option(f"--{name}", name, default=None, help=help_text)(command)
    command = click.option("--field", "extra_fields", multiple=True, metavar="名称=值",
                           help="工作流自定义字段, 可重复")(command)
    command = click.option("--expect-version", type=ID, default=None,
                           help="仅当事项仍为此版本时才办理(防止并发修改)")(command)
    command = click.option("--attach", "attach", multiple=True, metavar="文件",
                           help="附佐证材料(照片、PDF、OFD、Office/WPS 文档、压缩包), 可重复"
                           )(command)
    return command


def period_option(required: bool = True) -> Callable[[F], F]:
    return click.option("--period", required=required,
                        help="时段: 2026-11(月)、2026-Q4、2026-H2、2026(年)")


def read_secret(prompt: str) -> str:
    """A password or code: asked for without echo on a terminal, else one line of stdin."""
    import sys

    if sys.stdin.isatty():
        return click.prompt(prompt, hide_input=True)
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def parse_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    """名称=值 pairs from repeated options."""
    from duban.engine.errors import InvalidInput

    found = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"应写成 名称=值: {pair}")
        found[name.strip()] = value.strip()
    return found
