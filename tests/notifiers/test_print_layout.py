"""The notices and the circular as printed documents (GB/T 9704-2012): titles broken by
meaning, page numbers, the table inside the margins, the 版记, the fonts, 签发人, and Chinese
punctuation where users typed ASCII. Real notices, rendered and read back with python-docx."""

from __future__ import annotations

import io
import random
import re
from dataclasses import replace

import pytest
from docx import Document as WordDocument
from docx.oxml.ns import qn
from docx.shared import Mm

from duban.engine import items, notices
from duban.notifiers import context
from duban.notifiers.context import full_width_punctuation
from duban.notifiers.outbox import outbox_of
from duban.notifiers.render import Document
from duban.notifiers.typeset import (
    NO_LINE_END,
    NO_LINE_START,
    TABLE_PER_LINE,
    TITLE_PER_LINE,
    TITLE_WORDS,
    column_widths,
    outline,
    text_em,
    title_lines,
)
from tests.conftest import ADMIN, local
from tests.notifiers.test_render import CASES, CIRCULAR, golden_office, write_notice  # noqa: F401

LONG_TITLES = [
    "推进全市中小学校舍安全改造工程和学校食堂明厨亮灶建设",
    "开展冬季校园安全隐患大排查",
    "落实局长批示: 排查校园周边安全隐患(含幼儿园)",
    "关于加快推进城乡义务教育一体化改革发展的实施意见落实情况",
    "2026年度教育督导评估反馈问题整改",
    "Wi-Fi 6校园网络全覆盖",
]
# The kinds test_render's golden cases leave out, with what their events give them.
MORE_CASES = [
    ("instruction_reply", {"event": "report", "values": {"report": "已完成排查"}}),
    ("extension_request", {"event": "request_extension", "values": {
        "reason": "工程量大", "deadline": "2026-12-10T18:00:00+08:00"}}),
    ("sign_overdue", {"step": "sign"}),
    ("follow_up_due", {"step": "follow_up"}),
]


@pytest.fixture
def printing_office(golden_office):  # noqa: F811 (the fixture imported above)
    """The office of the golden files (××市教育局督查室, its contact), on 2 November 2026."""
    return golden_office


TEXT_WIDTH_TWIPS = round(Mm(210).twips) - round(Mm(28).twips) - round(Mm(26).twips)  # 156mm


def word_of(office, document: Document) -> WordDocument:
    return WordDocument(io.BytesIO(outbox_of(office.service).renderer.docx(document)))


def html_of(office, document: Document) -> str:
    return outbox_of(office.service).renderer.html_page(document)


def unspaced(text: str) -> str:
    return re.sub(r"\s", "", text)


def assert_breaks_well(title: str, lines: list[str], words: bool = True) -> None:
    assert unspaced("".join(lines)) == unspaced(title), lines
    assert all(text_em(line) <= TITLE_PER_LINE for line in lines), lines
    assert all(text_em(line) >= 3 for line in lines), lines  # no 1-2 characters alone
    assert lines[-1] not in ("的", "通知", "的通知", "函"), lines
    assert lines[-1].endswith(title.rpartition("”")[2]), lines  # the kind's own words whole
    for before, after in zip(lines, lines[1:], strict=False):
        assert after[0] not in NO_LINE_START and before[-1] not in NO_LINE_END, lines
        if not words:
            continue
        split = [word for word in TITLE_WORDS if (before + after).find(word) >= 0
                 and len(before) - len(word) < (before + after).find(word) < len(before)]
        assert split == [], (lines, split)  # no word cut in two


def test_the_title_capacity_is_a_line_of_22pt_characters_across_156mm():
    assert TITLE_PER_LINE == 20  # 156mm = 442pt; 20 x 22pt = 440pt
    assert title_lines("关于督促办理“食堂改造”的督办函") == ["关于督促办理“食堂改造”的督办函"]


