"""Accounts through the real CLI: set-up code, first password, wrong passwords and lockout,
a temporary password changed at first sign-in, tokens that expire and are revoked."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, text

from duban.engine.models import AUDIT_EVENT
from tests.cli.conftest import ME

NOW = "2026-11-02 09:00"
PASSWORD = "Jiaoyu-2026!"


def at(minute: int, second: int = 0) -> tuple[str, str]:
    return "--now", f"2026-11-02 09:{minute:02d}:{second:02d}"


def audit_actions(cli) -> list[tuple[str, str]]:
    engine = create_engine(cli.env["DUBAN_DB"])
    with engine.connect() as conn:
        rows = conn.execute(select(AUDIT_EVENT.c.action, AUDIT_EVENT.c.actor)
                            .order_by(AUDIT_EVENT.c.seq)).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def everything_stored(cli) -> str:
    """Every value of every table, as text: what a copy of the database would reveal."""
    engine = create_engine(cli.env["DUBAN_DB"])
    found = []
    with engine.connect() as conn:
        for table in ("audit_event", "account", "token", "person", "notice"):
            found += [repr(tuple(row)) for row in conn.execute(text(f"SELECT * FROM {table}"))]
    engine.dispose()
    return "\n".join(found)


def test_set_up_code_first_password_lockout_and_release(cli):
    opened = cli.json("--now", NOW, "account", "setup", "wang")
    code = opened["secret"]
    assert len(code) == 19 and opened["temporary"] is False
    assert "设置码无效" in cli.error(*at(1), "account", "activate", "wang",
                                    stdin="WRONG-CODE\n" + PASSWORD + "\n", code=3)
    assert "新密码不合要求: 至少 8 位" in cli.error(*at(1), "account", "activate", "wang",
                                               stdin=f"{code}\nshort\n", code=2)
    cli.run(*at(2), "account", "activate", "wang", stdin=f"{code.lower()}\n{PASSWORD}\n")
    assert "设置码无效" in cli.error(*at(3), "account", "activate", "wang",
                                    stdin=f"{code}\nAnother-pass-1\n", code=3)  # spent
    assert "王芳(wang) 登录成功" in cli.run(*at(4), "account", "sign-in", "wang",
                                            stdin=PASSWORD + "\n").stdout
    # Wrong passwords: two free tries, then each next one waits, then the account locks.
    assert cli.error(*at(5), "account", "sign-in", "wang", stdin="guess1\n", code=3) \
        == "错误: 登录名或密码不正确"
    cli.error(*at(5, 1), "account", "sign-in", "wang", stdin="guess2\n", code=3)
    assert "请 2 秒后再试" in cli.error(*at(5, 2), "account", "sign-in", "wang",
                                       stdin="guess3\n", code=3)
    assert "请 2 秒后再试" in cli.error(*at(5, 3), "account", "sign-in", "wang",
                                       stdin=PASSWORD + "\n", code=3)  # too soon: not checked
    cli.error(*at(5, 10), "account", "sign-in", "wang", stdin="guess4\n", code=3)
    assert "锁定 30 分钟" in cli.error(*at(5, 30), "account", "sign-in", "wang",
                                      stdin="guess5\n", code=3)
    assert "已锁定至 2026-11-02 09:35" in cli.error(*at(10), "account", "sign-in", "wang",
                                                  stdin=PASSWORD + "\n", code=3)
    cli.run(*at(11), "account", "unlock", "wang")
    cli.run(*at(12), "account", "sign-in", "wang", stdin=PASSWORD + "\n")
    # an unknown login is answered exactly like a wrong password
    assert cli.error(*at(13), "account", "sign-in", "nobody", stdin="x\n", code=3) \
        == "错误: 登录名或密码不正确"
    actions = audit_actions(cli)
    assert ("account_setup", ME) in actions and ("password_set", "wang") in actions
    assert actions.count(("sign_in_failed", "wang")) == 5
    assert ("locked", "wang") in actions and ("unlocked", ME) in actions
    assert actions.count(("sign_in", "wang")) == 2
    assert ("sign_in_failed", "nobody") in actions
    stored = everything_stored(cli)
    assert code not in stored and PASSWORD not in stored and "$argon2id$" in stored


def test_a_temporary_password_must_be_changed_and_others_cannot_open_accounts(cli):
    temporary = cli.json("--now", NOW, "account", "setup", "zhao", "--temporary")["secret"]
    assert "临时密码, 请先用 duban account password 修改" in cli.run(
        *at(1), "account", "sign-in", "zhao", stdin=temporary + "\n").stdout
    cli.run(*at(2), "account", "password", "zhao", stdin=f"{temporary}\n{PASSWORD}\n")
    assert "登录成功" in cli.run(*at(3), "account", "sign-in", "zhao",
                                 stdin=PASSWORD + "\n").stdout
    assert cli.json(*at(3), "account", "show", "zhao")["must_change"] is False
    assert "只有管理员可以" in cli.error("--as", "wang", "account", "setup", "zhao", code=3)
    assert "只有管理员可以" in cli.error("--as", "wang", "account", "show", "zhao", code=3)


def test_tokens_act_until_they_expire_or_are_revoked(cli):
    item = cli.json("--as", "zhao", "--now", NOW, "item", "new", "--title", "排查", "--unit",
                    "JJK", "--deadline", "2026-11-20")["id"]
    made = cli.json("--as", "wang", "--now", NOW, "token", "create", "笔记本", "--days", "1")
    token = made["secret"]
    assert token.startswith("dbn_") and made["login"] == "wang"
    as_token = ("--token", token)
    assert cli.json(*as_token, "--now", "2026-11-02 10:00", "item", "show", str(item))["id"] \
        == item
    signed = cli.json(*as_token, "--now", "2026-11-02 10:00", "sign", str(item))
    assert signed["state"] == "in_progress"
    assert "令牌无效、已过期或已吊销" in cli.error(*as_token, "--now", "2026-11-03 09:01",
                                                 "item", "list", code=3)  # a day later
    second = cli.json("--as", "wang", "--now", NOW, "token", "create", "手机")
    listed = cli.json("--as", "wang", "token", "list")
    assert [t["name"] for t in listed] == ["笔记本", "手机"] and "hash" not in listed[0]
    cli.run("--as", "wang", "token", "revoke", str(second["id"]))
    assert "令牌无效" in cli.error("--token", second["secret"], "item", "list", code=3)
    assert "没有编号为 1 的令牌" in cli.error("--as", "zhao", "token", "revoke", "1", code=4)
    assert "令牌无效" in cli.error("--token", "dbn_forged", "item", "list", code=3)
    actions = audit_actions(cli)
    assert actions.count(("token_created", "wang")) == 2
    assert ("token_revoked", "wang") in actions
    assert ("refused", "token:forged") in actions  # who tried, by the token's first letters
    stored = everything_stored(cli)
    assert token not in stored and second["secret"] not in stored


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_a_deactivated_person_can_neither_sign_in_nor_use_a_token(cli):
    code = cli.json("account", "setup", "wang")["secret"]
    cli.run("account", "activate", "wang", stdin=f"{code}\n{PASSWORD}\n")
    token = cli.json("--as", "wang", "token", "create", "x")["secret"]
    cli.run("--token", token, "item", "list")
    cli.run("person", "deactivate", "wang", "--reason", "调离")
    assert "令牌无效" in cli.error("--token", token, "item", "list", code=3)
    assert "王芳(wang) 已停用" in cli.error("account", "sign-in", "wang",
                                           stdin=PASSWORD + "\n", code=3)
