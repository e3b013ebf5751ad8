"""Evidence through the real CLI in subprocesses, on SQLite and PostgreSQL: attach, list,
get, withdraw, ``audit verify --files``, refusals, and a kill -9 halfway through an upload."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.cli.conftest import DUBAN

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4


def signed_item(cli) -> str:
    cli.run("--as", "zhao", "item", "new", "--title", "校舍安全排查", "--unit", "JJK",
            "--deadline", "10个工作日")
    cli.run("--as", "wang", "sign", "1")
    return "1"


def test_attach_list_get_withdraw_and_verify(cli, tmp_path):
    item = signed_item(cli)
    report, photo = tmp_path / "整改报告.pdf", tmp_path / "现场照片.jpg"
    report.write_bytes(PDF)
    photo.write_bytes(JPEG)
    cli.run("--as", "wang", "report", item, "--report", "已完成整改",
            "--attach", str(report), "--attach", str(photo))
    listed = cli.json("--as", "zhao", "evidence", "list", item)
    assert [(e["name"], e["type_label"], e["event_label"]) for e in listed] == [
        ("整改报告.pdf", "PDF 文档", "报结"), ("现场照片.jpg", "JPEG 图片", "报结")]
    table = cli.run("--as", "wang", "evidence", "list", item).stdout
    assert "整改报告.pdf" in table and "JPEG 图片" in table
    out = tmp_path / "取回.pdf"
    cli.run("--as", "zhao", "evidence", "get", str(listed[0]["id"]), "--out", str(out))
    assert out.read_bytes() == PDF
    history = cli.run("item", "history", item).stdout
    assert "佐证: 整改报告.pdf(编号 1)、现场照片.jpg(编号 2)" in history

    cli.run("--as", "wang", "evidence", "withdraw", "2", "--reason", "照片拍错了")
    assert [e["name"] for e in cli.json("--as", "zhao", "evidence", "list", item)] == [
        "整改报告.pdf"]
    verified = cli.run("audit", "verify", "--files").stdout
    assert "已校验 2 份佐证材料文件" in verified and "佐证材料完整" in verified


def test_verify_files_finds_a_tampered_and_a_missing_file(cli, tmp_path):
    item = signed_item(cli)
    (tmp_path / "a.pdf").write_bytes(PDF)
    (tmp_path / "b.jpg").write_bytes(JPEG)
    cli.run("--as", "wang", "progress", item, "--note", "第一周",
            "--attach", str(tmp_path / "a.pdf"))
    cli.run("--as", "wang", "evidence", "add", item, str(tmp_path / "b.jpg"), "--note", "补拍")
    stored_pdf = cli.evidence / hashlib.sha256(PDF).hexdigest()[:2]
    pdf = next(stored_pdf.rglob(hashlib.sha256(PDF).hexdigest()))
    jpeg = next(cli.evidence.rglob(hashlib.sha256(JPEG).hexdigest()))
    os.chmod(pdf, 0o600)
    pdf.write_bytes(PDF + b"tampered")
    jpeg.unlink()
    done = cli.run("audit", "verify", "--files", code=6)
    lines = [line for line in done.stdout.splitlines() if line.startswith("  - ")]
    assert len(lines) == 2
    assert "佐证材料 1 “a.pdf”" in lines[0] and "内容已被改动" in lines[0]
    assert "佐证材料 2 “b.jpg”" in lines[1] and lines[1].endswith("文件缺失")
    as_json = json.loads(cli.run("audit", "verify", "--files", "--json", code=6).stdout)
    assert as_json["ok"] is False and len(as_json["files"]["problems"]) == 2
    # the chain itself is intact: only the files are not
    assert "审计链完整" in done.stdout


def test_a_file_refused_by_type_or_size_is_one_line_and_nothing_is_written(cli, tmp_path):
    item = signed_item(cli)
    program = tmp_path / "报告.pdf"
    program.write_bytes(b"MZ\x90\x00" + b"\x00" * 100)  # a Windows program named .pdf
    good = tmp_path / "ok.pdf"
    good.write_bytes(PDF)
    line = cli.error("--as", "wang", "report", item, "--report", "x", "--attach", str(good),
                     "--attach", str(program), code=2)
    assert line.startswith("错误: 文件 报告.pdf 的类型不受支持(按内容判断)")
    cli.config.write_text(f'[evidence]\nfolder = "{cli.evidence}"\nmax_file_mb = 1\n',
                          encoding="utf-8")
    big = tmp_path / "大文件.pdf"
    big.write_bytes(PDF + b"0" * (2 << 20))
    line = cli.error("--as", "wang", "report", item, "--report", "x", "--attach", str(big),
                     code=2)
    assert line == "错误: 文件 大文件.pdf 超过大小上限 1 MB"
    line = cli.error("--as", "wang", "report", item, "--report", "x", "--attach",
                     str(tmp_path / "没有.pdf"), code=2)
    assert line.startswith("错误: 找不到文件") and "没有.pdf" in line
    assert cli.json("item", "show", item)["state"] == "in_progress"
    assert cli.json("--as", "zhao", "evidence", "list", item) == []
    assert not [p for p in cli.evidence.rglob("*") if p.is_file() and ".incoming" not in p.parts]


def test_kill_9_in_the_middle_of_a_large_upload_leaves_no_file_and_no_event(cli, tmp_path):
    item = signed_item(cli)
    pipe = tmp_path / "slow.pdf"
    os.mkfifo(pipe)
    process = subprocess.Popen([DUBAN, "--as", "wang", "report", item, "--report", "x",
                                "--attach", str(pipe)], env=cli.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(pipe, "wb", buffering=0) as writer:
        writer.write(PDF + b"0" * (4 << 20))  # 4 MB in, more to come
        writer.flush()
        incoming = cli.evidence / ".incoming"
        deadline = time.monotonic() + 30
        while not any(p.stat().st_size > 0 for p in incoming.glob("in-*")):
            assert time.monotonic() < deadline, "the upload never started"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        try:
            writer.write(b"0" * (1 << 20))
        except BrokenPipeError:
            pass
    assert process.returncode == -signal.SIGKILL
    half = [p for p in incoming.glob("in-*")]
    assert half, "the half upload is where nobody looks for it"
    placed = [p for p in cli.evidence.rglob("*") if p.is_file() and ".incoming" not in p.parts]
    assert placed == []
    assert cli.json("--as", "zhao", "evidence", "list", item) == []
    history = cli.json("item", "history", item)
    assert [e["event"] for e in history if e["action"] == "event"] == ["sign"]
    assert "审计链完整" in cli.run("audit", "verify", "--files").stdout
    # the next upload goes through; a half upload older than a day is cleared by it
    old = time.time() - 2 * 86400
    os.utime(half[0], (old, old))
    Path(tmp_path / "ok.pdf").write_bytes(PDF)
    cli.run("--as", "wang", "report", item, "--report", "x", "--attach", str(tmp_path / "ok.pdf"))
    assert not half[0].exists()