@pytest.mark.parametrize("title", LONG_TITLES)
def test_every_kind_breaks_a_long_title_by_meaning(printing_office, title):
    office = printing_office
    item_id = office.item(deadline="2026-11-20 17:30", title=title, lead_leader="chen")
    office.fire("wang", item_id, "sign")
    office.clock.set(local("2026-11-24 10:00"))
    cases = [(kind, payload) for _, kind, payload in CASES] + MORE_CASES
    written = [write_notice(office, item_id, kind, payload, f"layout:{n}")
               for n, (kind, payload) in enumerate(cases)]
    assert {n["kind"] for n in written} >= {"urging", "accountability", "warning", "reminder"}
    long_ones = 0
    for notice in written:
        document = Document.from_json(notice["document"])
        lines = title_lines(document.title)
        assert_breaks_well(document.title, lines)
        long_ones += len(lines) > 1
        spans = re.findall(r'<span class="line">(.*?)</span>', notice["body_html"])
        assert [span.replace("&#34;", '"') for span in spans] == lines
        [heading] = [p for p in word_of(office, document).paragraphs
                     if unspaced(p.text) == unspaced(document.title)]
        assert heading.text.split("\n") == lines
        assert len(heading._p.findall(".//" + qn("w:br"))) == len(lines) - 1
    assert long_ones >= len(written) - 4  # nearly every kind's title needs two lines


@pytest.mark.parametrize("seed", range(5))
def test_generated_titles_never_overflow_nor_leave_a_fragment(seed):
    chance = random.Random(seed)
    syllables = "校园安全隐患排查学生资助资金发放推进城乡学校建设工作机制整改落实情况专项治理"
    for _ in range(200):
        quoted = "".join(chance.choice(syllables) for _ in range(chance.randint(4, 60)))
        if chance.random() < 0.2:
            quoted += f"{chance.randint(1, 2026)}年"
        form = chance.choice(["关于对“{}”发出红色预警的通知", "关于督促办理“{}”的督办函",
                              "关于对“{}”办理不力问题的问责建议", "关于“{}”办结销号的通知"])
        title = form.format(quoted)
        assert_breaks_well(title, title_lines(title), words=False)


def test_a_break_falls_beside_the_quotation_rather_than_inside_a_word():
    assert title_lines("关于对“学生资助资金按时足额发放”办理不力问题的问责建议") == [
        "关于对“学生资助资金按时足额发放”", "办理不力问题的问责建议"]
    assert title_lines("关于对“开展冬季校园安全隐患大排查”发出黄色预警的通知") == [
        "关于对“开展冬季校园安全隐患", "大排查”发出黄色预警的通知"]


@pytest.mark.parametrize(("typed", "shown"), [
    ("经查,存在问题", "经查，存在问题"),
    ("经查, 存在问题", "经查，存在问题"),
    ("为什么?!", "为什么？！"),
    ("一是摸清底数;二是分类整治", "一是摸清底数；二是分类整治"),
    ("落实局长批示: 排查", "落实局长批示：排查"),
    ("问题(一)加强", "问题（一）加强"),
    ("见附件(PDF)", "见附件（PDF）"),
    ("整改 (含幼儿园)", "整改（含幼儿园）"),
    ("括号(未闭合", "括号（未闭合"),
    ("时间:09:30开会", "时间：09:30开会"),
    ("共1,000元,已拨付", "共1,000元，已拨付"),
    ("比分3:2", "比分3:2"),
    ("Hello, world (again)!", "Hello, world (again)!"),
    ("使用Python, Java开发", "使用Python, Java开发"),
    ("f(x)的值", "f(x)的值"),
    ("(PDF)版本", "（PDF）版本"),
    ("网址:https://jyj.example.cn/a?x=1,y=2;z=(3),详见", "网址：https://jyj.example.cn/a?x=1,y=2;z=(3)，详见"),
    ("邮箱:zhao@example.cn,电话:0571-87000000", "邮箱：zhao@example.cn，电话：0571-87000000"),
    ("www.moe.gov.cn,教育部", "www.moe.gov.cn，教育部"),
    ("2026-12-01T09:30:00+08:00", "2026-12-01T09:30:00+08:00"),
    ("“校园欺凌专项治理”,请", "“校园欺凌专项治理”，请"),
    ("已全部整改。", "已全部整改。"),
])
def test_ascii_punctuation_in_chinese_text_becomes_full_width(typed, shown):
    assert full_width_punctuation(typed) == shown
    assert full_width_punctuation(shown) == shown


