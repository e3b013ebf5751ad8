"""建议提案: co-units' views, contact with the proposer, graded answers, the proposer's rating
and one new answer (START is Monday 2026-11-02 09:00)."""

from __future__ import annotations

import pytest

from duban.engine.errors import Refused
from duban.engine.items import NewItem
from tests.conftest import ADMIN, local


def proposal(office) -> int:
    spec = NewItem(title="关于加强中小学心理健康教育的建议", lead_unit="JJK", co_units=("AQK",),
                   deadline="3个月", workflow="proposal", source="proposal")
    return office.service.new_item("zhao", spec)["id"]


def test_the_limits_are_planned_from_the_assignment(office):
    item_id = proposal(office)
    item = office.service.item(ADMIN, item_id)
    assert item["current_deadline"] == local("2027-02-02 23:59:59")  # 3 calendar months
    due = {t["step"]: t["due_at"] for t in office.service.timers(ADMIN, item_id)}
    assert due["co_views_due"] == local("2026-12-02 09:00")  # one month
    assert due["contact_due"] == local("2026-11-23 09:00")  # 15 working days
    notices = office.service.notices(ADMIN, item_id)
    assert [(n["kind"], n["recipients"]) for n in notices] == [
        ("assignment", ["wang", "zhou"]), ("assignment", ["zheng"])]  # the co-unit told too


def test_answer_waits_for_co_units_then_graded_rated_and_answered_again(office):
    item_id = proposal(office)
    office.fire("wang", item_id, "sign")
    with pytest.raises(Refused, match="只有协办单位可以"):
        office.fire("wang", item_id, "co_view", note="主办单位不能代提")
    office.fire("wang", item_id, "contact", note="11月10日与提案人面商, 达成共识")
    with pytest.raises(Refused, match="协办单位 AQK 尚未提出协办意见"):
        office.fire("wang", item_id, "answer", report="已配齐心理教师", grade="A")
    office.fire("zheng", item_id, "co_view", note="安全稳定科支持开展心理危机干预培训")
    answered = office.fire("wang", item_id, "answer", report="已配齐心理教师", grade="B")
    assert answered["attrs"]["grade"] == "B"
    assert answered["attrs"]["co_views"] == {"AQK": "安全稳定科支持开展心理危机干预培训"}
    with pytest.raises(Refused, match="应重新答复"):
        office.fire("zhao", item_id, "rate", satisfaction="不满意")
    again = office.fire("zhao", item_id, "answer_again", reason="提案人认为措施不具体",
                        deadline="3个月")
    assert (again["state"], again["attrs"]["redos"]) == ("contacted", 1)
    office.fire("wang", item_id, "answer", report="补充了具体实施方案", grade="A")
    with pytest.raises(Refused, match="已重新答复过一次"):
        office.fire("zhao", item_id, "answer_again", reason="仍不满意", deadline="3个月")
    closed = office.fire("zhao", item_id, "rate", satisfaction="基本满意")
    assert (closed["state"], closed["attrs"]["satisfaction"]) == ("closed", "基本满意")
    assert office.service.verify_audit(ADMIN).ok and office.service.check_rebuild(ADMIN).ok


def test_the_co_units_and_the_proposer_contact_are_chased(office):
    item_id = proposal(office)
    office.fire("wang", item_id, "sign")
    office.clock.set(local("2026-11-23 09:00"))
    assert [(s["step"], s["status"]) for s in office.service.tick().steps] == [
        ("contact_due", "fired")]
    office.fire("wang", item_id, "contact", note="已面商")
    office.clock.set(local("2026-12-02 09:00"))
    assert [(s["step"], s["status"]) for s in office.service.tick().steps] == [
        ("co_views_due", "fired")]
    chased = office.service.notices(ADMIN, item_id)[-1]
    assert (chased["kind"], chased["recipients"]) == ("reminder", ["zheng"])
