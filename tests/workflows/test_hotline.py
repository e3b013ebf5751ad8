"""Hotline work orders (12345), each rule on known dates (START is Monday 2026-11-02 09:00)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from duban.engine.errors import Refused, SetupError
from duban.engine.periods import parse_period
from tests.conftest import ADMIN, local


def order(office, deadline: str = "5个工作日", unit: str = "JJK", title: str = "投诉课后服务收费"):
    from duban.engine.items import NewItem

    spec = NewItem(title=title, lead_unit=unit, deadline=deadline, workflow="hotline",
                   source="hotline")
    return office.service.new_item("zhao", spec)["id"]


def tick_at(office, when: str) -> list[tuple[str, str]]:
    office.clock.set(local(when))
    return [(s["step"], s["status"]) for s in office.service.tick().steps]


def test_an_order_unsigned_for_a_working_day_is_chased(office):
    item_id = order(office)
    assert office.service.item(ADMIN, item_id)["current_deadline"] == local("2026-11-09 23:59:59")
    assert tick_at(office, "2026-11-03 09:00") == [("sign_due", "fired")]
    chased = office.service.notices(ADMIN, item_id)[-1]
    assert (chased["kind"], chased["recipients"]) == ("sign_overdue", ["wang", "zhou"])
    signed = office.fire("wang", item_id, "sign")
    assert signed["attrs"]["signed_on_time"] is True  # by the end of the first working day


def test_a_misrouted_order_goes_back_within_two_working_days(office):
    early, late = order(office), order(office, title="咨询招生政策")
    office.clock.set(local("2026-11-04 17:00"))
    assert office.fire("wang", early, "return_order", reason="属招生考试院职责")["state"] == \
        "returned"
    office.clock.set(local("2026-11-05 09:00"))
    with pytest.raises(Refused, match="退回须在2个工作日内"):
        office.fire("wang", late, "return_order", reason="不是本科室")
    moved = office.fire("zhao", early, "transfer", unit="AQK", reason="改派")
    assert (moved["state"], moved["lead_unit"]) == ("assigned", "AQK")


def test_one_extension_of_at_most_ten_working_days(office):
    item_id = order(office)  # due 2026-11-09
    office.fire("wang", item_id, "sign")
    with pytest.raises(Refused, match="最多延长10个工作日"):
        office.fire("wang", item_id, "request_extension", reason="情况复杂",
                    deadline="2026-11-24")
    office.fire("wang", item_id, "request_extension", reason="情况复杂", deadline="2026-11-23")
    assert office.fire("zhao", item_id, "approve_extension")["current_deadline"] == \
        local("2026-11-23 23:59:59")
    with pytest.raises(Refused, match="只能延期1次"):
        office.fire("wang", item_id, "request_extension", reason="还要", deadline="2026-11-30")


def test_follow_up_call_satisfaction_and_one_redo(office):
    happy, unhappy = order(office), order(office, title="投诉食堂饭菜质量")
    for item_id in (happy, unhappy):
        office.fire("wang", item_id, "sign")
        office.fire("wang", item_id, "report", report="已核实并整改")
    # the follow-up reminder goes to the office the next working day
    assert sorted(tick_at(office, "2026-11-03 09:00")) == [("follow_up", "fired")] * 2
    assert office.fire("zhao", happy, "visit", satisfaction="满意")["state"] == "closed"
    with pytest.raises(Refused, match="首次回访不满意应退回重办"):
        office.fire("zhao", unhappy, "visit", satisfaction="不满意")
    redone = office.fire("zhao", unhappy, "visit_redo", reason="诉求人不认可整改结果",
                         deadline="3个工作日")
    assert (redone["state"], redone["attrs"]["redos"]) == ("in_progress", 1)
    office.fire("wang", unhappy, "report", report="再次整改")
    with pytest.raises(Refused, match="已重办1次"):
        office.fire("zhao", unhappy, "visit_redo", reason="仍不满意", deadline="3个工作日")
    closed = office.fire("zhao", unhappy, "visit", satisfaction="不满意")
    assert (closed["state"], closed["attrs"]["satisfaction"]) == ("closed", "不满意")
    office.clock.set(local("2026-11-30 09:00"))
    [jjk] = office.service.period_figures(ADMIN, parse_period("2026-11"))
    # three ratings: 满意, the first 不满意 that sent the order back, the final 不满意
    assert (jjk.rated, jjk.satisfied) == (3, 1)
    assert jjk.satisfaction_rate == pytest.approx(1 / 3)
    assert (jjk.count("reject"), jjk.count("report")) == (1, 3)
    assert office.service.verify_audit(ADMIN).ok and office.service.check_rebuild(ADMIN).ok


def test_a_redo_after_an_unhappy_call_back_counts_its_rating_and_the_redo(office):
    item_id = order(office)  # due 2026-11-09
    office.fire("wang", item_id, "sign")
    office.fire("wang", item_id, "report", report="已核实并整改")
    office.clock.set(local("2026-11-03 10:00"))
    office.fire("zhao", item_id, "visit_redo", reason="诉求人不认可整改结果", deadline="3个工作日")
    office.clock.set(local("2026-11-05 10:00"))
    office.fire("wang", item_id, "report", report="再次整改")
    office.clock.set(local("2026-11-06 10:00"))
    office.fire("zhao", item_id, "visit", satisfaction="满意")
    office.clock.set(local("2026-11-30 09:00"))
    [jjk] = office.service.period_figures(ADMIN, parse_period("2026-11"))
    assert (jjk.items, jjk.rated, jjk.satisfied, jjk.satisfaction_rate) == (1, 2, 1, 0.5)
    assert (jjk.count("reject"), jjk.count("report"), jjk.redo_rate) == (1, 2, 0.5)
    shown = jjk.as_json()
    assert (shown["redos"], shown["satisfaction_rate"]) == (1, 0.5)
    # the assessment and the dashboard read the same figures
    [standing] = office.service.assess(ADMIN, parse_period("2026-11")).standings
    assert (standing.figures.rated, standing.figures.count("reject")) == (2, 1)
    hotline = office.service.dashboard(ADMIN, parse_period("2026-11")).hotline
    assert (hotline.rated, hotline.satisfaction_rate, hotline.redo_rate) == (2, 0.5, 0.5)


def test_a_declared_rating_must_be_one_of_the_levels():
    from duban.workflows.hotline import WORKFLOW

    redo = WORKFLOW.event("visit_redo")
    assert (redo.counts_as, redo.rating) == ("reject", "不满意")
    with pytest.raises(SetupError, match="评价“很差”无效"):
        replace(redo, rating="很差")
    with pytest.raises(SetupError, match="counts_as “redo”无效"):
        replace(redo, counts_as="redo")  # a typo would silently stop the counting


def test_repeated_complaints_are_linked(office):
    first, again = order(office), order(office, title="再次投诉课后服务收费")
    linked = office.fire("zhao", again, "link", related=str(first))
    assert linked["attrs"]["repeat_of"] == str(first)
    with pytest.raises(Refused, match="另一个工单"):
        office.fire("zhao", again, "link", related=str(again))
    with pytest.raises(Refused, match="没有编号为 999 的工单"):
        office.fire("zhao", again, "link", related="999")