@pytest.mark.parametrize("seed", range(5))
def test_full_width_punctuation_only_changes_marks_beside_chinese(seed):
    chance = random.Random(seed)
    alphabet = list("校园安全排查整改") + list("abcXY0123456789") + list(",:;?!() ") + ["。"]
    back = str.maketrans("，：；？！（）", ",:;?!()")
    for _ in range(500):
        text = "".join(chance.choice(alphabet) for _ in range(chance.randint(1, 30)))
        shown = full_width_punctuation(text)
        assert full_width_punctuation(shown) == shown  # idempotent
        # only the marks change, and only spaces beside a changed mark go
        assert shown.translate(back).replace(" ", "") == text.replace(" ", "")
        squeezed = shown.replace(" ", "")
        for at, char in enumerate(squeezed):
            if char in ",:;?!()":
                # ")" may stay before Chinese text when its "(" follows a Latin word: f(x)的
                after = "" if char == ")" else squeezed[at + 1:at + 2]
                beside = squeezed[at - 1:at] + after
                assert not re.search("[\u4e00-\u9fff。，：；？！（）]", beside), (text, shown)
        if text.isascii():
            assert shown == text


def test_what_users_typed_reaches_the_notice_in_chinese_punctuation(printing_office):
    office = printing_office
    item_id = office.item(title="校舍改造(一期),食堂改造", lead_leader="chen",
                          goal="整改清零;详见 https://jyj.example.cn/a?x=1,y=2")
    office.service.fire("zhao", item_id, "warn", {"level": "red",
                                                   "reason": "进展缓慢,已逾期3天"})
    warning = office.service.notices(ADMIN, item_id)[-1]
    assert warning["title"] == "关于对“校舍改造（一期），食堂改造”发出红色预警的通知"
    assert "因进展缓慢，已逾期3天，" in warning["body_text"]
    assert "校舍改造(一期)" not in warning["body_text"]
    urging = write_notice(office, item_id, "urging", {}, "typed")
    assert "整改清零；详见 https://jyj.example.cn/a?x=1,y=2" in urging["body_text"]


def test_the_word_document_is_a4_with_the_official_margins_and_page_numbers(printing_office):
    office = printing_office
    item_id = office.item(title="推进全市中小学校舍安全改造工程和学校食堂明厨亮灶建设")
    notice = write_notice(office, item_id, "urging", {}, "page")
    word = word_of(office, Document.from_json(notice["document"]))
    section = word.sections[0]
    assert [round(length.mm) for length in (
        section.page_width, section.page_height, section.top_margin, section.bottom_margin,
        section.left_margin, section.right_margin)] == [210, 297, 37, 35, 28, 26]
    settings = word.settings.element
    assert settings.find(qn("w:mirrorMargins")) is not None  # 订口 28mm on even pages too
    assert word.settings.odd_and_even_pages_header_footer
    for footer, side, indent in ((section.footer, "right", "right_indent"),
                                 (section.even_page_footer, "left", "left_indent")):
        [paragraph] = footer.paragraphs
        assert paragraph.text == "— 1 —"
        codes = [code.text.strip() for code in paragraph._p.iter(qn("w:instrText"))]
        marks = [mark.get(qn("w:fldCharType")) for mark in paragraph._p.iter(qn("w:fldChar"))]
        assert codes == ["PAGE"] and marks == ["begin", "separate", "end"]
        assert paragraph.alignment is not None and side in str(paragraph.alignment).lower()
        assert round(getattr(paragraph.paragraph_format, indent).pt) == 14  # 空一字
        assert {east_asian(run) for run in paragraph.runs} == {"宋体"}
        assert {run.font.size.pt for run in paragraph.runs} == {14.0}  # 4号


