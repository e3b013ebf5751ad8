"""The public board and the draws through the real CLI in subprocesses."""

from __future__ import annotations

import json
from dataclasses import replace

from duban.app import build_service
from duban.engine.directory import NewPerson
from tests.cli.conftest import ME


def test_board_and_draw_from_the_command_line(cli, settings, tmp_path):
    service = build_service(replace(settings, audit_key_path=tmp_path / "audit.key"))
    service.add_person(ME, NewPerson("sun", "孙督查员", None, ("inspector",)))
    service.add_person(ME, NewPerson("qin", "秦督查员", "JJK", ("inspector",)))
    service.close()
    cli.run("--as", "zhao", "item", "new", "--title", "公开事项<一>", "--unit", "JJK",
            "--deadline", "10个工作日", "--public")
    cli.run("--as", "zhao", "item", "new", "--title", "内部事项", "--unit", "JJK",
            "--deadline", "10个工作日")
    cli.run("--as", "zhao", "board", "note", "1", "已完成摸底")
    refused = cli.error("--as", "zhao", "board", "note", "2", "x", code=3)
    assert "未设为公开" in refused
    drawn = json.loads(cli.run("--as", "zhao", "draw", "--campaign", "冬季检查", "--units", "1",
                               "--inspectors", "1", "--seed", "20261201", "--unit", "JJK",
                               "--unit", "DCS", "--json").stdout)
    again = cli.error("--as", "zhao", "draw", "--campaign", "冬季检查", "--units", "1",
                      "--inspectors", "1", "--seed", "20261201", code=3)
    assert "已经抽取过" in again
    assert [r["unit"] for r in drawn["result"]] == [
        r["unit"] for r in json.loads(cli.run("draws", "--json").stdout)[0]["result"]]
    site = tmp_path / "site"
    done = cli.run("--as", "zhao", "board", "build", str(site)).stdout
    assert "1 个事项" in done and "1 次抽查结果" in done
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "公开事项&lt;一&gt;" in index and "内部事项" not in index and "冬季检查" in index
    assert "孙督查员" not in index and "秦督查员" not in index
    line = cli.error("--as", "wang", "board", "build", str(tmp_path / "other"), code=3)
    assert "只有督查员或管理员可以" in line
