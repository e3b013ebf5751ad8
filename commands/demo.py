"""``duban demo``: a municipal education bureau's quarter on a demo database, and with
``--serve`` the portal on it."""

from __future__ import annotations

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
    from duban.app.demo import run_demo

    result = run_demo(demo_db, config=app.config, echo=click.echo, accounts=serve)
    if not serve:
        return
    from duban.app import build_service
    from duban.engine.clock import FixedClock
    from duban.web.server import run_server

    click.echo("")
    click.echo(f"网页门户: http://127.0.0.1:{port}/ (演示库的时间停在 2027-01-04 09:00)")
    for login, who, password in result.logins:
        click.echo(f"  {who}: 登录名 {login}  密码 {password}")
    run_server(build_service(result.settings, FixedClock(result.end)), port=port,
               host="127.0.0.1", workers=1)


COMMANDS = (demo,)