def east_asian(run) -> str | None:
    fonts = run._element.rPr.rFonts if run._element.rPr is not None else None
    return fonts.get(qn("w:eastAsia")) if fonts is not None else None


def test_the_word_document_names_the_official_fonts_for_chinese(printing_office):
    office = printing_office
    item_id = office.item(title="开展冬季校园安全隐患大排查")
    notice = write_notice(office, item_id, "warning", {"values": {"level": "yellow"}}, "fonts")
    document = Document.from_json(notice["document"])
    document = replace(document, paragraphs=(
        "一、总体要求。全面排查。", "（一）排查范围。全市中小学。", *document.paragraphs))
    word = word_of(office, document)
    by_text = {p.text: p for p in word.paragraphs}
    issuer = word.paragraphs[0]
    assert issuer.text == "××市教育局督查室"
    assert {east_asian(run) for run in issuer.runs} == {"方正小标宋简体"}
    title = next(p for p in word.paragraphs if "\n" in p.text)
    assert {east_asian(run) for run in title.runs} == {"方正小标宋简体"}
    assert {run.font.size.pt for run in title.runs} == {22.0}
    level1 = by_text["一、总体要求。全面排查。"]
    level2 = by_text["（一）排查范围。全市中小学。"]
    assert [(run.text, east_asian(run)) for run in level1.runs] == [
        ("一、总体要求。", "黑体"), ("全面排查。", "仿宋_GB2312")]
    assert [(run.text, east_asian(run)) for run in level2.runs] == [
        ("（一）排查范围。", "楷体_GB2312"), ("全市中小学。", "仿宋_GB2312")]
    body = next(p for p in word.paragraphs if p.text.startswith("由你单位牵头办理"))
    assert {east_asian(run) for run in body.runs} == {"仿宋_GB2312"}
    normal = word.styles["Normal"].element.rPr.rFonts
    assert normal.get(qn("w:eastAsia")) == "仿宋_GB2312" and normal.get(qn("w:hint")) == "eastAsia"


def test_the_copy_to_sits_between_its_rules_over_the_printing_line(printing_office):
    office = printing_office
    item_id = office.item(title="学生资助资金按时足额发放")
    notice = write_notice(office, item_id, "urging", {}, "imprint")
    document = Document.from_json(notice["document"])
    for cc in (document.cc, ""):
        paragraphs = word_of(office, replace(document, cc=cc)).paragraphs
        printed = paragraphs[-1]
        assert printed.text == "　××市教育局督查室\t2026年11月2日印发"
        assert borders(printed)["bottom"] == "8"  # a heavy last rule
        if cc:
            copies = paragraphs[-2]
            assert copies.text == "　抄送：市教育局陈局长。"
            assert borders(copies) == {"top": "8", "bottom": "6"}  # heavy over, thin under
            assert "top" not in borders(printed)
            assert {run.font.size.pt for run in copies.runs} == {14.0}
        else:
            assert not any("抄送" in p.text for p in paragraphs)
            assert borders(printed) == {"top": "8", "bottom": "8"}
    html = notice["body_html"]
    imprint = html[html.index('<div class="imprint">'):]
    assert imprint.index('<p class="cc">抄送：市教育局陈局长。</p>') < imprint.index(
        '<p class="printed"><span>××市教育局督查室</span><span>2026年11月2日印发</span></p>')
    assert ".imprint { margin-top: 42pt; border-top: 1pt solid #000; border-bottom: 1pt" in html
    assert "border-bottom: 0.75pt solid #000" in html
    without = html_of(office, replace(document, cc=""))
    assert 'class="cc"' not in without and "2026年11月2日印发" in without


def borders(paragraph) -> dict[str, str]:
    found = paragraph._p.pPr.find(qn("w:pBdr")) if paragraph._p.pPr is not None else None
    if found is None:
        return {}
    return {edge.tag.split("}")[1]: edge.get(qn("w:sz")) for edge in found}


