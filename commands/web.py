"""``duban serve``: the web portal and the HTTP API."""

from __future__ import annotations

import click

from duban.commands.context import App
from duban.commands.options import Number


@click.command()
@click.option("--host", help="监听地址(默认见配置 [web] host: 127.0.0.1)")
@click.option("--port", type=Number(1, 65535), help="端口(默认 8000)")
@click.option("--workers", type=Number(1, 64),
              help="工作进程数, 每个占一个处理器核(默认见配置 [web] workers: 2)")
@click.pass_obj
def serve(app: App, host, port, workers) -> None:
    """运行网页门户与 HTTP API(/api/v1); 定时任务仍由 duban daemon 处理。"""
    from duban.web.server import run_server

    run_server(app.service, host=host, port=port, workers=workers)


COMMANDS = (serve,)
