"""``duban init``: the database, the audit key and the first admin."""

from __future__ import annotations

import shlex

import click

from duban.commands.context import App, os_login
from duban.commands.options import json_option
from duban.commands.output import echo_json


@click.command()
@click.option("--admin-name", help="首位管理员的姓名(默认用系统登录名)")
@click.option("--supervisor", is_flag=True,
              help="首位管理员同时登记为督查员, 可以交办和导入事项")
@json_option
@click.pass_obj
def init(app: App, admin_name, supervisor, as_json) -> None:
    """创建或升级数据库, 生成审计签名密钥; 可重复运行。"""
    login = os_login()
    result = app.service.init(login, admin_name, supervisor=supervisor)
    if as_json:
        echo_json(result.__dict__)
        return
    if result.schema_before == result.schema_after:
        click.echo(f"数据库已是最新结构(版本 {result.schema_after})")
    else:
        click.echo(f"数据库结构: {result.schema_before or '空'} → {result.schema_after}")
    if result.key_created:
        click.echo(f"已生成审计签名密钥: {app.service.settings.audit_key_path} (请妥善备份)")
    edit = f"duban person edit {shlex.quote(login)} --role admin --role supervisor"
    if result.admin_created and supervisor:
        click.echo(f"已登记首位管理员: {result.admin_created}(管理员、督查员)")
    elif result.admin_created:
        click.echo(f"已登记首位管理员: {result.admin_created}(管理员)")
        click.echo(f"交办、导入事项须有督查员角色; 要自己交办, 请运行: {edit}")
    elif supervisor:
        click.echo("首位管理员早已登记, --supervisor 只在首次登记时生效, 未改动任何人的角色; "
                   f"管理员要加上督查员角色, 请运行: {edit}")


COMMANDS = (init,)