def test_the_circulars_table_fits_the_text_block(printing_office):
    office = printing_office
    units = ["市第一中学", "安全稳定科", "基础教育科", "职业教育与成人教育科", "市实验小学",
             "市第二中学", "市教育局直属第三实验幼儿园", "学生资助管理中心", "市教育考试院"]
    columns = ["排名", "单位", "到期事项", "按期办结率", "逾期", "预警", "约谈", "得分", "较上期"]
    rows = [[str(n + 1), unit, str(20 - n), f"{100 - 4.5 * n:.1f}%", "0", "1", "0",
             f"{98.5 - 4 * n:.1f}", f"+{n * 0.7:.1f}"] for n, unit in enumerate(units)]
    with office.service.system_transaction() as txn:
        notices.write(txn, None, "circular", key="circular:wide", to=["zhou", "ma"],
                      cc=["chen"], payload={**CIRCULAR, "columns": columns, "rows": rows})
    listed = office.service.notice_list(ADMIN, kind="circular")
    circular = office.service.notice(ADMIN, listed[0]["id"])
    document = Document.from_json(circular["document"])
    [table] = word_of(office, document).tables
    assert len(table.rows) == len(units) + 1
    assert [cell.text for cell in table.rows[7].cells][:2] == ["7", "市教育局直属第三实验幼儿园"]
    properties = table._tbl.tblPr
    assert properties.find(qn("w:tblW")).get(qn("w:type")) == "dxa"
    assert int(properties.find(qn("w:tblW")).get(qn("w:w"))) <= TEXT_WIDTH_TWIPS
    assert properties.find(qn("w:tblInd")).get(qn("w:w")) == "0"
    assert properties.find(qn("w:tblLayout")).get(qn("w:type")) == "fixed"
    grid = [int(col.get(qn("w:w"))) for col in table._tbl.tblGrid.iter(qn("w:gridCol"))]
    assert len(grid) == len(columns) and sum(grid) <= TEXT_WIDTH_TWIPS
    assert sum(grid) >= TEXT_WIDTH_TWIPS - len(columns)  # as wide as the text block
    for row in table.rows:
        assert sum(cell.width.twips for cell in row.cells) <= TEXT_WIDTH_TWIPS
    assert grid[1] == max(grid)  # the units' names get the room
    assert min(grid) * 1.0 / TEXT_WIDTH_TWIPS * TABLE_PER_LINE >= 3  # "98.5" and a padding
    header = table.rows[0]._tr.trPr
    assert header is not None and header.find(qn("w:tblHeader")) is not None
    html = circular["body_html"]
    shares = [float(share) for share in re.findall(r'<col style="width: ([\d.]+)%">', html)]
    assert len(shares) == len(columns) and 99.5 <= sum(shares) <= 100.5
    assert "table.ranking { width: 100%; table-layout: fixed;" in html


def test_column_widths_keep_numbers_whole_and_the_table_within_the_block():
    narrow = column_widths([["排名", "单位", "得分"], ["1", "市第一中学", "98.5"]])
    assert sum(narrow) == pytest.approx(1.0) and narrow[1] == max(narrow)
    many = [["栏目"] * 14, ["12345678"] * 14]
    assert sum(column_widths(many)) == pytest.approx(1.0)  # more than fits: shares, not wider
    wide = [["序号", "单位", "按期办结率"], ["1", "市教育局直属第三实验幼儿园" * 3, "100.0%"]]
    shares = column_widths(wide)
    assert shares[2] * TABLE_PER_LINE >= 3.6  # "100.0%" on one line
    assert column_widths([]) == []


def test_headings_are_told_by_their_numbering():
    assert outline("一、总体要求")["level"] == 1
    assert outline("（二）工作举措。一是摸清底数。") == {
        "text": "（二）工作举措。一是摸清底数。", "level": 2, "head": "（二）工作举措。",
        "rest": "一是摸清底数。"}
    assert outline("一是摸清底数。")["level"] == 0
    assert outline("一、" + "经查" * 20 + "。")["level"] == 0  # a long numbered sentence


