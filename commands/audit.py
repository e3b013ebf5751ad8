"""``duban audit …``: check the hash chain and its signatures, anchor its head outside the
database, rebuild items from events."""

from __future__ import annotations

from pathlib import Path

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
@click.option("--anchor", "anchor_files", multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="同时核对锚点文件(duban audit anchor 所写): 链仍到达每个锚定的链头, "
                   "哈希与密钥不变; 可多次给出")
@json_option
@click.pass_obj
def audit_verify(app: App, with_files, anchor_files, as_json) -> None:
    """校验整条审计链与签名检查点; 发现问题时以非零状态退出。"""
    # The anchor files first: one that cannot be read is refused before the long walk.
    anchored = [app.service.verify_anchors(path) for path in anchor_files]
    report = app.service.verify_audit()
    files = app.service.verify_files() if with_files else None
    anchors_ok = all(found.ok for found in anchored)
    if as_json:
        shown = {**report.__dict__,
                 "ok": report.ok and (files is None or files.ok) and anchors_ok}
        if files is not None:
            shown["files"] = {"checked": files.files_checked, "problems": files.problems or [],
                              "ok": files.ok}
        if anchor_files:
            shown["anchors"] = [{"file": str(path), "checked": found.anchors_checked,
                                 "problems": found.problems, "ok": found.ok}
                                for path, found in zip(anchor_files, anchored, strict=True)]
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
        for path, found in zip(anchor_files, anchored, strict=True):
            click.echo(f"已核对锚点文件 {path} 中的 {found.anchors_checked} 个锚点")
            click.echo("链仍到达每个锚定的链头" if found.ok
                       else f"锚点有 {len(found.problems)} 处不符:")
            for problem in found.problems:
                click.echo(f"  - {problem}")
    if not report.ok or (files is not None and not files.ok) or not anchors_ok:
        _fail()


@audit.command("anchor")
@click.option("--to", "to", type=click.Path(dir_okay=False, path_type=Path),
              help="追加到此锚点文件(默认: 配置文件 [audit] anchor 与公开页面)")
@json_option
@click.pass_obj
def audit_anchor(app: App, to, as_json) -> None:
    """把签名的审计链头写到库外(只追加的锚点文件、公开页面), 供日后核对链尾未被截断、
    整条链未被重建。"""
    done = app.service.anchor_audit(app.actor(), to=to)
    anchor = done.anchor
    if as_json:
        echo_json({**anchor.as_dict(), "file": done.file and str(done.file),
                   "board": done.board and str(done.board)})
        return
    when = anchor.instant.astimezone(app.service.tz).strftime("%Y-%m-%d %H:%M")
    click.echo(f"已锚定审计链头: 序号 {anchor.seq}, 哈希 {anchor.hash[:16]}…, 时间 {when}, "
               f"密钥 {anchor.key_id}")
    if done.file is not None:
        click.echo(f"已追加到锚点文件 {done.file}")
    if done.board is not None:
        click.echo(f"已发布到公开页面 {done.board}")
    click.echo(f"摘要 SHA-256: {anchor.sha256}")


@audit.command("reseal")
@json_option
@click.pass_obj
def audit_reseal(app: App, as_json) -> None:
    """人员目录或凭据的签名不符时(被绕过 duban 直接改动), 由持有审计密钥的管理员在核实后
    重新签名: 接受目录现状; 签名不符的令牌吊销, 签名不符的账户密码作废(需重新发放设置码)。"""
    from duban.commands.context import os_login

    found = app.service.reseal(os_login())
    if as_json:
        echo_json({"resealed": found is not None, **(found or {})})
        return
    if found is None:
        click.echo("所有签名完好, 无需重新签名")
        return
    click.echo("已按现状重新签名人员目录" if found["directory"] else "人员目录签名完好")
    if found["tokens"]:
        click.echo(f"已吊销签名不符的令牌: {'、'.join(map(str, found['tokens']))}")
    if found["accounts"]:
        click.echo(f"已作废签名不符的账户密码: {'、'.join(found['accounts'])}"
                   "(请用 duban account setup 重新发放)")


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
