"""Every notice kind rendered with Chinese content and compared with reviewed golden files;
escaping; the Word document read back; an admin's template taking precedence (the printed
layout itself: test_print_layout.py)."""

from __future__ import annotations

import io
import os
from dataclasses import replace
from pathlib import Path

import pytest
from docx import Document as WordDocument

from duban.app import build_service
from duban.notifiers.outbox import outbox_of
from duban.notifiers.render import Document, Renderer, cn_date, cn_datetime, paragraphs
from tests.conftest import ADMIN, SHANGHAI, build_office, local

GOLDEN = Path(__file__).with_name("golden")
UPDATE = os.environ.get("DUBAN_UPDATE_GOLDEN") == "1"
OFFICE = {"name": "××市教育局督查室", "contact": "赵敏", "phone": "0571-87000000",
          "accountability_to": "市教育局党组、市人民政府"}

# (golden name, kind, payload): one of each kind the workflows send.
CASES = [
    ("assignment", "assignment", {"event": "created"}),
    ("reminder", "reminder", {"step": "remind_3", "label": "期限前3个工作日提醒"}),
    ("urging", "urging", {"step": "urge"}),
    ("warning-yellow", "warning", {"values": {"level": "yellow",
                                              "reason": "已到办理期限仍未报结"}}),
    ("warning-red", "warning", {"values": {"level": "red", "reason": "逾期5个工作日仍未报结"}}),
    ("interview", "interview", {
        "event": "summon", "values": {"reason": "逾期10个工作日仍未报结",
                                      "at": "2026-12-01T09:30:00+08:00", "place": "局三楼会议室"},
        "notes": {"summoned": "zhou"}, "actor_name": "赵督查"}),
    ("interview_proposal", "interview_proposal", {"step": "escalate"}),
    ("accountability", "accountability", {
        "event": "hold_accountable", "values": {"reason": "经多次督办仍未整改到位"},
        "notes": {"unit_head": "zhou", "lead_leader": "chen"}}),
    ("redo", "redo", {"event": "reject", "values": {"reason": "报结材料与现场核查情况不符"}}),
    ("extension-approved", "extension_result", {"event": "approve_extension", "values": {}}),
    ("extension-denied", "extension_result", {
        "event": "deny_extension", "values": {"reason": "延期理由不充分"}}),
    ("extension_pending", "extension_pending", {"step": "extension_decision"}),
    ("progress_request", "progress_request", {"step": "progress_report"}),
    ("closed", "closed", {"event": "close"}),
    ("deadline_changed", "deadline_changed", {"from": "2027-02-10T15:59:59+00:00"}),
]


@pytest.fixture
def golden_office(tmp_path, request):
    from tests.conftest import FixedClock, Settings, new_database_url

    clock = FixedClock(local("2026-11-02 09:00"))
    settings = Settings(db_url=new_database_url("sqlite", tmp_path, request),
                        audit_key_path=tmp_path / "audit.key",
                        tables={"office": OFFICE, "notices": {"outbox": str(tmp_path / "out")}})
    service = build_service(settings, clock)
    service.init(ADMIN, "管理员")
    office = build_office(service, clock)
    yield office
    service.close()


def write_notice(office, item_id: int, kind: str, payload: dict, key: str) -> dict:
    service = office.service
    with service.system_transaction() as txn:
        from duban.engine import items, notices

        item = items.load(txn, item_id)
        notices.write(txn, item, kind, key=key, to=["wang", "zhou"], cc=["chen"],
                      payload=payload)
    return next(n for n in service.notices(ADMIN, item_id) if n["key"] == key)


