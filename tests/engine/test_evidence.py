"""Evidence (佐证材料) through the service, on SQLite and PostgreSQL: kept with its event,
proven by the chain, refused whole, read with the item's permissions, never deleted."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from duban.app import build_service
from duban.engine.directory import NewPerson
from duban.engine.errors import InvalidInput, NotFound, Refused
from duban.engine.ledger import LedgerFilter
from duban.engine.models import AUDIT_EVENT, EVIDENCE
from tests.conftest import ADMIN, build_office, item_events

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 64


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def files(*pairs: tuple[str, bytes]) -> list[tuple[str, io.BytesIO]]:
    return [(name, io.BytesIO(content)) for name, content in pairs]


def stored(service) -> list[str]:
    """The files in place in the store (not the incoming ones)."""
    root = service.evidence_store.root
    return sorted(path.name for path in root.glob("??/??/*"))


def evidence_rows(service) -> int:
    with service.db.read() as conn:
        return conn.execute(select(func.count()).select_from(EVIDENCE)).scalar_one()


def signed(office) -> int:
    item = office.item()
    office.fire("wang", item, "sign")
    return item


def test_a_report_keeps_its_files_and_the_chain_proves_them(office):
    svc = office.service
    item = signed(office)
    svc.fire("wang", item, "report", {"report": "已整改"},
             attachments=files(("整改报告.pdf", PDF), ("现场.png", PNG),
                               ("方案.docx", docx_bytes())))
    listed = svc.evidence_of("zhao", item)
    assert [(r["name"], r["media_type"], r["event_label"]) for r in listed] == [
        ("整改报告.pdf", "application/pdf", "报结"), ("现场.png", "image/png", "报结"),
        ("方案.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "报结")]
    report = [e for e in item_events(svc, item) if e["event"] == "report"][0]
    assert [(e["name"], e["sha256"], e["size"]) for e in report["payload"]["evidence"]] == [
        (r["name"], r["sha256"], r["size"]) for r in listed]
    assert listed[0]["sha256"] == hashlib.sha256(PDF).hexdigest()
    row, content = svc.evidence_file("wang", listed[0]["id"])
    with content:
        assert content.read() == PDF
    assert svc.verify_audit().ok
    check = svc.verify_files()
    assert (check.ok, check.files_checked) == (True, 3)


def test_the_same_file_twice_is_stored_once(office):
    svc = office.service
    item = signed(office)
    svc.fire("wang", item, "progress", {"note": "第一周"}, attachments=files(("a.pdf", PDF)))
    svc.fire("wang", item, "progress", {"note": "第二周"},
             attachments=files(("again.pdf", PDF), ("same-again.pdf", PDF)))
    assert [r["name"] for r in svc.evidence_of("zhao", item)] == ["a.pdf", "again.pdf"]
    assert stored(svc) == [hashlib.sha256(PDF).hexdigest()]


@pytest.mark.parametrize("name, content, message", [
    ("程序.pdf", ELF, "文件 程序.pdf 的类型不受支持(按内容判断)"),
    ("空.txt", b"", "文件 空.txt 是空文件"),
    ("坏.docx", b"PK\x03\x04broken", "文件 坏.docx 的类型不受支持(按内容判断)"),
])
def test_a_refused_file_refuses_the_whole_event_and_writes_nothing(office, name, content,
                                                                   message):
    svc = office.service
    item = signed(office)
    before = svc.item("zhao", item)
    with pytest.raises(InvalidInput) as refused:
        svc.fire("wang", item, "report", {"report": "已整改"},
                 attachments=files(("好的.pdf", PDF), (name, content)))
    assert str(refused.value).startswith(message)
    assert svc.item("zhao", item)["version"] == before["version"]
    assert evidence_rows(svc) == 0
    assert stored(svc) == []
    assert list((svc.evidence_store.root / ".incoming").iterdir()) == []


def test_size_and_count_limits_come_from_the_settings(service, clock, tmp_path):
    tables = {**service.settings.tables, "evidence": {"max_file_mb": 1, "max_files": 2}}
    svc = build_service(replace(service.settings, tables=tables), clock)
    try:
        office = build_office(svc, clock)
        item = signed(office)
        big = PDF + b"0" * (1 << 20)
        with pytest.raises(InvalidInput, match="文件 大.pdf 超过大小上限 1 MB"):
            svc.fire("wang", item, "report", {"report": "x"}, attachments=files(("大.pdf", big)))
        with pytest.raises(InvalidInput, match="一次最多附 2 个文件, 收到 3 个"):
            svc.fire("wang", item, "report", {"report": "x"},
                     attachments=files(("1.pdf", PDF), ("2.png", PNG), ("3.txt", b"ok")))
        assert evidence_rows(svc) == 0
    finally:
        svc.close()


def test_a_refused_event_leaves_no_file_in_the_store(office):
    svc = office.service
    item = signed(office)
    with pytest.raises(NotFound):  # another unit's item: as if it did not exist
        svc.fire("zheng", item, "report", {"report": "不是我的"},
                 attachments=files(("x.pdf", PDF)))
    assert stored(svc) == []
    assert evidence_rows(svc) == 0


def test_a_workflow_may_require_evidence_for_an_event(office):
    svc = office.service
    item = office.item(workflow="inspection", attrs={"category": "选人用人"})
    office.fire("wang", item, "sign")
    with pytest.raises(InvalidInput, match="报送整改结果须附佐证材料: 整改佐证材料"):  # v2
        svc.fire("wang", item, "report", {"report": "已整改"})
    done = svc.fire("wang", item, "report", {"report": "已整改"},
                    attachments=files(("整改照片.png", PNG)))
    assert done["state"] == "reported"


def test_evidence_is_read_with_the_items_permissions(office):
    svc = office.service
    item = signed(office)
    svc.fire("wang", item, "report", {"report": "已整改"}, attachments=files(("r.pdf", PDF)))
    evidence_id = svc.evidence_of("wang", item)[0]["id"]
    for outsider in ("zheng", "lin"):
        with pytest.raises(NotFound, match=f"没有编号为 {item} 的督办事项"):
            svc.evidence_of(outsider, item)
        with pytest.raises(NotFound) as missing:
            svc.evidence_file(outsider, evidence_id)
        with pytest.raises(NotFound) as absent:
            svc.evidence_file(outsider, evidence_id + 1000)
        assert str(missing.value) == str(absent.value).replace(
            str(evidence_id + 1000), str(evidence_id))
    with svc.db.read() as conn:
        refusals = conn.execute(select(AUDIT_EVENT.c.actor, AUDIT_EVENT.c.reason).where(
            AUDIT_EVENT.c.action == "refused", AUDIT_EVENT.c.event == "evidence_get")).all()
    assert sorted(refusals) == [("lin", f"无权查看佐证材料 {evidence_id}"),
                                ("zheng", f"无权查看佐证材料 {evidence_id}")]


def test_supplementary_files_and_a_withdrawal_are_audited_and_nothing_is_deleted(office):
    svc = office.service
    item = signed(office)
    added = svc.add_evidence("wang", item, files(("补充.pdf", PDF)), "会议纪要")
    svc.add_evidence("zhou", item, files(("签到表.png", PNG)))
    svc.add_person(ADMIN, NewPerson("sun", "孙督查员", None, ("inspector",)))
    svc.assign_inspector("zhao", item, "sun")
    with pytest.raises(Refused, match="只有承办单位、牵头领导和督查室可以"):
        svc.add_evidence("sun", item, files(("x.pdf", PDF)))  # reads it, may not add to it
    with pytest.raises(NotFound):
        svc.add_evidence("zheng", item, files(("x.pdf", PDF)))  # another unit's item
    with pytest.raises(Refused, match="只有上传人或督查员可以"):
        svc.withdraw_evidence("zhou", added[0]["id"], "误传")
    with pytest.raises(InvalidInput, match="须说明理由"):
        svc.withdraw_evidence("wang", added[0]["id"], " ")
    svc.withdraw_evidence("wang", added[0]["id"], "误传")
    with pytest.raises(Refused, match="已于先前撤回"):
        svc.withdraw_evidence("zhao", added[0]["id"], "再撤")
    assert [r["name"] for r in svc.evidence_of("zhao", item)] == ["签到表.png"]
    everything = svc.evidence_of("zhao", item, withdrawn=True)
    assert [(r["name"], r["withdrawn_reason"]) for r in everything] == [
        ("补充.pdf", "误传"), ("签到表.png", None)]
    assert hashlib.sha256(PDF).hexdigest() in stored(svc)  # the file stays in the store
    actions = [e["action"] for e in item_events(svc, item)]
    assert actions.count("evidence_added") == 2 and actions.count("evidence_withdrawn") == 1
    timeline = svc.item_view("zhao", item).timeline
    assert [(t.what, [f["name"] for f in t.evidence]) for t in timeline
            if t.what in ("补充材料", "撤回佐证材料")] == [
        ("补充材料", []), ("补充材料", ["签到表.png"]), ("撤回佐证材料", [])]
    assert svc.ledger_page("zhao", LedgerFilter())[0][0]["evidence_count"] == 1


def test_verify_files_names_the_event_and_the_file_that_fails(office):
    svc = office.service
    item = signed(office)
    svc.fire("wang", item, "report", {"report": "已整改"},
             attachments=files(("报告.pdf", PDF), ("现场.png", PNG)))
    pdf, png = (svc.evidence_store.path_of(hashlib.sha256(c).hexdigest()) for c in (PDF, PNG))
    os.chmod(pdf, 0o600)
    pdf.write_bytes(PDF.replace(b"1.4", b"1.7"))
    png.unlink()
    report = svc.verify_files()
    seq = [e for e in item_events(svc, item) if e["event"] == "report"][0]["seq"]
    assert not report.ok
    assert len(report.problems) == 2
    assert report.problems[0].startswith(f"审计事件 {seq}: 佐证材料 1 “报告.pdf”")
    assert "内容已被改动" in report.problems[0]
    assert report.problems[1].startswith(f"审计事件 {seq}: 佐证材料 2 “现场.png”")
    assert report.problems[1].endswith("文件缺失")
    with pytest.raises(Refused):
        svc.verify_files("wang")
