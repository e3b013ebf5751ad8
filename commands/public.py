"""``duban board …`` (阳光督办, the public board) and ``duban draw`` (双随机一公开)."""

from __future__ import annotations

from pathlib import Path

import click

from duban.commands.context import App
from duban.commands.options import ID, Number, json_option
from duban.commands.output import echo_json


@click.group()
def board() -> None:
    """阳光督办: 公开事项的静态网站(HTML 与 JSON), 不含内部材料与个人姓名。"""


@board.command("build")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@json_option
@click.pass_obj
def board_build(app: App, folder: Path, as_json) -> None:
    """生成公开页面到 FOLDER(整体替换上次生成的内容)。"""
    from duban.engine import userfiles
    from duban.notifiers.board_site import write_site
    from duban.notifiers.config import notice_config

    folder = userfiles.output_folder(folder)
    service = app.service
    content = service.board(app.actor())
    counts = write_site(folder, content, office=notice_config(service.settings).office.name,
                        tz=service.tz, open_file=service.evidence_store.open)
    if as_json:
        echo_json({**counts, "folder": str(folder), "generation": content.generation})
    else:
        click.echo(f"已生成公开页面 {folder}: {counts['items']} 个事项、"
                   f"{counts['files']} 份公开材料、{counts['draws']} 次抽查结果")


@board.command("note")
@click.argument("item_id", type=ID)
@click.argument("text")
@json_option
@click.pass_obj
def board_note(app: App, item_id, text, as_json) -> None:
    """为公开事项发布一条公开进展(督查室撰写, 面向公众)。"""
    done = app.service.publish_note(app.actor(), item_id, text)
    if as_json:
        echo_json(done)
    else:
        click.echo(f"已发布事项 {item_id} 的公开进展")


@board.command("publish-file")
@click.argument("evidence_id", type=ID)
@json_option
@click.pass_obj
def board_publish_file(app: App, evidence_id, as_json) -> None:
    """公开一份佐证材料(仅限公开事项)。"""
    row = app.service.publish_evidence(app.actor(), evidence_id)
    if as_json:
        echo_json(row)
    else:
        click.echo(f"已公开佐证材料 {evidence_id} ({row['name']})")


@click.command("draw")
@click.option("--campaign", required=True, help="抽查名称, 如 2026年秋季校园安全专项检查")
@click.option("--units", "unit_count", type=Number(1, 10_000), required=True,
              help="抽取被检查单位数")
@click.option("--inspectors", "inspector_count", type=Number(1, 10_000), required=True,
              help="每个被检查单位抽取的检查人员数")
@click.option("--seed", required=True,
              help="事先公布的随机种子(如某日彩票开奖号码), 任何人可据此复核")
@click.option("--unit", "unit_pool", multiple=True, metavar="代码",
              help="被抽查单位名单, 可重复(默认: 全部单位)")
@click.option("--inspector", "inspector_pool", multiple=True, metavar="登录名",
              help="检查人员名单, 可重复(默认: 全部特邀督查员)")
@json_option
@click.pass_obj
def draw(app: App, campaign, unit_count, inspector_count, seed, unit_pool, inspector_pool,
         as_json) -> None:
    """双随机一公开: 随机抽取被检查单位与检查人员, 结果记入审计并公开。"""
    from duban.engine.draws import DrawSpec

    result = app.service.draw(app.actor(), DrawSpec(
        campaign, seed, unit_count, inspector_count, tuple(unit_pool), tuple(inspector_pool)))
    if as_json:
        echo_json(result)
        return
    click.echo(f"{result['campaign']}: 种子 {result['seed']}, 从 {len(result['unit_pool'])} 个"
               f"单位、{len(result['inspector_pool'])} 名检查人员中抽取")
    for row in result["result"]:
        click.echo(f"  {row['unit']} {row['unit_name']}: {'、'.join(row['inspector_names'])}")


@click.command("draws")
@click.option("--campaign", help="只看某次抽查")
@json_option
@click.pass_obj
def draws(app: App, campaign, as_json) -> None:
    """已进行的抽查及其结果。"""
    found = app.service.draws(app.actor(), campaign)
    if as_json:
        echo_json(found)
        return
    if not found:
        click.echo("还没有抽查")
    for d in found:
        units = "、".join(r["unit_name"] for r in d["result"])
        click.echo(f"{d['campaign']} (种子 {d['seed']}): {units}")


COMMANDS = (board, draw, draws)
