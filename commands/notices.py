"""``duban notices …``: the outbox on the command line (list, show, preview, send, requeue).

The engine and the templates load when a command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from duban.commands.context import App
from duban.commands.options import ID, Number, json_option
from duban.commands.output import echo_json

FORMATS = ("text", "markdown", "html", "docx", "pdf")  # as duban.notifiers.documents.FORMATS


@click.group()
def notices() -> None:
    """通知: 提醒函、督办函、预警、约谈、问责建议等的发件箱与送达。"""


@notices.command("list")
@click.option("--status", help="只看某状态: 待发送(pending)、已送达(sent)、失败待重试(failed)、"
                               "无法送达(dead), 中文或代码均可")
@click.option("--dead", is_flag=True, help="只看无法送达的(同 --status dead)")
@click.option("--item", "item_id", type=ID, help="只看某事项的通知")
@click.option("--kind", help="只看某类通知: 代码或名称, 如 urging 或 督办函")
@click.option("--limit", type=Number(1, 10_000), default=100, show_default=True)
@json_option
@click.pass_obj
def notices_list(app: App, status, dead, item_id, kind, limit, as_json) -> None:
    """列出通知(新的在前)。"""
    from duban.commands.options import exclusive
    from duban.engine.notices import STATUS_LABELS
    from duban.engine.timeutil import local_text

    exclusive(dead=dead, status=status)
    if kind is not None:
        from duban.commands.workflows import template_folder
        from duban.notifiers.kinds import kind_named

        kind = kind_named(template_folder(app), kind)
    actor = app.actor()
    rows = app.service.notice_list(actor, status="dead" if dead else status, item_id=item_id,
                                   kind=kind, limit=limit)
    if as_json:
        echo_json(rows)
        return
    totals = app.service.notice_counts(actor)
    tz = app.service.tz
    for row in rows:
        number = row["doc_number"] or "(无文号)"
        status_label = STATUS_LABELS.get(row["status"], row["status"])
        title = row["title"] or f"({row['kind']}, 尚未生成)"
        click.echo(f"#{row['id']:<6} {local_text(row['created_at'], tz)}  {number}  "
                   f"{status_label}  {title}")
        if row["status"] in ("failed", "dead") and row["last_error"]:
            click.echo(f"        原因: {row['last_error']}")
    summary = "、".join(f"{STATUS_LABELS.get(k, k)} {v}" for k, v in sorted(totals.items()))
    click.echo(f"共 {len(rows)} 条" + (f"(全部: {summary})" if summary else ""))


@notices.command("show")
@click.argument("notice_id", type=ID)
@json_option
@click.pass_obj
def notices_show(app: App, notice_id, as_json) -> None:
    """显示一份通知的正文与各渠道送达情况。"""
    from duban.engine.notices import STATUS_LABELS
    from duban.engine.timeutil import local_text

    found = app.service.notice(app.actor(), notice_id)
    if as_json:
        echo_json(found)
        return
    tz = app.service.tz
    click.echo(found["body_text"] or f"(尚未生成正文: {found['last_error'] or '等待发送'})")
    click.echo(f"—— 通知 #{found['id']}  {found['key']}  "
               f"{STATUS_LABELS.get(found['status'], found['status'])}")
    for delivery in found["deliveries"]:
        where = delivery["target"] or "发件箱"
        status = STATUS_LABELS.get(delivery["status"], delivery["status"])
        line = f"   {delivery['channel']:<8} {where}  {status}  已尝试 {delivery['attempts']} 次"
        if delivery["status"] == "failed":
            line += f", 下次 {local_text(delivery['next_attempt_at'], tz)}"
        if delivery["last_error"]:
            line += f"  ({delivery['last_error']})"
        click.echo(line)


@notices.command("preview")
@click.argument("notice_id", type=ID, required=False)
@click.option("--item", "item_id", type=ID, help="预览某事项将会收到的通知(不保存、不占文号)")
@click.option("--kind", help="与 --item 同用: 通知类型, 如 urging(督办函)")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--out", type=click.Path(path_type=Path),
              help="写入文件(docx、pdf 必须指定)")
@click.pass_obj
def notices_preview(app: App, notice_id, item_id, kind, fmt, out) -> None:
    """显示一份通知的排版结果而不发送: 已有通知用编号, 或用 --item 与 --kind 试排。"""
    from duban.engine import userfiles
    from duban.engine.errors import InvalidInput
    from duban.notifiers import documents

    if (notice_id is None) == (item_id is None):
        raise InvalidInput("请给出通知编号, 或用 --item 与 --kind 试排(二者选一)")
    if item_id is not None and not kind:
        raise InvalidInput("试排需要 --kind, 如 reminder、urging、warning、interview")
    if fmt in ("docx", "pdf") and out is None:
        raise InvalidInput(f"{fmt} 是二进制文件, 请用 --out 指定保存位置")
    if notice_id is not None:
        rendered = documents.render_stored(app.service, app.actor(), notice_id, fmt)
    else:
        rendered = documents.preview(app.service, app.actor(), item_id, kind, fmt)
    if out is None:
        click.echo(rendered, nl=False)
        return
    data = rendered if isinstance(rendered, bytes) else rendered.encode()
    with userfiles.output_file(out) as handle:
        handle.write(data)
    click.echo(f"已写入 {userfiles.shown(out)}")


@notices.command("send")
@click.option("--batch", type=Number(1, 10_000), default=50, show_default=True)
@json_option
@click.pass_obj
def notices_send(app: App, batch, as_json) -> None:
    """立即发送到期的通知(守护进程每次处理后也会发送)。"""
    from duban.notifiers.sender import deliver

    app.service.identify(app.actor())
    report = deliver(app.service, batch_size=batch)
    if as_json:
        echo_json(report.as_json())
        return
    for outcome in report.outcomes:
        where = outcome["target"] or "发件箱"
        click.echo(f"通知 #{outcome['notice']} {outcome['channel']} {where}: "
                   f"{outcome['status']} {outcome['detail'] or ''}".rstrip())
    click.echo(f"送达 {report.sent}, 失败待重试 {report.failed}, 无法送达 {report.dead}"
               + (f", 补生成 {report.rendered}" if report.rendered else "")
               + (f", 其中 {report.repeats_possible} 件上次发送中断, 对方可能收到两次"
                  if report.repeats_possible else ""))


@notices.command("requeue")
@click.argument("notice_id", type=ID)
@json_option
@click.pass_obj
def notices_requeue(app: App, notice_id, as_json) -> None:
    """重新发送失败或无法送达的通知(修正地址或服务器之后)。"""
    from duban.notifiers import documents

    found = documents.requeue(app.service, app.actor(), notice_id)
    if as_json:
        echo_json(found)
        return
    click.echo(f"通知 #{notice_id} 已重新排队, {len(found['deliveries'])} 个渠道待发送")


COMMANDS = (notices,)
