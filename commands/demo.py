"""``duban demo``: a municipal education bureau's quarter on a demo database."""

from __future__ import annotations

import click

from duban.commands.context import App


@click.command()
@click.option("--db", "demo_db", help="演示库路径(默认在数据目录下的 demo.db)")
@click.pass_obj
def demo(app: App, demo_db) -> None:
    """建立一个市教育局的演示库, 走一遍交办、办理、预警、约谈、问责与销号。"""
    from duban.app.demo import run_demo

    run_demo(demo_db, config=app.config, echo=click.echo)


COMMANDS = (demo,)