def test_every_kind_matches_its_reviewed_golden_files(golden_office):
    office = golden_office
    item_id = office.item(deadline="2026-11-20 17:30", title="开展冬季校园安全隐患大排查",
                          goal="全市中小学安全隐患排查全覆盖、整改清零", lead_leader="chen")
    office.fire("wang", item_id, "sign")
    office.service.fire("zhao", item_id, "warn", {"level": "red", "reason": "进展缓慢"})
    office.clock.set(local("2026-11-24 10:00"))
    mismatched = []
    for name, kind, payload in CASES:
        notice = write_notice(office, item_id, kind, payload, f"golden:{name}")
        for suffix, body in (("txt", notice["body_text"]), ("md", notice["body_markdown"]),
                             ("html", notice["body_html"])):
            path = GOLDEN / f"{name}.{suffix}"
            if UPDATE:
                path.write_text(body, encoding="utf-8")
            elif path.read_text(encoding="utf-8") != body:
                mismatched.append(path.name)
    assert mismatched == [], "rendering changed; review and run with DUBAN_UPDATE_GOLDEN=1"
    numbers = [n["doc_number"] for n in office.service.notices(ADMIN, item_id)]
    # numbered documents share one sequence; internal notes carry none
    assert numbers[:3] == ["督办〔2026〕1号", "督办〔2026〕2号", "督办〔2026〕3号"]
    internal = [n for n in office.service.notices(ADMIN, item_id)
                if n["kind"] in ("interview_proposal", "extension_pending")]
    assert internal and all(n["doc_number"] is None for n in internal)


CIRCULAR = {
    "period": "2026年11月",
    "totals": {"items": 42, "closed": 37, "on_time_rate": 0.9286, "overdue": 3},
    "instruction_rate": 1.0,
    "columns": ["排名", "单位", "事项", "按期办结率", "逾期", "预警", "约谈", "得分"],
    "rows": [["1", "市第一中学", "12", "100.0%", "0", "0", "0", "98.5"],
             ["2", "安全稳定科", "9", "88.9%", "1", "1", "0", "86.0"],
             ["3", "基础教育科", "21", "85.7%", "2", "3", "1", "79.5"]],
    "good": ["市第一中学"],
    "slow": [{"unit": "基础教育科", "items": [
        {"id": 7, "title": "学生资助资金按时足额发放", "overdue_workdays": 6},
        {"id": 9, "title": "校园欺凌专项治理", "overdue_workdays": 2}]}],
}


def test_the_circular_ranks_commends_and_names(golden_office):
    office = golden_office
    with office.service.system_transaction() as txn:
        from duban.engine import notices

        notices.write(txn, None, "circular", key="circular:2026-11", to=["zhou", "ma"],
                      cc=["chen"], payload=CIRCULAR)
    listed = office.service.notice_list(ADMIN, kind="circular")
    circular = office.service.notice(ADMIN, listed[0]["id"])
    assert circular["doc_number"] == "督通〔2026〕1号"  # the circulars' own sequence
    mismatched = []
    for suffix, body in (("txt", circular["body_text"]), ("md", circular["body_markdown"]),
                         ("html", circular["body_html"])):
        path = GOLDEN / f"circular.{suffix}"
        if UPDATE:
            path.write_text(body, encoding="utf-8")
        elif path.read_text(encoding="utf-8") != body:
            mismatched.append(path.name)
    assert mismatched == []
    word = WordDocument(io.BytesIO(outbox_of(office.service).renderer.docx(
        Document.from_json(circular["document"]))))
    [table] = word.tables
    assert [cell.text for cell in table.rows[1].cells] == CIRCULAR["rows"][0]
    assert len(table.rows) == 4


def test_official_format_parts_are_in_place(golden_office):
    office = golden_office
    item_id = office.item(title="学生资助资金按时足额发放", lead_leader="chen")
    notice = write_notice(office, item_id, "urging", {}, "format")
    text = notice["body_text"].splitlines()
    assert text[0] == "××市教育局督查室"  # 发文机关
    assert text[1] == "督办〔2026〕2号"  # the 交办通知 took number 1
    assert "关于督促办理“学生资助资金按时足额发放”的督办函" in text
    assert "基础教育科：" in text  # 主送: the lead unit
    assert "2026年11月2日" in text  # 成文日期 written the Chinese way
    assert text[-1] == "抄送：市教育局陈局长。"
    body = notice["body_text"]
    assert "请你单位高度重视" in body and "前书面报送办理情况" in body
    assert "联系人：赵敏，电话：0571-87000000。" in body


