"""``duban account …`` and ``duban token …``: signing in without an operating-system login.

The server's administrators keep acting as their system login; the people of the office sign
in with an account (the web, the API). Secrets are read from the terminal without echo, or
one per line from standard input, and shown only once.
"""

from __future__ import annotations

import click

from duban.commands.context import App
from duban.commands.options import ID, Seconds, json_option, read_secret
from duban.commands.output import echo_json, echo_table


@click.group()
def account() -> None:
    """账户: 密码登录、设置码、临时密码、锁定与解锁。"""


@account.command("setup")
@click.argument("login")
@click.option("--temporary", is_flag=True, help="发放临时密码(首次登录须修改), 而不是一次性设置码")
@json_option
@click.pass_obj
def account_setup(app: App, login, temporary, as_json) -> None:
    """为人员开通(或重置)账户: 一次性设置码或临时密码, 只显示这一次(管理员)。"""
    opened = app.service.issue_setup(app.actor(), login, temporary=temporary)
    if as_json:
        echo_json(opened)
        return
    if temporary:
        click.echo(f"{opened['name']}({login}) 的临时密码: {opened['secret']}")
        click.echo("首次登录须修改密码。此密码只显示这一次, 请当面或经可靠渠道交给本人。")
    else:
        from duban.engine.timeutil import local_text

        until = local_text(opened["expires_at"], app.service.tz)
        click.echo(f"{opened['name']}({login}) 的一次性设置码: {opened['secret']} "
                   f"(至 {until} 有效)")
        click.echo(f"本人用 duban account activate {login} 设置密码。设置码只显示这一次。")


@account.command("activate")
@click.argument("login")
@click.pass_obj
def account_activate(app: App, login) -> None:
    """用设置码设置首个密码: 依次输入设置码、新密码。"""
    code = read_secret("设置码")
    password = read_secret("新密码")
    app.service.activate(login, code, password)
    click.echo(f"{login} 的密码已设置, 可以登录")


@account.command("sign-in")
@click.argument("login")
@json_option
@click.pass_obj
def account_sign_in(app: App, login, as_json) -> None:
    """检查登录: 输入密码; 失败会被计数, 多次失败将被锁定。"""
    signed = app.service.sign_in(login, read_secret("密码"))
    if as_json:
        echo_json(signed.__dict__)
        return
    click.echo(f"{signed.name}({signed.login}) 登录成功"
               + ("; 这是临时密码, 请先用 duban account password 修改" if signed.must_change
                  else ""))


@account.command("password")
@click.argument("login")
@click.pass_obj
def account_password(app: App, login) -> None:
    """修改本人密码: 依次输入原密码(或临时密码)、新密码。"""
    old = read_secret("原密码")
    new = read_secret("新密码")
    app.service.change_password(login, old, new)
    click.echo(f"{login} 的密码已修改")


@account.command("unlock")
@click.argument("login")
@click.pass_obj
def account_unlock(app: App, login) -> None:
    """解除因多次登录失败造成的锁定(管理员)。"""
    app.service.unlock(app.actor(), login)
    click.echo(f"{login} 的账户已解锁")


@account.command("show")
@click.argument("login")
@json_option
@click.pass_obj
def account_show(app: App, login, as_json) -> None:
    """账户状态: 是否设了密码、是否须修改、是否锁定、有效令牌数。"""
    from duban.engine.timeutil import local_text

    state = app.service.account(app.actor(), login)
    if as_json:
        echo_json(state)
        return
    tz = app.service.tz
    lines = [f"{state['name']}({login}) {'在用' if state['active'] else '已停用'}",
             "密码: " + ("已设置" if state["has_password"] else "未设置")
             + ("(临时密码, 须修改)" if state["must_change"] else ""),
             f"有效令牌: {state['tokens']} 个"]
    if state["setup_pending"]:
        lines.append(f"设置码待使用, 至 {local_text(state['setup_expires_at'], tz)}")
    if state["locked_until"]:
        lines.append(f"锁定至 {local_text(state['locked_until'], tz)}")
    click.echo("\n".join(lines))


@click.group()
def token() -> None:
    """API 令牌: 创建(只显示一次)、列出、吊销。"""


@token.command("create")
@click.argument("name")
@click.option("--days", type=Seconds(0.01, 3650),
              help="有效天数(默认见配置 [accounts])")
@click.option("--for", "for_login", help="为他人创建(管理员)")
@json_option
@click.pass_obj
def token_create(app: App, name, days, for_login, as_json) -> None:
    """创建 API 令牌 NAME; 令牌只显示这一次, 库中只存其摘要。"""
    from duban.engine.timeutil import local_text

    made = app.service.create_token(app.actor(), name, days=days, for_login=for_login)
    if as_json:
        echo_json(made)
        return
    click.echo(made["secret"])
    click.echo(f"令牌 #{made['id']} {made['name']}({made['login']}), 至 "
               f"{local_text(made['expires_at'], app.service.tz)} 有效; 只显示这一次", err=True)


@token.command("list")
@click.option("--for", "for_login", help="他人的令牌(管理员)")
@json_option
@click.pass_obj
def token_list(app: App, for_login, as_json) -> None:
    """列出令牌(不含令牌本身)。"""
    from duban.engine.timeutil import local_text

    rows = app.service.tokens(app.actor(), for_login)
    tz = app.service.tz
    for row in rows:
        row["expires"] = local_text(row["expires_at"], tz)
        row["state"] = "已吊销" if row["revoked_at"] else "有效"
    echo_table(rows, as_json, ["id", "name", "kind", "prefix", "expires", "state"],
               ["编号", "名称", "类型", "前缀", "到期", "状态"])


@token.command("revoke")
@click.argument("token_id", type=ID)
@click.pass_obj
def token_revoke(app: App, token_id) -> None:
    """吊销令牌 TOKEN_ID(本人的, 或管理员吊销任何人的)。"""
    row = app.service.revoke_token(app.actor(), token_id)
    click.echo(f"令牌 #{token_id} {row['name']} 已吊销")


COMMANDS = (account, token)
