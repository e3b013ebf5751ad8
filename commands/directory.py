"""``duban unit …`` and ``duban person …``: the office's directory."""

from __future__ import annotations

import click

from duban.commands.context import App
from duban.commands.options import json_option
from duban.commands.output import echo_json, echo_record, echo_table


@click.group()
def unit() -> None:
    """单位: 科室、学校、督查室。"""


@unit.command("add")
@click.argument("code")
@click.argument("name")
@click.option("--parent", help="上级单位代码")
@click.option("--head", help="单位负责人登录名")
@json_option
@click.pass_obj
def unit_add(app: App, code, name, parent, head, as_json) -> None:
    """新增单位 CODE NAME。"""
    row = app.service.add_unit(app.actor(), code, name, parent, head)
    echo_record(row, as_json, f"已新增单位 {row['code']} {row['name']}")


@unit.command("head")
@click.argument("code")
@click.argument("login")
@json_option
@click.pass_obj
def unit_head(app: App, code, login, as_json) -> None:
    """设定单位负责人。"""
    row = app.service.set_unit_head(app.actor(), code, login)
    echo_record(row, as_json, f"{row['name']} 的负责人设为 {login}")


@unit.command("webhook")
@click.argument("code")
@click.argument("url", required=False)
@click.option("--style", type=click.Choice(["json", "wecom", "dingtalk"]), default="json",
              show_default=True, help="消息格式: 通用 JSON、企业微信或钉钉群机器人")
@click.option("--remove", is_flag=True, help="取消该单位的群机器人")
@json_option
@click.pass_obj
def unit_webhook(app: App, code, url, style, remove, as_json) -> None:
    """设定单位的群机器人 Webhook 地址, 通知将同时推送到该群。"""
    from duban.engine.errors import InvalidInput

    if remove == bool(url):
        raise InvalidInput("请给出 Webhook 地址, 或用 --remove 取消(二者选一)")
    row = app.service.set_unit_webhook(app.actor(), code, None if remove else url, style)
    echo_record(row, as_json, f"{row['name']} 的群机器人" + ("已取消" if remove else f"设为 {url}"))


@unit.command("edit")
@click.argument("code")
@click.option("--name", help="单位名称")
@click.option("--parent", help="上级单位代码")
@click.option("--head", help="单位负责人登录名")
@click.option("--liaison", help="督查联络员登录名(每单位一人, 接收本单位通知, 可代表单位办理)")
@json_option
@click.pass_obj
def unit_edit(app: App, code, name, parent, head, liaison, as_json) -> None:
    """修改单位的名称、上级、负责人或督查联络员(管理员)。"""
    changes = {key: value for key, value in (("name", name), ("parent_code", parent),
                                             ("head_login", head), ("liaison_login", liaison))
               if value is not None}
    row = app.service.edit_unit(app.actor(), code, changes)
    echo_record(row, as_json, f"已修改单位 {row['code']} {row['name']}")


@unit.command("list")
@json_option
@click.pass_obj
def unit_list(app: App, as_json) -> None:
    """列出单位。"""
    rows = app.service.units(app.actor())
    echo_table(rows, as_json, ["code", "name", "parent_code", "head_login"],
               ["代码", "名称", "上级", "负责人"])


@click.group()
def person() -> None:
    """人员: 承办人、单位负责人、牵头领导、督查员、管理员。"""


@person.command("add")
@click.argument("login")
@click.argument("name")
@click.option("--unit", "unit_code", help="所在单位代码")
@click.option("--role", "roles", multiple=True,
              help="角色, 可重复: handler 承办人, unit_head 单位负责人, lead_leader 牵头领导, "
                   "supervisor 督查员, admin 管理员, inspector 特邀督查员, evaluator 第三方评估")
@click.option("--deputy", help="B 岗人员登录名(本人不在岗时代为办理)")
@click.option("--email")
@click.option("--phone")
@json_option
@click.pass_obj
def person_add(app: App, login, name, unit_code, roles, deputy, email, phone, as_json) -> None:
    """登记人员 LOGIN NAME(LOGIN 为其系统登录名)。"""
    from duban.engine.directory import NewPerson

    spec = NewPerson(login, name, unit_code, tuple(roles), deputy, email, phone)
    row = app.service.add_person(app.actor(), spec)
    echo_record(row, as_json, f"已登记 {row['name']}({row['login']})")


@person.command("away")
@click.argument("login")
@click.option("--until", required=True, help="不在岗至何时, 如 2026-12-05")
@click.option("--deputy", help="B 岗人员(未设定时必填)")
@json_option
@click.pass_obj
def person_away(app: App, login, until, deputy, as_json) -> None:
    """标记人员不在岗, 期间由 B 岗代为办理。"""
    from duban.engine.timeutil import parse_instant

    moment = parse_instant(until, app.service.tz, end_of_day=True)
    row = app.service.set_away(app.actor(), login, moment, deputy)
    echo_record(row, as_json, f"{row['name']} 不在岗至 {until}, 由 {row['deputy_login']} 代办")


