"""Click's own words in Chinese: usage lines, help headings and parse errors.

Click looks its messages up through ``gettext`` (each module imports ``gettext as _``); duban
gives those modules a lookup in this table instead, so a user who mistypes an option reads the
same language as the rest of the command line. A message missing here stays in English.
"""

from __future__ import annotations

import importlib
import unicodedata

MESSAGES = {
    "Usage:": "用法:",
    "Options": "选项",
    "Commands": "命令",
    "Positional arguments": "位置参数",
    "Show this message and exit.": "显示本帮助并退出。",
    "Show the version and exit.": "显示版本并退出。",
    "Error: {message}": "错误: {message}",
    "Try '{command} {option}' for help.": "用 “{command} {option}” 查看帮助。",
    "No such command {name!r}.": "没有命令 “{name}”。",
    "Did you mean {possibility}?": "您是不是要用 {possibility}?",
    "(Did you mean one of: {possibilities}?)": "(您是不是要用其中之一: {possibilities}?)",
    "No such option {name!r}.": "没有选项 {name}。",
    "No such option: {name}": "没有选项 {name}",
    "Option {name!r} requires an argument.": "选项 {name} 需要一个值。",
    "Option {name!r} requires {nargs} arguments.": "选项 {name} 需要 {nargs} 个值。",
    "Option {name!r} does not take a value.": "选项 {name} 不带值。",
    "Missing command.": "缺少命令。",
    "Missing argument": "缺少参数",
    "Missing option": "缺少选项",
    "Missing parameter": "缺少参数",
    "Missing {param_type}": "缺少{param_type}",
    "Missing parameter: {param_name}": "缺少参数: {param_name}",
    "argument": "参数",
    "option": "选项",
    "parameter": "参数",
    "Invalid value for {param_hint}: {message}": "{param_hint} 的值无效: {message}",
    "Invalid value: {message}": "值无效: {message}",
    "Got unexpected extra argument ({args})": "多余的参数 ({args})",
    "Got unexpected extra arguments ({args})": "多余的参数 ({args})",
    "{value!r} is not one of {choices}.": "“{value}” 不是可选值之一: {choices}。",
    "{value!r} is not {choice}.": "“{value}” 不是 {choice}。",
    "Choose from:\n\t{choices}": "可选:\n\t{choices}",
    "{value!r} is not a valid {number_type}.": "“{value}” 不是有效的{number_type}。",
    "integer": "整数",
    "float": "数",
    "{value} is not in the range {range}.": "{value} 不在 {range} 范围内。",
    "{value!r} is not a valid boolean. Recognized values: {states}":
        "“{value}” 不是是/否值, 可用: {states}",
    "{name} {filename!r} does not exist.": "{name} “{filename}” 不存在。",
    "{name} {filename!r} is a file.": "{name} “{filename}” 是文件。",
    "{name} {filename!r} is a directory.": "{name} “{filename}” 是文件夹。",
    "{name} {filename!r} is not readable.": "{name} “{filename}” 不可读。",
    "{name} {filename!r} is not writable.": "{name} “{filename}” 不可写。",
    "{name} {filename!r} is not executable.": "{name} “{filename}” 不可执行。",
    "File": "文件",
    "Directory": "文件夹",
    "Path": "路径",
    "file": "文件",
    "directory": "文件夹",
    "path": "路径",
    "Could not open file {filename!r}: {message}": "无法打开文件 “{filename}”: {message}",
    "default: {default}": "默认: {default}",
    "required": "必填",
    "env var: {var}": "环境变量: {var}",
    "Aborted!": "已取消",
    "Do you want to continue?": "是否继续?",
    "Repeat for confirmation": "再输入一次以确认",
    "Error: The two entered values do not match.": "错误: 两次输入不一致。",
    "Error: invalid input": "错误: 输入无效",
    "Press any key to continue...": "按任意键继续……",
    "Confirm the action without prompting.": "不询问, 直接确认。",
    "%(prog)s, version %(version)s": "%(prog)s 版本 %(version)s",
}
CLICK_MODULES = ("core", "decorators", "exceptions", "formatting", "parser", "types", "termui",
                 "shell_completion", "utils")


def gettext(message: str) -> str:
    return MESSAGES.get(message, message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return gettext(singular if count == 1 else plural)


def one_line(message: str) -> str:
    """A click message as one Chinese line: click lists choices on lines of their own and
    ends some sentences it builds itself with an ASCII full stop."""
    text = " ".join(part.strip() for part in message.splitlines() if part.strip())
    text = text.replace(", ", "、").replace(",", "、") if "可选" in text else text
    text = text.replace("'. ", "'。")
    return text[:-1] + "。" if text.endswith(".") else text


def display_width(text: str) -> int:
    """Columns a text takes on a terminal: a Chinese character takes two, so that the help's
    columns line up (click counts characters)."""
    from click._compat import strip_ansi

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in strip_ansi(text))


def install() -> None:
    """Point click's message lookups at :data:`MESSAGES` (idempotent), name the value types
    in Chinese (``--reason 文本``) and measure help columns by display width."""
    import click.formatting
    import click.types

    click.types.StringParamType.name = "文本"
    click.types.Path.name = "路径"
    click.types.File.name = "文件"
    click.formatting.term_len = display_width
    for name in CLICK_MODULES:
        module = importlib.import_module(f"click.{name}")
        if hasattr(module, "_"):
            module._ = gettext
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext
