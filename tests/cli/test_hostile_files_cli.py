"""Hostile files through the real command line: one line on stderr, exit 2, no traceback,
nothing imported, nothing half-written."""

from __future__ import annotations

import csv
import io
import os
import subprocess

import pytest

from tests.cli.conftest import DUBAN, Cli
from tests.engine.test_hostile_files import FAR_CORNER, HOSTILE, sheet, xlsx

pytestmark = pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
NOW = ("--now", "2026-11-02 09:00")


def item_total(cli: Cli) -> int:
    return cli.json("ledger", "--limit", "1")["total"]


def one_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("错误: ")
    return lines[0]


@pytest.mark.parametrize("name", ["not a zip", "truncated zip", "broken sheet xml",
                                  "billion laughs in shared strings",
                                  "a cell at XFD1048576, declared",
                                  "a cell at XFD1048576, dimension lies"])
def test_a_hostile_workbook_imports_nothing(cli: Cli, tmp_path, name):
    data, answer = HOSTILE[name]
    path = tmp_path / "hostile.xlsx"
    path.write_bytes(data)
    before = item_total(cli)
    # the far corner once took 12 s and 0.9 GB; the timeout only catches a runaway
    done = subprocess.run([DUBAN, "--as", "zhao", *NOW, "import", str(path)], env=cli.env,
                          capture_output=True, text=True, timeout=30)
    assert answer in one_line(done)
    assert item_total(cli) == before


def test_the_far_corner_without_a_dimension_is_refused_quickly(cli: Cli, tmp_path):
    path = tmp_path / "corner.xlsx"
    path.write_bytes(xlsx(sheet(FAR_CORNER)))
    done = subprocess.run([DUBAN, "--as", "zhao", *NOW, "import", str(path)], env=cli.env,
                          capture_output=True, text=True, timeout=30)
    assert "超过 100000 行" in one_line(done)


def test_unreadable_import_paths_are_one_line(cli: Cli, tmp_path):
    fifo = tmp_path / "pipe.xlsx"
    os.mkfifo(fifo)
    for given, answer in ((tmp_path, "是目录, 请给出文件"), ("/dev/zero", "不是普通文件"),
                          (fifo, "不是普通文件"), (tmp_path / "none.xlsx", "找不到文件")):
        assert answer in cli.error("--as", "zhao", "import", str(given), code=2)


def test_hostile_year_files_are_one_line(cli: Cli, tmp_path):
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    deep = tmp_path / "deep.toml"
    deep.write_text("year = 2027\nholidays = " + "[" * 5000 + "]" * 5000 + "\n")
    five = tmp_path / "five.toml"
    five.write_text("year = 2027\nholidays = 5\n")
    early = tmp_path / "1800.toml"
    early.write_text("year = 1800\n")
    for given, answer in (("/dev/zero", "/dev/zero 不是普通文件(设备或管道), 无法读取"),
                          (fifo, "不是普通文件"), (tmp_path, "是目录, 请给出文件"),
                          (deep, "holidays 的数组或表嵌套层数过多"),
                          (five, "holidays 应为日期列表"),
                          (early, "year 应为 2000 到 2100 之间的整数年份, 不是 1800")):
        assert answer in cli.error("calendar", "load", str(given), code=2)


@pytest.mark.parametrize("target, answer", [
    ("/dev/full", "无法写入 /dev/full: 磁盘空间不足"),
    ("{tmp}", "是目录, 请给出文件名"),
    ("{tmp}/missing/x.xlsx", "文件夹 {tmp}/missing 不存在"),
    ("/sys/duban-test.xlsx", "无法写入 /sys/duban-test.xlsx: 没有权限"),
])
def test_a_ledger_export_that_cannot_be_written_is_one_line(cli: Cli, tmp_path, target, answer):
    cli.run("--as", "zhao", *NOW, "item", "new", "--title", "排查", "--unit", "JJK",
            "--deadline", "2026-12-10")
    path = target.format(tmp=tmp_path)
    done = subprocess.run([DUBAN, "--as", "zhao", *NOW, "ledger", "--xlsx", path], env=cli.env,
                          capture_output=True, text=True, timeout=60)
    assert answer.format(tmp=tmp_path) in one_line(done)
    assert [p for p in tmp_path.rglob("*") if p.name.endswith(".part")] == []


def test_other_named_outputs_and_inputs_are_one_line(cli: Cli, tmp_path):
    created = cli.json("--as", "zhao", *NOW, "item", "new", "--title", "排查", "--unit", "JJK",
                       "--deadline", "2026-12-10")
    item_id = str(created["id"])
    line = cli.error("--as", "zhao", *NOW, "notices", "preview", "--item", item_id, "--kind",
                     "urging", "--out", str(tmp_path / "none" / "x.txt"), code=2)
    assert "不存在" in line
    assert "磁盘空间不足" in cli.error("--as", "zhao", *NOW, "notices", "preview", "--item",
                                       item_id, "--kind", "urging", "--out", "/dev/full", code=2)
    assert "找不到文件" in cli.error("--as", "zhao", *NOW, "evidence", "add", item_id,
                                     str(tmp_path / "none.pdf"), code=2)
    assert "是目录" in cli.error("--as", "zhao", *NOW, "evidence", "add", item_id,
                                 str(tmp_path), code=2)
    assert "已存在且不是文件夹" in cli.error("board", "build", "/dev/null", code=2)


def test_csv_keeps_formula_like_text_as_text(cli: Cli):
    titles = ('=HYPERLINK("http://x","y")', "+1", "-1+2", "@SUM(A1)")
    for title in titles:
        cli.run("--as", "zhao", *NOW, "item", "new", f"--title={title}", "--unit", "JJK",
                "--deadline", "2026-11-04")
    later = ("--now", "2026-11-10 09:00")  # overdue: negative working days, still numbers
    rows = list(csv.reader(io.StringIO(cli.run("--as", "zhao", *later, "ledger", "--csv")
                                       .stdout)))
    assert sorted(row[1] for row in rows[1:]) == sorted("'" + title for title in titles)
    assert all(row[0].isdigit() for row in rows[1:])
    assert {row[10] for row in rows[1:]} == {"-4"}  # a number, not quoted