def test_the_html_prints_page_numbers_and_the_official_fonts(printing_office):
    office = printing_office
    item_id = office.item(title="推进全市中小学校舍安全改造工程和学校食堂明厨亮灶建设")
    html = write_notice(office, item_id, "reminder", {}, "css")["body_html"]
    assert "@page { size: A4; margin: 37mm 26mm 35mm 28mm; }" in html
    assert "@page :left { margin: 37mm 28mm 35mm 26mm; }" in html
    assert re.search(r'@page :right \{ @bottom-right \{ content: "— " counter\(page\) " —"', html)
    assert re.search(r'@page :left \{ @bottom-left \{ content: "— " counter\(page\) " —"', html)
    for stack in ('"DubanTitle", "方正小标宋简体", "FZXiaoBiaoSong-B05S"',
                  'local("Noto Serif CJK SC Bold")',
                  '"仿宋_GB2312", "仿宋", "FangSong"', '"黑体", "SimHei"',
                  '"楷体_GB2312", "楷体", "KaiTi"', '"Noto Serif CJK SC"',
                  '"Noto Sans CJK SC"'):
        assert stack in html, stack
    assert "text-wrap: balance" in html
    assert '<h1 class="title"><span class="line">' in html and "</span><br><span" in html


def test_a_document_sent_up_carries_its_signer(printing_office):
    office = printing_office
    service = office.service
    item_id = office.item(title="学生资助资金按时足额发放", lead_leader="chen")
    renderer = outbox_of(service).renderer
    signed = replace(outbox_of(service).config.office, signer="李明华")
    with service.system_transaction() as txn:
        item = items.load(txn, item_id)
        payload = {"notes": {"unit_head": "zhou", "lead_leader": "chen"},
                   "values": {"report": "已完成"}}
        ctx = context.build(txn, item, payload, ["chen"], [], office=signed)
        bodies = {kind: renderer.body(kind, ctx) for kind in (
            "accountability", "instruction_reply", "urging", "warning", "assignment")}
        unsigned = context.build(txn, item, payload, ["chen"], [],
                                 office=outbox_of(service).config.office)
        assert renderer.body("accountability", unsigned).signer == ""
    assert {kind: body.signer for kind, body in bodies.items()} == {
        "accountability": "李明华", "instruction_reply": "李明华", "urging": "",
        "warning": "", "assignment": ""}
    notice = write_notice(office, item_id, "accountability", {
        "values": {"reason": "经多次督办仍未整改到位"},
        "notes": {"unit_head": "zhou", "lead_leader": "chen"}}, "signer")
    document = replace(Document.from_json(notice["document"]), signer="李明华")
    html = html_of(office, document)
    assert ('<p class="number upward"><span>督办〔2026〕2号</span><span class="signer">'
            '签发人：<span class="kai">李明华</span></span></p>') in html
    word = word_of(office, document)
    [number] = [p for p in word.paragraphs if "签发人" in p.text]
    assert number.text == "　督办〔2026〕2号\t签发人：李明华"
    assert [run for run in number.runs if run.text == "李明华"][0].font.name == "楷体_GB2312"
    assert borders(number) == {"bottom": "12"}  # the red rule stays under the number
    plain = word_of(office, replace(document, signer=""))
    assert not any("签发人" in p.text for p in plain.paragraphs)
    assert any(p.text == "督办〔2026〕2号" for p in plain.paragraphs)


def test_long_runs_of_marks_and_spaces_convert_in_a_few_rounds():
    """A report may hold 10,000 characters: a run of marks converts in a few rounds of the
    loop, not one round per mark (which took a minute for a long run, inside the write)."""
    from duban.notifiers import context

    looks = []
    real = context._between_digits

    def counted(chars, at):
        looks.append(at)
        return real(chars, at)

    context._between_digits = counted
    try:
        assert context.full_width_punctuation("中" + "," * 10_000) == "中" + "，" * 10_000
        assert context.full_width_punctuation("," * 10_000 + "中") == "，" * 10_000 + "中"
        assert context.full_width_punctuation("中" + " " * 10_000 + ",") == "中，"
    finally:
        context._between_digits = real
    assert len(looks) <= 10 * 20_001  # each mark looked at a few times, not once per mark
