"""The portal's pages over real HTTP: signing in and out, CSRF, escaping, strict headers, what
is not yours, and the body limit."""

from __future__ import annotations

import re

from sqlalchemy import select

from duban.engine.models import AUDIT_EVENT
from tests.web.conftest import PASSWORD, give_passwords


def sign_in(server, login: str):
    client = server.browser_client()
    page = client.get("/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)
    done = client.post("/login", data={"login": login, "password": PASSWORD, "nonce": nonce,
                                       "next": "/"})
    assert done.status_code == 303, done.text
    session = next(c for c in done.headers.get_list("set-cookie") if "duban_session=" in c)
    assert "HttpOnly" in session and "SameSite=lax" in session and "Path=/" in session
    return client


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def refusals(service, actor: str) -> list[tuple[str, str]]:
    with service.db.read() as conn:
        return [tuple(r) for r in conn.execute(
            select(AUDIT_EVENT.c.event, AUDIT_EVENT.c.reason)
            .where(AUDIT_EVENT.c.action == "refused", AUDIT_EVENT.c.actor == actor))]


def test_sign_in_act_and_sign_out(server, office):
    give_passwords(server.service, "wang")
    item = office.item(title="<script>alert(1)</script>排查")
    client = sign_in(server, "wang")
    home = client.get("/")
    assert home.status_code == 200 and "我的待办" in home.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;排查" in home.text
    assert "<script>alert" not in home.text
    sheet = client.get(f"/items/{item}")
    assert "签收" in sheet.text
    signed = client.post(f"/items/{item}/act/sign", data={"csrf": csrf_of(sheet.text)})
    assert signed.status_code == 303 and office.service.item("wang", item)["state"] == "in_progress"
    missing = client.post(f"/items/{item}/act/report",
                          data={"csrf": csrf_of(sheet.text), "f_report": ""})
    assert missing.status_code == 422 and "办理情况" in missing.text
    out = client.post("/logout", data={"csrf": csrf_of(sheet.text)})
    assert out.status_code == 303
    again = client.get("/")
    assert again.status_code == 303 and again.headers["location"].startswith("/login")


def test_a_form_without_its_token_is_refused_and_recorded(server, office):
    give_passwords(server.service, "wang")
    item = office.item()
    client = sign_in(server, "wang")
    forged = client.post(f"/items/{item}/act/sign", data={})
    assert forged.status_code == 403 and "未作任何改动" in forged.text
    wrong = client.post(f"/items/{item}/act/sign", data={"csrf": "0" * 32})
    assert wrong.status_code == 403
    assert office.service.item("wang", item)["state"] == "assigned"
    recorded = [reason for event, reason in refusals(server.service, "wang") if event == "form"]
    assert len(recorded) == 2 and f"/items/{item}/act/sign" in recorded[0]


def test_another_units_page_answers_like_a_missing_one(server, office):
    give_passwords(server.service, "zheng")
    item = office.item(unit="JJK")
    client = sign_in(server, "zheng")
    hidden, missing = client.get(f"/items/{item}"), client.get("/items/424242")
    assert hidden.status_code == missing.status_code == 404
    assert f"没有编号为 {item} 的督办事项, 或你无权查看" in hidden.text
    assert ("item_show", f"无权查看事项 {item}") in refusals(server.service, "zheng")


def test_every_answer_carries_strict_headers_and_big_bodies_are_refused(server):
    client = server.browser_client()
    page = client.get("/login")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script" not in page.text.replace('<script src="/static/htmx.min.js" defer>', "")
    big = client.post("/login", content=b"x" * (11 * 1024 * 1024),
                      headers={"content-type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413
    assert client.get("/static/htmx.min.js").status_code == 200


def test_a_temporary_password_is_changed_before_the_first_session(server):
    temporary = server.service.issue_setup("admin", "lin", temporary=True)["secret"]
    client = server.browser_client()
    nonce = re.search(r'name="nonce" value="([^"]+)"', client.get("/login").text).group(1)
    first = client.post("/login", data={"login": "lin", "password": temporary,
                                        "nonce": nonce})
    assert first.status_code == 303 and first.headers["location"].startswith("/password")
    form = client.get(first.headers["location"])
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.text).group(1)
    done = client.post("/password", data={"login": "lin", "old": temporary, "new": PASSWORD,
                                          "again": PASSWORD, "nonce": nonce})
    assert done.status_code == 303 and client.get("/").status_code == 200


def test_numbers_beyond_the_database_are_not_an_internal_error(server, office):
    give_passwords(server.service, "wang")
    client = sign_in(server, "wang")
    api = server.api(server.token("wang"))
    for path in ("/items/99999999999999999999", "/evidence/99999999999999999999",
                 "/notices/99999999999999999999", "/items/99999999999999999999/act/sign"):
        answer = client.get(path)
        assert answer.status_code == 400, (path, answer.status_code)
        assert "请求的地址或参数不对" in answer.text
    for path in ("/items/99999999999999999999", "/evidence/99999999999999999999",
                 "/notices/99999999999999999999"):
        answer = api.get(path)
        assert answer.status_code == 400, (path, answer.status_code)
        assert answer.json()["error"]["status"] == 400
