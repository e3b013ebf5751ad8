"""``duban init``: the database, the audit key and the first admin."""

from __future__ import annotations

import click

from duban.commands.context import App, os_login
from duban.commands.options import json_option
from duban.commands.output import echo_json


@click.command()
@click.option("--admin-name", help="首位管理员的姓名(默认用系统登录名)")
@json_option
@click.pass_obj
def init(app: App, admin_name, as_json) -> None:
    """创建或升级数据库, 生成审计签名密钥; 可重复运行。"""
    result = app.service.init(os_login(), admin_name)
    if as_json:
        echo_json(result.__dict__)
        return
    if result.schema_before == result.schema_after:
        click.echo(f"数据库已是最新结构(版本 {result.schema_after})")
    else:
        click.echo(f"数据库结构: {result.schema_before or '空'} → {result.schema_after}")
    if result.key_created:
        click.echo(f"已生成审计签名密钥: {app.service.settings.audit_key_path} (请妥善备份)")
    if result.admin_created:
        click.echo(f"已登记首位管理员: {result.admin_created}")


COMMANDS = (init,)
