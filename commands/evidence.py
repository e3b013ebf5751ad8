"""``duban evidence …``: the files an item's record cites (佐证材料), and ``--attach``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click

from duban.commands.context import App
from duban.commands.options import ID, json_option
from duban.commands.output import echo_json, echo_table


@contextmanager
def opened(paths: Sequence[str]) -> Iterator[list[tuple[str, Any]]]:
    """The files named on the command line, open for reading; one line for one that is not
    (missing, a folder, no permission, an unusable name). A pipe is taken: the evidence store
    bounds every upload's size as it reads."""
    from duban.engine import userfiles

    with ExitStack() as stack:
        files = []
        for given in paths:
            handle = stack.enter_context(userfiles.open_for_reading(given, streams=True))
            files.append((Path(given).name, handle))
        yield files


@click.group()
def evidence() -> None:
    """佐证材料: 报结、核查、约谈等所附文件, 按内容哈希保存, 由审计链证明。"""


@evidence.command("list")
@click.argument("item_id", type=ID)
@click.option("--withdrawn", is_flag=True, help="包括已撤回的")
@json_option
@click.pass_obj
def evidence_list(app: App, item_id, withdrawn, as_json) -> None:
    """列出事项的佐证材料。"""
    from duban.engine.labels import size_text
    from duban.engine.timeutil import local_text

    rows = app.service.evidence_of(app.actor(), item_id, withdrawn=withdrawn)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"事项 {item_id} 暂无佐证材料")
        return
    shown = [{**row, "at": local_text(row["attached_at"], app.service.tz),
              "size_text": size_text(row["size"]),
              "event_text": row["event_label"] + ("(已撤回)" if row["withdrawn_at"] else "")}
             for row in rows]
    echo_table(shown, False, ["id", "name", "type_label", "size_text", "event_text",
                              "attached_by_name", "at"],
               ["编号", "文件名", "类型", "大小", "随附", "上传人", "时间"],
               title=f"事项 {item_id} 的佐证材料")


@evidence.command("get")
@click.argument("evidence_id", type=ID)
@click.option("--out", "out", required=True, metavar="文件", help="保存到此文件(- 为标准输出)")
@click.pass_obj
def evidence_get(app: App, evidence_id, out) -> None:
    """取出一份佐证材料的原文件。"""
    from duban.engine import userfiles

    row, content = app.service.evidence_file(app.actor(), evidence_id)
    with content:
        if out == "-":
            _copy(content, click.get_binary_stream("stdout"))
            return
        with userfiles.output_file(out) as handle:  # whole or not at all
            _copy(content, handle)
    click.echo(f"已保存 {row['name']} ({row['size']:,} 字节) 到 {userfiles.shown(out)}",
               err=True)


@evidence.command("add")
@click.argument("item_id", type=ID)
@click.argument("files", nargs=-1, required=True, metavar="文件...")
@click.option("--note", default="", help="说明")
@json_option
@click.pass_obj
def evidence_add(app: App, item_id, files, note, as_json) -> None:
    """为事项补充材料。"""
    with opened(files) as attachments:
        added = app.service.add_evidence(app.actor(), item_id, attachments, note)
    if as_json:
        echo_json(added)
        return
    for entry in added:
        click.echo(f"已附 {entry['name']} (编号 {entry['id']}, {entry['size']:,} 字节)")


@evidence.command("withdraw")
@click.argument("evidence_id", type=ID)
@click.option("--reason", required=True, help="撤回理由")
@json_option
@click.pass_obj
def evidence_withdraw(app: App, evidence_id, reason, as_json) -> None:
    """撤回误传的佐证材料: 不再显示, 文件与记录保留。"""
    row = app.service.withdraw_evidence(app.actor(), evidence_id, reason)
    if as_json:
        echo_json(row)
    else:
        click.echo(f"已撤回佐证材料 {evidence_id} ({row['name']})")


def _copy(source: Any, sink: Any) -> None:
    while chunk := source.read(1 << 20):
        sink.write(chunk)
    sink.flush()


COMMANDS = (evidence,)
