"""``duban notices`` in a subprocess: list, show, preview, send, requeue, and bad input."""

from __future__ import annotations

import io

import pytest
from docx import Document as WordDocument

from tests.cli.conftest import Cli

pytestmark = pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)


@pytest.fixture
def office_cli(cli, tmp_path) -> Cli:
    config = tmp_path / "duban.toml"
    config.write_text(
        f'[office]\nname = "××市教育局督查室"\n\n[notices]\noutbox = "{tmp_path / "out"}"\n',
        encoding="utf-8")
    cli.env["DUBAN_CONFIG"] = str(config)
    return cli


def test_notices_from_the_command_line(office_cli, tmp_path):
    cli = office_cli
    item = str(cli.json("--as", "zhao", "--now", "2026-11-02 09:00", "item", "new", "--title",
                        "校园<安全>排查", "--unit", "JJK", "--deadline", "2026-11-20")["id"])
    cli.run("--as", "wang", "--now", "2026-11-03 09:00", "sign", item)
    cli.run("--as", "zhao", "--now", "2026-11-04 09:00", "warn", item, "--level", "red",
            "--reason", "进展缓慢")
    listed = cli.run("--as", "zhao", "notices", "list").stdout
    assert "督办〔2026〕2号  待发送  关于对“校园<安全>排查”发出红色预警的通知" in listed
    assert "共 2 条(全部: 待发送 2)" in listed
    [warning, assignment] = cli.json("--as", "zhao", "notices", "list")
    shown = cli.run("--as", "wang", "notices", "show", str(warning["id"])).stdout
    assert shown.startswith("××市教育局督查室\n督办〔2026〕2号\n")
    assert "file     发件箱  待发送  已尝试 0 次" in shown
    html = cli.run("--as", "wang", "notices", "preview", str(warning["id"]), "--format",
                   "html").stdout
    assert "校园&lt;安全&gt;排查" in html and "<!DOCTYPE html>" in html
    out = tmp_path / "warning.docx"
    cli.run("--as", "wang", "notices", "preview", str(warning["id"]), "--format", "docx",
            "--out", str(out))
    texts = [p.text.replace("\n", "")  # a long title breaks into lines inside its paragraph
             for p in WordDocument(io.BytesIO(out.read_bytes())).paragraphs]
    assert "关于对“校园<安全>排查”发出红色预警的通知" in texts
    draft = cli.run("--as", "zhao", "--now", "2026-11-23 09:00", "notices", "preview",
                    "--item", item, "--kind", "urging").stdout
    assert "督办〔2026〕　号" in draft and "已逾期1个工作日" in draft
    assert len(cli.json("--as", "zhao", "notices", "list")) == 2  # the preview wrote nothing
    sent = cli.run("--as", "zhao", "notices", "send").stdout
    assert "送达 2, 失败待重试 0, 无法送达 0" in sent
    assert sorted(p.name for p in (tmp_path / "out").glob("*.txt")) == [
        f"event_{item}_created_assignment.txt", f"event_{item}_warn_3_warning.txt"]
    assert cli.json("--as", "zhao", "notices", "list", "--dead") == []
    assert "已送达" in cli.error("--as", "zhao", "notices", "requeue", str(warning["id"]),
                                 code=3)
    assert "只有督查员或管理员" in cli.error("--as", "wang", "notices", "requeue",
                                          str(warning["id"]), code=3)
    assert "二者选一" in cli.error("--as", "zhao", "notices", "preview", code=2)
    assert "--out" in cli.error("--as", "zhao", "notices", "preview", "1", "--format", "docx",
                                code=2)
    assert "没有通知类型 nosuch" in cli.error("--as", "zhao", "notices", "preview", "--item",
                                          item, "--kind", "nosuch", code=2)
    assert "没有编号为 99 的通知" in cli.error("--as", "zhao", "notices", "show", "99", code=4)
    history = cli.run("--as", "zhao", "item", "history", item).stdout
    assert "通知已送达 督办〔2026〕2号 [file]" in history
    assert "审计链完整" in cli.run("audit", "verify").stdout


def test_unit_webhook_is_checked(office_cli):
    cli = office_cli
    assert "http://" in cli.error("unit", "webhook", "JJK", "ftp://robot", code=2)
    assert "二者选一" in cli.error("unit", "webhook", "JJK", code=2)
    row = cli.json("unit", "webhook", "JJK", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
                   "?key=abc", "--style", "wecom")
    assert (row["webhook_style"], row["code"]) == ("wecom", "JJK")
    assert cli.json("unit", "webhook", "JJK", "--remove")["webhook"] is None
