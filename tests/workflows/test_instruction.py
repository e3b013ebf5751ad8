"""批示件: the leader decides extensions and hears the answer; a miss escalates at once."""

from __future__ import annotations

import pytest

from duban.engine.errors import InvalidInput, Refused
from tests.conftest import ADMIN, local


def instruction(office, deadline: str = "2026-11-06 18:00", **extra) -> int:
    return office.item(workflow="instruction", deadline=deadline, source="instruction",
                       title="落实局长批示: 排查校园周边安全隐患", **extra)


def kinds(office, item_id) -> list[tuple[str, list[str], list[str]]]:
    return [(n["kind"], n["recipients"], n["cc"]) for n in office.service.notices(ADMIN, item_id)]


def tick_at(office, when: str) -> list[tuple[str, str]]:
    office.clock.set(local(when))
    return [(s["step"], s["status"]) for s in office.service.tick().steps]


def test_an_instruction_names_its_leader(office):
    with pytest.raises(InvalidInput, match="领导批示件必须写明牵头领导"):
        instruction(office)


def test_the_leader_decides_extensions_and_receives_the_answer(office):
    item_id = instruction(office, lead_leader="chen")
    office.fire("wang", item_id, "sign")
    office.fire("wang", item_id, "request_extension", reason="需会同公安部门",
                deadline="2026-11-10")
    with pytest.raises(Refused, match="只有牵头领导可以"):
        office.fire("zhao", item_id, "approve_extension")
    approved = office.fire("chen", item_id, "approve_extension")
    assert approved["current_deadline"] == local("2026-11-10 23:59:59")
    office.fire("wang", item_id, "report", report="已排查学校周边 42 处, 整改 40 处, 2 处限期整改")
    assert kinds(office, item_id)[1:] == [
        ("extension_request", ["chen"], ["zhao"]),
        ("extension_result", ["wang"], ["zhou", "zhao"]),
        ("instruction_reply", ["chen"], ["zhao"]),
    ]
    reply = office.service.notices(ADMIN, item_id)[-1]
    assert reply["title"] == (
        "关于陈局长同志批示件“落实局长批示：排查校园周边安全隐患”办理情况的报告")
    assert "已排查学校周边 42 处" in reply["body_text"]


def test_a_miss_escalates_at_once(office):
    item_id = instruction(office, lead_leader="chen")
    office.fire("wang", item_id, "sign")
    steps = {t["step"]: t["due_at"] for t in office.service.timers(ADMIN, item_id)}
    assert steps["remind_half"] == local("2026-11-04 09:00")  # the half-time day, at opening
    assert steps["remind_1"] == local("2026-11-05 09:00")
    assert steps["red"] == steps["escalate"] == local("2026-11-06 18:00")
    assert tick_at(office, "2026-11-04 09:00") == [("remind_half", "fired")]
    assert tick_at(office, "2026-11-05 09:00") == [("remind_1", "fired")]
    assert tick_at(office, "2026-11-06 17:59") == []
    assert tick_at(office, "2026-11-06 18:00") == [("red", "fired"), ("escalate", "fired")]
    item = office.service.item(ADMIN, item_id)
    assert (item["attrs"]["warning"], item["attrs"]["warnings"]) == ("red", 1)
    assert kinds(office, item_id)[-2:] == [
        ("warning", ["wang", "zhou"], ["chen", "zhao"]),
        ("interview_proposal", ["zhao"], ["chen"]),
    ]
    assert office.service.verify_audit(ADMIN).ok and office.service.check_rebuild(ADMIN).ok