def test_a_title_with_markup_is_escaped_in_html_and_kept_in_text(golden_office):
    office = golden_office
    title = "<script>alert('x')</script> & 排查"
    item_id = office.item(title=title)
    notice = office.service.notices(ADMIN, item_id)[0]
    assert "<script>" not in notice["body_html"]
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; 排查" in notice["body_html"]
    assert title in notice["body_text"]
    word = WordDocument(io.BytesIO(outbox_of(office.service).renderer.docx(
        Document.from_json(notice["document"]))))
    assert any(title in p.text for p in word.paragraphs)


def test_the_word_document_reads_back(golden_office):
    office = golden_office
    item_id = office.item(title="推进城乡学校共同体建设", lead_leader="chen")
    notice = write_notice(office, item_id, "warning", {"values": {"level": "yellow"}}, "docx")
    data = outbox_of(office.service).renderer.docx(Document.from_json(notice["document"]))
    texts = [p.text for p in WordDocument(io.BytesIO(data)).paragraphs if p.text.strip()]
    assert texts[0] == "××市教育局督查室"
    assert texts[1] == "督办〔2026〕2号"
    # the title in two lines, broken after the quotation (GB/T 9704: 词意完整)
    assert texts[2] == "关于对“推进城乡学校共同体建设”\n发出黄色预警的通知"
    assert texts[3] == "基础教育科："
    assert texts[4].startswith("由你单位牵头办理的")
    assert texts[-2:] == ["　抄送：市教育局陈局长。", "　××市教育局督查室\t2026年11月2日印发"]
    assert "2026年11月2日" in texts
    section = WordDocument(io.BytesIO(data)).sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)


def test_an_admins_template_takes_precedence(tmp_path, settings, clock):
    folder = tmp_path / "templates"
    (folder / "kinds").mkdir(parents=True)
    (folder / "kinds" / "assignment.j2").write_text(
        '{% set label = "督办通知单" %}{% set title = "督办通知单" %}'
        "请办理：{{ item.title }}。\n", encoding="utf-8")
    tables = {"notices": {"templates_dir": str(folder), "outbox": str(tmp_path / "out")}}
    service = build_service(replace(settings, tables=tables), clock)
    service.init(ADMIN, "管理员")
    office = build_office(service, clock)
    notice = service.notices(ADMIN, office.item(title="食堂改造"))[0]
    assert notice["title"] == "督办通知单"
    assert "　　请办理：食堂改造。" in notice["body_text"]
    assert notice["document"]["label"] == "督办通知单"
    # the kinds the admin did not override still come from the package
    office.clock.advance(days=1)
    warned = office.service.fire("zhao", 1, "warn", {"level": "yellow", "reason": "慢"})
    assert warned["attrs"]["warnings"] == 1
    assert service.notices(ADMIN, 1)[-1]["title"] == "关于对“食堂改造”发出黄色预警的通知"
    service.close()


def test_dates_are_written_the_chinese_way():
    assert cn_date(local("2026-01-05 09:00")) == "2026年1月5日"
    assert cn_datetime(local("2026-12-10 17:30")) == "2026年12月10日17时30分"
    assert cn_datetime(local("2026-12-10 09:00")) == "2026年12月10日9时"
    assert cn_datetime(local("2026-12-10 23:59")) == "2026年12月10日"


def test_wrapped_template_lines_join_without_stray_spaces():
    assert paragraphs("第一行\n接着写\n\n  second\n line \n\n\n") == ("第一行接着写", "second line")


def test_every_kind_a_packaged_workflow_names_has_a_template(tmp_path):
    from duban import workflows
    from duban.engine.registry import Registry

    renderer = Renderer(None, SHANGHAI)
    named = set()
    for workflow in Registry.discover((workflows,)).all_latest():
        named |= {n.kind for n in workflow.on_create}
        named |= {n.kind for event in workflow.events for n in event.notices}
        named |= {spec.notice for spec in workflow.timers if spec.notice}
    assert named and all(renderer.has_kind(kind) for kind in named), named


def test_a_sentence_ends_with_a_stop_even_after_a_closing_bracket():
    from duban.notifiers.render import sentence

    assert sentence("整改清零（含幼儿园）") == "整改清零（含幼儿园）。"
    assert sentence("三是建立长效机制") == "三是建立长效机制。"
    for done in ("已整改。", "“已整改。”", "好！", "如下：", ""):
        assert sentence(done) == done
