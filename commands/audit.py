"""``duban audit …``: check the hash chain and its signatures, rebuild items from events."""

from __future__ import annotations

import click

from duban.commands.context import App
from duban.commands.options import ID, json_option
from duban.commands.output import echo_json


@click.group()
def audit() -> None:
    """审计: 全程留痕, 可检查、可追溯。"""


@audit.command("verify")
@click.option("--files", "with_files", is_flag=True,
              help="同时校验审计记录引用的每份佐证材料文件: 存在且哈希一致")
@json_option
@click.pass_obj
def audit_verify(app: App, with_files, as_json) -> None:
    """校验整条审计链与签名检查点; 发现问题时以非零状态退出。"""
    report = app.service.verify_audit()
    files = app.service.verify_files() if with_files else None
    if as_json:
        shown = {**report.__dict__, "ok": report.ok and (files is None or files.ok)}
        if files is not None:
            shown["files"] = {"checked": files.files_checked, "problems": files.problems or [],
                              "ok": files.ok}
        echo_json(shown)
    else:
        click.echo(
            f"已校验 {report.rows_checked} 条事件、{report.checkpoints_checked} 个签名检查点"
        )
        click.echo(f"链头: 序号 {report.head_seq}, 哈希 {report.head_hash[:16]}…")
        if report.ok:
            click.echo("审计链完整, 未发现篡改")
        else:
            click.echo(f"发现问题, 最早出错序号: {report.first_bad_seq}")
            for problem in report.problems:
                click.echo(f"  - {problem}")
        if files is not None:
            click.echo(f"已校验 {files.files_checked} 份佐证材料文件")
            click.echo("佐证材料完整" if files.ok else f"佐证材料有 {len(files.problems)} 处问题:")
            for problem in files.problems or ():
                click.echo(f"  - {problem}")
    if not report.ok or (files is not None and not files.ok):
        _fail()


@audit.command("rebuild")
@click.option("--item", "item_id", type=ID, help="只检查某一事项")
@json_option
@click.pass_obj
def audit_rebuild(app: App, item_id, as_json) -> None:
    """由审计事件重建事项, 与库中现状逐项比对。"""
    report = app.service.check_rebuild(item_id=item_id)
    if as_json:
        echo_json({**report.__dict__, "ok": report.ok})
    else:
        click.echo(f"已重建并比对 {report.items_checked} 个事项")
        click.echo("全部一致" if report.ok else "\n".join(f"  - {m}" for m in report.mismatches))
    if not report.ok:
        _fail()


def _fail() -> None:
    """The report is printed already: exit with the integrity failure's code."""
    from duban.engine.errors import IntegrityFailure

    raise SystemExit(IntegrityFailure.exit_code)


COMMANDS = (audit,)
