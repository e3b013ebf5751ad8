"""An item through its whole life, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from duban.engine.errors import Conflict, InvalidInput, NotFound, Refused
from tests.conftest import ADMIN, item_events, local


def test_item_walks_from_assignment_to_closing(office):
    item_id = office.item()
    assert office.fire("wang", item_id, "sign")["state"] == "in_progress"
    assert office.fire("wang", item_id, "report", report="已完成排查")["state"] == "reported"
    assert office.fire("zhao", item_id, "verify")["state"] == "verified"
    closed = office.fire("zhao", item_id, "close")
    assert closed["state"] == "closed"
    assert closed["version"] == 5
    actions = [(e["action"], e["event"]) for e in item_events(office.service, item_id)]
    assert actions == [("created", None), ("event", "sign"), ("event", "report"),
                       ("event", "verify"), ("event", "close")]


def test_first_signer_owns_the_item(office):
    item_id = office.item()
    assert office.fire("wang", item_id, "sign")["attrs"]["owner"] == "wang"


def test_rejected_report_goes_back_with_a_new_deadline(office):
    item_id = office.item()
    office.fire("wang", item_id, "sign")
    office.fire("wang", item_id, "report", report="已完成")
    office.clock.set(local("2026-11-10 10:00"))
    item = office.fire("zhao", item_id, "reject", reason="核查不实", deadline="2026-11-25")
    assert item["state"] == "in_progress"
    assert item["current_deadline"] == local("2026-11-25 23:59:59")
    assert item["original_deadline"] == local("2026-11-20 18:00")
    assert item["deadline_reason"] == "退回重办"
    assert item["attrs"]["redos"] == 1


def test_reject_needs_reason_and_deadline_named_at_once(office):
    item_id = office.item()
    office.fire("wang", item_id, "sign")
    office.fire("wang", item_id, "report", report="已完成")
    with pytest.raises(InvalidInput, match="理由、办理期限"):
        office.fire("zhao", item_id, "reject")
    assert office.service.item(ADMIN, item_id)["state"] == "reported"


def test_redo_deadline_in_the_past_is_refused(office):
    item_id = office.item()
    office.fire("wang", item_id, "sign")
    office.fire("wang", item_id, "report", report="已完成")
    with pytest.raises(Refused, match="已经过去"):
        office.fire("zhao", item_id, "reject", reason="不实", deadline="2026-11-01")


def test_decline_then_transfer_moves_the_item_to_the_right_unit(office):
    item_id = office.item(unit="AQK")
    assert office.fire("zheng", item_id, "decline", reason="非本科职责")["state"] == "declined"
    moved = office.fire("zhao", item_id, "transfer", unit="JJK", reason="按职责转办")
    assert (moved["state"], moved["lead_unit"]) == ("assigned", "JJK")
    assert office.fire("wang", item_id, "sign")["state"] == "in_progress"
    with pytest.raises(NotFound):  # no longer the old unit's item: not even to see
        office.fire("zheng", item_id, "progress", note="原单位已无权办理")


def test_transfer_to_the_same_unit_is_refused(office):
    item_id = office.item()
    with pytest.raises(Refused, match="相同"):
        office.fire("zhao", item_id, "transfer", unit="JJK", reason="x")


def test_transfer_to_an_unknown_unit_is_not_found(office):
    item_id = office.item()
    with pytest.raises(NotFound, match="XYZ"):
        office.fire("zhao", item_id, "transfer", unit="XYZ", reason="x")


def test_extension_request_approved_moves_the_deadline(office):
    item_id = office.item()
    office.fire("wang", item_id, "sign")
    asked = office.fire("wang", item_id, "request_extension", reason="需招标",
                        deadline="2026-12-05")
    assert asked["state"] == "extension_requested"
    granted = office.fire("zhao", item_id, "approve_extension", reason="同意")
    assert granted["state"] == "in_progress"
    assert granted["current_deadline"] == local("2026-12-05 23:59:59")
    assert granted["deadline_reason"] == "批准延期"
    assert "requested_deadline" not in granted["attrs"]
    assert granted["attrs"]["extensions"] == 1


def test_extension_denied_keeps_the_deadline(office):
    item_id = office.item()
    office.fire("wang", item_id, "sign")
    office.fire("wang", item_id, "request_extension", reason="需招标", deadline="2026-12-05")
    denied = office.fire("zhao", item_id, "deny_extension", reason="理由不充分")
    assert denied["current_deadline"] == local("2026-11-20 18:00")
    assert denied["state"] == "in_progress"


def test_extension_to_an_earlier_date_is_refused(office):
    item_id = office.item()
    office.fire("wang", item_id, "sign")
    with pytest.raises(Refused, match="不晚于现期限"):
        office.fire("wang", item_id, "request_extension", reason="x", deadline="2026-11-15")


def test_warning_summon_and_accountability_record_without_moving_the_item(office):
    item_id = office.item()
    office.fire("wang", item_id, "sign")
    warned = office.fire("zhao", item_id, "warn", level="红色预警", reason="逾期")
    assert (warned["state"], warned["attrs"]["warning"]) == ("in_progress", "red")
    office.fire("zhao", item_id, "summon", reason="严重滞后", at="2026-11-21 15:00",
                place="三楼会议室")
    held = office.fire("zhao", item_id, "hold_accountable", reason="慢作为")
    assert held["attrs"]["accountability"] == "proposed"
    event = item_events(office.service, item_id)[-1]
    assert event["payload"]["unit_head"] == "zhou"
    assert event["payload"]["lead_leader"] == "chen"  # 上查一级: head of the unit above
    with pytest.raises(Refused, match="已在问责程序中"):
        office.fire("zhao", item_id, "hold_accountable", reason="再次")


def test_accountability_names_the_lead_leader_when_there_is_one(office):
    item_id = office.item(lead_leader="chen", unit="SYZ")
    office.fire("zhao", item_id, "hold_accountable", reason="不作为")
    event = item_events(office.service, item_id)[-1]
    assert (event["payload"]["unit_head"], event["payload"]["lead_leader"]) == ("ma", "chen")


def test_exemption_needs_accountability_and_a_written_reason(office):
    item_id = office.item()
    with pytest.raises(Refused, match="没有进行中的问责"):
        office.fire("zhao", item_id, "exempt", reason="容错")
    office.fire("zhao", item_id, "hold_accountable", reason="慢作为")
    with pytest.raises(InvalidInput, match="理由"):
        office.fire("zhao", item_id, "exempt")
    exempted = office.fire("zhao", item_id, "exempt", reason="系上级拨款延迟, 符合容错情形")
    assert exempted["attrs"]["accountability"] == "exempted"


def test_unknown_level_lists_the_choices(office):
    item_id = office.item()
    with pytest.raises(InvalidInput, match="yellow"):
        office.fire("zhao", item_id, "warn", level="orange", reason="x")


def test_event_not_possible_now_says_what_is(office):
    item_id = office.item()
    with pytest.raises(Refused, match="当前状态为“已交办”, 不能报结; 你现在可以: 签收、退回交办"):
        office.fire("wang", item_id, "report", report="x")


def test_unknown_event_and_item_are_not_found(office):
    item_id = office.item()
    with pytest.raises(NotFound, match="没有事件 fly"):
        office.fire("wang", item_id, "fly")
    with pytest.raises(NotFound, match="999"):
        office.fire("wang", 999, "sign")


def test_stale_version_is_a_conflict(office):
    item_id = office.item()
    with pytest.raises(Conflict, match="刚被他人改动"):
        office.service.fire("wang", item_id, "sign", {}, expected_version=7)
    assert office.service.fire("wang", item_id, "sign", {}, expected_version=1)["version"] == 2


def test_edit_keeps_the_old_values_in_the_audit(office):
    item_id = office.item()
    edited = office.service.edit_item("zhao", item_id, {"title": "冬季校园安全隐患排查"})
    assert edited["title"] == "冬季校园安全隐患排查"
    change = item_events(office.service, item_id)[-1]["payload"]["changes"]["title"]
    assert change == ["校园安全隐患排查", "冬季校园安全隐患排查"]
    with pytest.raises(Refused):
        office.service.edit_item("wang", item_id, {"title": "x"})


def test_control_characters_and_long_text_are_refused(office):
    item_id = office.item()
    office.fire("wang", item_id, "sign")
    with pytest.raises(InvalidInput, match="控制字符"):
        office.fire("wang", item_id, "report", report="完成\x1b[31m")
    with pytest.raises(InvalidInput, match="过长"):
        office.fire("wang", item_id, "report", report="字" * 10_001)
    assert office.service.item(ADMIN, item_id)["state"] == "in_progress"
