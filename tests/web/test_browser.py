"""An item's life in a real headless Chromium (Debian's package, driven by Playwright): the
office assigns, the handler signs and reports, a refused action, the office sends it back with
a new deadline, the second report, verification and closing; the leader follows it; the
timeline shows every step. Screenshots of the main pages, phone-sized and on a desktop, are
kept in tests/artifacts/screenshots."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.web.conftest import PASSWORD, give_passwords

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs it)")
        pytest.skip("chromium not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


def person(browser, server, login: str, viewport: dict):
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    page = context.new_page()
    page.goto(server.url + "/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('登录')")
    page.wait_for_url(server.url + "/")
    return page


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def act(page, label: str, files: tuple[Path, ...] = (), **fields: str) -> None:
    """Open an action's form from the 督办单's buttons (htmx), fill it, attach the files,
    send it."""
    page.click(f".actions a:has-text('{label}')")
    form = page.locator("#action form")
    form.wait_for()
    for name, value in fields.items():
        form.locator(f"[name=f_{name}]").fill(value)
    if files:
        form.locator("input[name=attach]").set_input_files([str(f) for f in files])
    form.locator("button").click()


def photo(path: Path, width: int = 96, height: int = 64) -> Path:
    """A real PNG (a green field under a blue sky), so the thumbnail has something to show."""
    import struct
    import zlib

    rows = b"".join(b"\x00" + (b"\x4a\x90\xe2" if y < height // 2 else b"\x3c\xa0\x3c")
                    * width for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_three_people_take_an_item_through_its_life(browser, server, office, tmp_path):
    give_passwords(server.service, "zhao", "wang", "chen")
    supervisor = person(browser, server, "zhao", DESKTOP)
    handler = person(browser, server, "wang", PHONE)
    leader = person(browser, server, "chen", DESKTOP)

    supervisor.goto(server.url + "/items/new")
    supervisor.fill("input[name=title]", "开展冬季校园安全隐患排查")
    supervisor.select_option("select[name=unit]", "JJK")
    supervisor.fill("input[name=deadline]", "2026-11-20")
    supervisor.select_option("select[name=leader]", "chen")
    supervisor.fill("textarea[name=goal]", "全市中小学排查全覆盖")
    shot(supervisor, "assign-desktop")
    supervisor.click("button:has-text('交办')")
    supervisor.wait_for_url("**/items/*")
    item = supervisor.url.rsplit("/", 1)[1]

    handler.reload()
    assert "开展冬季校园安全隐患排查" in handler.inner_text("main")
    shot(handler, "todo-phone")
    handler.click("text=开展冬季校园安全隐患排查")
    handler.wait_for_url(f"**/items/{item}")
    act(handler, "签收")
    handler.wait_for_selector("text=办理中")
    handler.goto(f"{server.url}/items/{item}/act/verify")  # not theirs to do
    assert "您现在不能核查通过" in handler.inner_text("main")
    handler.click("#action button")
    handler.wait_for_selector("#action .error >> text=只有督查员可以")
    handler.goto(f"{server.url}/items/{item}")
    act(handler, "报结", report="已排查学校 126 所, 隐患全部整改")
    handler.wait_for_selector(".state >> text=已报结")
    shot(handler, "item-phone")

    supervisor.goto(f"{server.url}/items/{item}")
    act(supervisor, "退回重办", reason="抽查发现两所学校未整改")  # the deadline is missing
    supervisor.wait_for_selector("#action .error")
    assert "需要填写: 办理期限" in supervisor.inner_text("#action")
    supervisor.locator("#action [name=f_reason]").fill("抽查发现两所学校未整改")
    supervisor.locator("#action [name=f_deadline]").fill("2026-11-27")
    supervisor.locator("#action button").click()
    supervisor.wait_for_selector(".state >> text=办理中")

    handler.goto(f"{server.url}/items/{item}")
    minutes = tmp_path / "整改验收记录.pdf"
    minutes.write_bytes(b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n")
    act(handler, "报结", files=(photo(tmp_path / "整改后现场.png"), minutes),
        report="两所学校已整改到位")
    handler.wait_for_selector(".state >> text=已报结")
    handler.wait_for_selector("#evidence img.thumb")
    assert handler.evaluate("document.querySelector('#evidence img.thumb').naturalWidth") == 96
    assert "整改验收记录.pdf" in handler.inner_text("#evidence")
    handler.locator("#evidence").scroll_into_view_if_needed()
    shot(handler, "evidence-phone")
    supervisor.goto(f"{server.url}/items/{item}")
    act(supervisor, "核查通过", note="复查属实")
    supervisor.wait_for_selector(".state >> text=已核查")
    act(supervisor, "销号")
    supervisor.wait_for_selector(".state >> text=已销号")
    shot(supervisor, "item-desktop")

    leader.goto(f"{server.url}/items/{item}")
    timeline = leader.inner_text(".timeline")
    for step in ("交办", "签收", "报结", "退回重办", "核查通过", "销号"):
        assert step in timeline, step
    assert "抽查发现两所学校未整改" in timeline and "2026-11-27" in timeline
    assert "您当前无可办理的操作" in leader.inner_text("main")
    shot(leader, "item-leader-desktop")
    leader.goto(server.url + "/items?open=true")
    shot(leader, "ledger-desktop")
    handler.goto(server.url + "/login")
    shot(handler, "login-phone")
    assert office.service.item("zhao", int(item))["state"] == "closed"
    assert office.service.verify_audit("zhao").ok
