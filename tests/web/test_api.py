"""The HTTP API against a real uvicorn on loopback, with httpx (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import select

from duban.engine.models import AUDIT_EVENT
from tests.conftest import ADMIN


def refused(service, actor: str) -> list[tuple[str, str]]:
    with service.db.read() as conn:
        return [tuple(r) for r in conn.execute(
            select(AUDIT_EVENT.c.event, AUDIT_EVENT.c.reason)
            .where(AUDIT_EVENT.c.action == "refused", AUDIT_EVENT.c.actor == actor))]


def test_an_item_through_its_life_over_the_api(server):
    office, handler = server.api(server.token("zhao")), server.api(server.token("wang"))
    created = office.post("/items", json={"title": "校园安全隐患排查", "unit": "JJK",
                                          "deadline": "10个工作日"})
    assert created.status_code == 201, created.text
    item = created.json()["id"]
    shown = handler.get(f"/items/{item}").json()
    assert shown["state_label"] == "已交办"
    assert [e["name"] for e in shown["events"]] == ["sign", "decline"]
    assert handler.post(f"/items/{item}/events/sign", json={}).json()["state"] == "in_progress"
    report = handler.post(f"/items/{item}/events/report", json={"values": {"report": "已完成"}})
    assert report.json()["state"] == "reported"
    rejected = office.post(f"/items/{item}/events/reject", json={
        "values": {"reason": "核查不实", "deadline": "2026-11-30"}})
    assert rejected.json()["deadline_reason"] == "退回重办"
    handler.post(f"/items/{item}/events/report", json={"values": {"report": "已整改"}})
    office.post(f"/items/{item}/events/verify", json={})
    closed = office.post(f"/items/{item}/events/close", json={})
    assert closed.json()["state"] == "closed"
    timeline = [e["what"] for e in office.get(f"/items/{item}").json()["timeline"]
                if e["kind"] == "event"]
    assert timeline == ["交办", "签收", "报结", "退回重办", "报结", "核查通过", "销号"]
    page = office.get("/items", params={"limit": 1}).json()
    assert (page["total"], len(page["items"]), page["limit"]) == (1, 1, 1)
    assert server.service.verify_audit(ADMIN).ok


def test_errors_have_one_shape_and_the_engines_words(server):
    office, handler = server.api(server.token("zhao")), server.api(server.token("wang"))
    item = office.post("/items", json={"title": "排查", "unit": "JJK",
                                       "deadline": "2026-12-10"}).json()["id"]
    handler.post(f"/items/{item}/events/sign", json={})
    cases = [
        (handler.post(f"/items/{item}/events/report", json={}), 422, "invalid_input", "办理情况"),
        (handler.post(f"/items/{item}/events/verify", json={}), 403, "refused", "只有督查员"),
        (handler.get("/items/999"), 404, "not_found", "没有编号为 999"),
        (handler.post(f"/items/{item}/events/progress",
                      json={"values": {"note": "x"}, "expected_version": 7}), 409,
         "conflict", "刚被他人改动"),
        (handler.get("/items/abc"), 400, "bad_request", "item_id"),
        (handler.get("/items", params={"limit": 100000}), 400, "bad_request", "limit"),
        (server.api("dbn_nonsense").get("/me"), 401, "not_signed_in", "令牌无效"),
    ]
    for response, status, code, words in cases:
        error = response.json()["error"]
        assert (response.status_code, error["code"], error["status"]) == (status, code, status)
        assert words in error["message"], error
    assert "www-authenticate" in cases[-1][0].headers


def test_a_retried_write_with_the_same_key_changes_nothing_twice(server):
    office = server.api(server.token("zhao"))
    body = {"title": "重发的交办", "unit": "JJK", "deadline": "2026-12-10"}
    first = office.post("/items", json=body, headers={"Idempotency-Key": "k-1"})
    again = office.post("/items", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert office.get("/items").json()["total"] == 1
    item = first.json()["id"]
    warn = {"values": {"level": "yellow", "reason": "进度慢"}}
    one = office.post(f"/items/{item}/events/warn", json=warn, headers={"Idempotency-Key": "w"})
    two = office.post(f"/items/{item}/events/warn", json=warn, headers={"Idempotency-Key": "w"})
    assert one.json() == two.json() and two.json()["attrs"]["warnings"] == 1
    other = office.post(f"/items/{item}/events/sign", json={}, headers={"Idempotency-Key": "w"})
    assert other.status_code == 409 and "已用于另一操作" in other.json()["error"]["message"]


def test_what_is_not_yours_answers_like_nothing_and_a_revoked_token_is_refused(server):
    office = server.api(server.token("zhao"))
    item = office.post("/items", json={"title": "安全科的事", "unit": "AQK",
                                       "deadline": "2026-12-10"}).json()["id"]
    handler_token = server.token("wang")
    handler = server.api(handler_token)
    hidden = handler.get(f"/items/{item}")
    missing = handler.get("/items/424242")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["message"] == f"没有编号为 {item} 的督办事项, 或你无权查看"
    assert ("item_show", f"无权查看事项 {item}") in refused(server.service, "wang")
    assert item not in {i["id"] for i in handler.get("/items").json()["items"]}
    [token] = [t for t in server.service.tokens("wang") if t["name"] == "tests"][-1:]
    server.service.revoke_token("wang", token["id"])
    gone = handler.get("/me")
    assert gone.status_code == 401
    assert ("me", "令牌无效、已过期或已吊销") in refused(server.service, "wang")  # who held it
    stranger = server.api("dbn_" + "x" * 43).get("/me")
    assert stranger.status_code == 401
    assert ("me", "令牌无效、已过期或已吊销") in refused(server.service, "token:" + "x" * 8)


def test_people_and_units_are_for_admins_and_the_document_describes_the_api(server):
    admin, handler = server.api(server.token(ADMIN)), server.api(server.token("wang"))
    assert admin.post("/units", json={"code": "TYK", "name": "体育卫生艺术科"}).status_code == 201
    denied = handler.post("/units", json={"code": "XXK", "name": "x"})
    assert denied.status_code == 403 and "只有管理员" in denied.json()["error"]["message"]
    assert "TYK" in {u["code"] for u in handler.get("/units").json()}
    document = admin.get("/openapi.json").json()
    assert document["info"]["title"] == "duban 督办 API"
    for path in ("/api/v1/items", "/api/v1/items/{item_id}",
                 "/api/v1/items/{item_id}/events/{event}", "/api/v1/assessment",
                 "/api/v1/notices"):
        assert path in document["paths"], path
    assert "Idempotency-Key" in str(document["paths"]["/api/v1/items"]["post"]["parameters"])
    assert "ErrorBody" in document["components"]["schemas"]
