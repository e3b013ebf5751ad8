"""Who may do what: roles relative to items, AB岗 deputies, acting as someone else."""

from __future__ import annotations

import pytest

from duban.engine.access import Identity
from duban.engine.directory import NewPerson
from duban.engine.errors import InvalidInput, NotFound, Refused
from tests.conftest import ADMIN, item_events, local


def test_handler_of_another_unit_cannot_report(office):
    """Another unit's item is not theirs to see: it answers like a missing one."""
    item_id = office.item(unit="JJK")
    office.fire("wang", item_id, "sign")
    with pytest.raises(NotFound, match=f"没有编号为 {item_id} 的督办事项, 或你无权查看"):
        office.fire("zheng", item_id, "report", report="越权")


@pytest.mark.parametrize("event", ["verify", "reject", "warn", "summon", "hold_accountable",
                                   "approve_extension", "deny_extension", "close", "transfer"])
def test_only_supervisors_decide(office, event):
    item_id = office.item()
    with pytest.raises(Refused, match="只有督查员可以"):
        office.fire("wang", item_id, event)


def test_unit_head_by_registration_may_sign(office):
    item_id = office.item(unit="JJK")
    assert office.fire("zhou", item_id, "sign")["state"] == "in_progress"


def test_unit_head_by_role_may_sign(office):
    item_id = office.item(unit="SYZ")
    assert office.fire("ma", item_id, "sign")["state"] == "in_progress"


def test_deputy_acts_only_while_the_handler_is_away(office):
    service = office.service
    item_id = office.item(unit="JJK")
    with pytest.raises(NotFound):  # liu holds no role: the section's items are not theirs
        office.fire("liu", item_id, "sign")
    service.set_away(ADMIN, "wang", local("2026-11-05 23:59"), deputy="liu")
    signed = office.fire("liu", item_id, "sign")
    assert signed["state"] == "in_progress"
    assert item_events(service, item_id)[-1]["payload"]["on_behalf_of"] == "wang"  # 代办
    office.clock.set(local("2026-11-06 09:00"))
    with pytest.raises(NotFound):
        office.fire("liu", item_id, "progress", note="已回岗后代办")
    assert office.fire("wang", item_id, "progress", note="本人办理")["state"] == "in_progress"


def test_away_needs_a_deputy(office):
    with pytest.raises(InvalidInput, match="没有 B 岗"):
        office.service.set_away(ADMIN, "wang", local("2026-11-05 23:59"))


def test_people_may_mark_only_themselves_away(office):
    office.service.set_away("wang", "wang", local("2026-11-05 23:59"), deputy="liu")
    with pytest.raises(Refused, match="只有管理员"):
        office.service.set_away("zheng", "wang", None)


def test_only_admins_manage_the_directory(office):
    with pytest.raises(Refused, match="只有管理员"):
        office.service.add_unit("zhao", "XX", "某科")
    with pytest.raises(Refused, match="只有管理员"):
        office.service.add_person("wang", NewPerson("new", "新人"))


def test_only_supervisors_assign_items(office):
    from duban.engine.items import NewItem

    spec = NewItem(title="x", lead_unit="JJK", deadline=local("2026-12-01 18:00"))
    with pytest.raises(Refused, match="只有督查员可以"):
        office.service.new_item("wang", spec)


def test_new_item_reports_every_problem_at_once(office):
    from duban.engine.items import NewItem

    spec = NewItem(title="x", lead_unit="NOPE", co_units=("ALSO",), source="rumour",
                   deadline=local("2026-11-01 18:00"), lead_leader="ghost")
    with pytest.raises(InvalidInput) as caught:
        office.service.new_item("zhao", spec)
    message = caught.value.message
    for part in ("未知单位 ALSO", "未知单位 NOPE", "未知来源 rumour", "期限已经过去", "ghost"):
        assert part in message


def test_duplicate_unit_code_is_a_conflict(office):
    from duban.engine.errors import Conflict

    with pytest.raises(Conflict, match="JJK 已存在"):
        office.service.add_unit(ADMIN, "JJK", "重复")


def test_acting_as_another_is_for_admins_or_demo(office):
    service = office.service
    assert service.identify(Identity(ADMIN, "wang")) == "wang"
    with pytest.raises(Refused, match="只有管理员"):
        service.identify(Identity("zhao", "wang"))
    with pytest.raises(Refused, match="未登记"):
        service.identify(Identity("stranger"))
    with pytest.raises(NotFound):
        service.identify(Identity(ADMIN, "ghost"))


def test_refused_identification_is_recorded(office):
    with pytest.raises(Refused):
        office.service.identify(Identity("zhao", "wang"))
    with office.service.db.read() as conn:
        from sqlalchemy import select

        from duban.engine.models import AUDIT_EVENT

        last = conn.execute(
            select(AUDIT_EVENT).order_by(AUDIT_EVENT.c.seq.desc()).limit(1)
        ).mappings().one()
    assert (last["action"], last["actor"]) == ("refused", "os:zhao")


def test_possible_events_follow_role_and_state(office):
    item_id = office.item()
    assert office.service.possible_events("wang", item_id) == [
        ("sign", "签收"), ("decline", "退回交办")]
    supervisor = {name for name, _ in office.service.possible_events("zhao", item_id)}
    assert {"transfer", "warn", "summon", "hold_accountable"} <= supervisor
    assert "sign" not in supervisor


def test_identity_is_checked_inside_the_write(office):
    from duban.engine.access import Identity

    item_id = office.item()
    signed = office.service.fire(Identity(ADMIN, "wang"), item_id, "sign")
    assert signed["state"] == "in_progress"
    with pytest.raises(Refused, match="只有管理员"):
        office.service.fire(Identity("zhao", "wang"), item_id, "progress", {"note": "冒名"})
    last = item_events(office.service, item_id)[-1]
    assert (last["action"], last["actor"]) == ("refused", "os:zhao")
    assert office.service.item(ADMIN, item_id)["version"] == 2


def test_possible_events_leave_out_what_a_guard_would_refuse(office):
    item_id = office.item()
    offered = {name for name, _ in office.service.possible_events("zhao", item_id)}
    assert "hold_accountable" in offered and "exempt" not in offered
    office.fire("zhao", item_id, "hold_accountable", reason="慢作为")
    offered = {name for name, _ in office.service.possible_events("zhao", item_id)}
    assert "exempt" in offered and "hold_accountable" not in offered
