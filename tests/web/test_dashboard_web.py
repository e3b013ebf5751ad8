"""领导驾驶舱 in the portal: the numbers on the page are the engine's, for a leader and the
office; rendered in headless Chromium and kept as screenshots."""

from __future__ import annotations

import re

import pytest

from duban.engine.periods import parse_period
from tests.engine.test_dashboard import busy_office
from tests.engine.test_ledger import NOVEMBER, november  # noqa: F401
from tests.notifiers.test_pdf import text_of
from tests.web.conftest import give_passwords
from tests.web.test_browser import DESKTOP, PHONE, browser, person, shot  # noqa: F401
from tests.web.test_pages import sign_in


def cells(page: str, caption_or_heading: str) -> list[list[str]]:
    """The rows of the first table after a heading, as text."""
    section = page.split(caption_or_heading, 1)[1]
    body = section.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(
        r"<td>(.*?)</td>", row, re.S)] for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_the_page_shows_the_engines_numbers(server, office):
    busy_office(office)
    give_passwords(server.service, "zhao", "li", "wang")
    svc = office.service
    period = parse_period("2026-11")
    view = svc.dashboard("zhao", period)
    page = sign_in(server, "zhao").get("/dashboard", params={"period": "2026-11"})
    assert page.status_code == 200, page.text
    colours = cells(page.text, "在办事项")
    assert [int(row[1]) for row in colours] == list(view.by_colour.values())
    units = cells(page.text, "各单位按期办结")
    assert [(row[0], int(row[1])) for row in units] == [(f.name, f.items) for f, _ in view.units]
    assert page.text.count('<svg class="chart"') == 4
    leader = sign_in(server, "li").get("/dashboard?period=2026-11").text
    assert "我分管的事项" in leader
    mine = svc.dashboard("li", period)
    assert [int(row[1]) for row in cells(leader, "在办事项")] == list(mine.by_colour.values())
    bad = sign_in(server, "zhao").get("/dashboard?period=2026-13")
    assert bad.status_code == 422 and "月份应在 1 至 12 之间: 2026-13" in bad.text


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_a_leader_and_a_supervisor_read_the_dashboard_in_chromium(browser, server,  # noqa: F811
                                                                  office):
    busy_office(office)
    give_passwords(server.service, "zhao", "li")
    supervisor = person(browser, server, "zhao", DESKTOP)
    supervisor.goto(server.url + "/dashboard?period=2026-11")
    assert "红灯与逾期" in supervisor.inner_text("main")
    assert supervisor.locator("svg.chart").count() == 4
    shot(supervisor, "dashboard-supervisor-desktop")
    leader = person(browser, server, "li", PHONE)
    leader.goto(server.url + "/dashboard?period=2026-11")
    assert "我分管的事项" in leader.inner_text("h1")
    shot(leader, "dashboard-leader-phone")
    supervisor.emulate_media(media="print")
    shot(supervisor, "dashboard-print")


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_the_dashboard_and_a_notice_download_as_pdf(server, office,
                                                   november):  # noqa: F811
    give_passwords(server.service, "zhao")
    result = office.service.circular("zhao", NOVEMBER)
    client = sign_in(server, "zhao")
    notice = client.get(f"/notices/{result['notice']}.pdf")
    assert notice.status_code == 200, notice.text[:2000]
    assert notice.headers["content-type"] == "application/pdf"
    assert "督通〔2026〕1号" in "".join(text_of(notice.content)[1].split())
    board = client.get("/dashboard.pdf", params={"period": "2026-11"})
    assert board.status_code == 200, board.text
    pages, text = text_of(board.content)
    flat = "".join(text.split())
    assert pages >= 1 and "领导驾驶舱" in flat and "红灯与逾期" in flat
    assert client.get(f"/notices/{result['notice']}.exe").status_code == 404


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_the_public_board_reads_on_a_phone(browser, office, tmp_path):  # noqa: F811
    from duban.notifiers.board_site import write_site
    from tests.engine.test_public import inspectors, public_office, spec

    shown, *_ = public_office(office)
    inspectors(office)
    svc = office.service
    svc.draw("zhao", spec(units=2, inspectors=1, unit_pool=("JJK", "AQK", "SYZ")))
    write_site(tmp_path / "board", svc.board(), office="市教育局督查室", tz=svc.tz,
               open_file=svc.evidence_store.open)
    page = browser.new_context(viewport=PHONE, locale="zh-CN").new_page()
    page.goto((tmp_path / "board" / "index.html").as_uri())
    assert "<script>alert(1)</script>校舍维修" in page.inner_text("main")  # shown as text
    assert "双随机一公开" in page.inner_text("main")
    shot(page, "board-phone")
    page.click("text=校舍维修")
    page.wait_for_selector("ul.files img")
    assert "已完成 12 所学校校舍维修" in page.inner_text("main")
    shot(page, "board-item-phone")