@person.command("back")
@click.argument("login")
@json_option
@click.pass_obj
def person_back(app: App, login, as_json) -> None:
    """人员回岗。"""
    row = app.service.set_away(app.actor(), login, None)
    echo_record(row, as_json, f"{row['name']} 已回岗")


@person.command("edit")
@click.argument("login")
@click.option("--name", help="姓名")
@click.option("--unit", "unit_code", help="所在单位代码")
@click.option("--role", "roles", multiple=True, help="角色(全部列出, 替换原有角色), 可重复")
@click.option("--deputy", help="B 岗人员登录名")
@click.option("--email")
@click.option("--phone")
@json_option
@click.pass_obj
def person_edit(app: App, login, name, unit_code, roles, deputy, email, phone, as_json) -> None:
    """修改人员的姓名、单位、角色、B 岗或联系方式(管理员)。"""
    changes = {key: value for key, value in (
        ("name", name), ("unit_code", unit_code), ("deputy_login", deputy), ("email", email),
        ("phone", phone)) if value is not None}
    if roles:
        changes["roles"] = list(roles)
    row = app.service.edit_person(app.actor(), login, changes)
    echo_record(row, as_json, f"已修改 {row['name']}({login})")


@person.command("deactivate")
@click.argument("login")
@click.option("--reason", required=True, help="理由, 如 调离、退休")
@json_option
@click.pass_obj
def person_deactivate(app: App, login, reason, as_json) -> None:
    """停用人员: 不能登录和办理, 不再接收通知; 记录不删除。随后列出须移交的工作。"""
    row = app.service.set_active(app.actor(), login, False, reason)
    work = app.service.open_work(app.actor(), login)
    if as_json:
        echo_json({**row, "open_work": work})
        return
    click.echo(f"已停用 {row['name']}({login})")
    _print_work(work)


@person.command("activate")
@click.argument("login")
@click.option("--reason", required=True, help="理由")
@click.pass_obj
def person_activate(app: App, login, reason) -> None:
    """重新启用已停用的人员(管理员)。"""
    row = app.service.set_active(app.actor(), login, True, reason)
    click.echo(f"已启用 {row['name']}({login})")


@person.command("work")
@click.argument("login")
@json_option
@click.pass_obj
def person_work(app: App, login, as_json) -> None:
    """某人未了的工作: 负责的事项、牵头的事项、担任负责人或联络员的单位、B 岗。"""
    work = app.service.open_work(app.actor(), login)
    if as_json:
        echo_json(work)
    else:
        _print_work(work)


@person.command("hand-over")
@click.argument("login")
@click.option("--to", "successor", required=True, help="接任者登录名")
@click.option("--reason", required=True, help="理由")
@click.option("--deactivate", is_flag=True, help="移交后停用原人员")
@json_option
@click.pass_obj
def person_hand_over(app: App, login, successor, reason, deactivate, as_json) -> None:
    """把某人未了的工作一次移交接任者(新官要理旧账), 逐项留痕(管理员)。"""
    moved = app.service.hand_over(app.actor(), login, successor, reason, deactivate=deactivate)
    if as_json:
        echo_json(moved)
        return
    click.echo(f"{login} → {successor}: 事项 {len(moved['items'])} 个"
               + (f"(编号 {'、'.join(map(str, moved['items']))})" if moved["items"] else "")
               + f", 负责人 {len(moved['head_of'])} 个单位"
               + f", 联络员 {len(moved['liaison_of'])} 个单位, B 岗 {len(moved['deputy_for'])} 人"
               + ("; 原人员已停用" if deactivate else ""))


def _print_work(work: dict) -> None:
    lines = []
    for key, label in (("owned", "负责(首位签收)的事项"), ("led", "牵头的事项")):
        for item in work[key]:
            lines.append(f"  {label}: {item['id']} {item['title']}")
    for key, label in (("head_of", "负责人"), ("liaison_of", "督查联络员")):
        if work[key]:
            lines.append(f"  {label}: {'、'.join(work[key])}")
    if work["deputy_for"]:
        lines.append(f"  B 岗: {'、'.join(work['deputy_for'])}")
    if lines:
        click.echo(f"{work['name']}({work['login']}) 未了的工作, 须移交"
                   f"(duban person hand-over {work['login']} --to 接任者):")
        click.echo("\n".join(lines))
    else:
        click.echo(f"{work['name']}({work['login']}) 没有未了的工作")


@person.command("list")
@click.option("--unit", "unit_code", help="只看某单位")
@json_option
@click.pass_obj
def person_list(app: App, unit_code, as_json) -> None:
    """列出人员。"""
    rows = app.service.people(app.actor(), unit_code)
    for row in rows:
        row["roles_text"] = ",".join(row["roles"])
    echo_table(rows, as_json, ["login", "name", "unit_code", "roles_text", "deputy_login"],
               ["登录名", "姓名", "单位", "角色", "B岗"])


COMMANDS = (unit, person)
