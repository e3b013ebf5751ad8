"""Timers through simulated time: the ladder, downtime, held and restarted clocks, the calendar."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from duban.app import build_service
from duban.engine.items import NewItem
from duban.engine.models import AUDIT_EVENT
from tests.conftest import ADMIN, local


def new_item(office, deadline: str = "10 workdays", **extra) -> int:
    extra.setdefault("title", "校园安全隐患排查")
    spec = NewItem(lead_unit="JJK", deadline=deadline, **extra)
    return office.service.new_item("zhao", spec)["id"]


def tick_at(office, when: str) -> list[tuple[str, str]]:
    office.clock.set(local(when))
    return [(s["step"], s["status"]) for s in office.service.tick().steps]


def test_deadline_in_working_days_from_assignment(office):
    item = office.service.item(ADMIN, new_item(office))  # assigned Monday 2026-11-02 09:00
    assert item["current_deadline"] == local("2026-11-16 23:59:59")
    assert not item["deadline_provisional"]
    assert item["deadline_basis"]["period"] == "10 workdays"


def test_the_ladder_fires_each_step_once_on_its_working_day(office):
    item_id = new_item(office, lead_leader="chen")
    office.fire("wang", item_id, "sign")
    expected = [
        ("2026-11-09 08:59", []),
        ("2026-11-09 09:00", [("elapsed_50", "fired")]),
        ("2026-11-11 09:00", [("remind_3", "fired")]),
        ("2026-11-13 09:00", [("remind_1", "fired")]),
        ("2026-11-16 23:59", []),
        ("2026-11-17 00:00", [("yellow", "fired")]),
        ("2026-11-17 09:00", [("urge", "fired")]),
        ("2026-11-23 09:00", [("red", "fired")]),
        ("2026-11-25 09:00", [("progress_report:2026-11", "fired")]),
        ("2026-11-30 09:00", [("escalate", "fired")]),
        ("2026-11-30 09:00", []),
    ]
    for when, steps in expected:
        assert tick_at(office, when) == steps, when
    item = office.service.item(ADMIN, item_id)
    assert (item["state"], item["attrs"]["warning"], item["attrs"]["warnings"]) == (
        "in_progress", "red", 2)
    notices = office.service.notices(ADMIN, item_id)[1:]  # after the 交办通知 of its creation
    assert [n["kind"] for n in notices] == [
        "reminder", "reminder", "reminder", "warning", "urging", "warning", "progress_request",
        "interview_proposal"]
    assert notices[3]["cc"] == ["chen"]  # the yellow warning is copied to the leader in charge
    assert notices[5]["recipients"] == ["wang", "zhou"]
    assert notices[7]["recipients"] == ["zhao"]
    assert office.service.verify_audit(ADMIN).ok and office.service.check_rebuild(ADMIN).ok


def test_after_downtime_missed_steps_fire_once_and_stale_reminders_are_skipped(office):
    item_id = new_item(office)
    office.fire("wang", item_id, "sign")
    steps = dict(tick_at(office, "2026-11-20 10:00"))
    assert steps == {"elapsed_50": "skipped", "remind_3": "skipped", "remind_1": "skipped",
                     "yellow": "fired", "urge": "fired"}
    history = [e for e in office.service.history(ADMIN, item_id) if e["action"] == "timer_fired"]
    lateness = {e["event"]: e["payload"]["late_seconds"] for e in history}
    assert lateness["urge"] == 3 * 24 * 3600 + 3600
    assert tick_at(office, "2026-11-20 10:00") == []


def test_a_report_stops_the_clock_and_a_redo_restarts_it(office):
    item_id = new_item(office)
    office.fire("wang", item_id, "sign")
    office.clock.set(local("2026-11-10 10:00"))
    office.fire("wang", item_id, "report", report="已完成")
    timers = office.service.timers(ADMIN, item_id)
    assert {t["status"] for t in timers if t["step"] != "elapsed_50"} == {"cancelled"}
    assert tick_at(office, "2026-11-20 10:00") == []
    office.fire("zhao", item_id, "reject", reason="不实", deadline="2026-11-27")
    fresh = [t for t in office.service.timers(ADMIN, item_id) if t["deadline_version"] == 2]
    assert {t["step"] for t in fresh} >= {"yellow", "remind_1", "red"}
    assert dict(tick_at(office, "2026-11-28 00:00"))["yellow"] == "fired"


def test_a_pending_extension_holds_warnings_and_has_its_own_reminder(office):
    item_id = new_item(office)
    office.fire("wang", item_id, "sign")
    office.clock.set(local("2026-11-12 10:00"))
    office.fire("wang", item_id, "request_extension", reason="需招标", deadline="2026-12-10")
    assert tick_at(office, "2026-11-16 09:00") == [("extension_decision", "fired")]
    assert tick_at(office, "2026-11-17 09:00") == []  # no warning while the office decides
    office.fire("zhao", item_id, "deny_extension", reason="理由不充分")
    # Back in progress: the warnings return; reminders whose deadline passed are skipped.
    assert dict(tick_at(office, "2026-11-17 09:30")) == {
        "yellow": "fired", "urge": "fired",
        "elapsed_50": "skipped", "remind_3": "skipped", "remind_1": "skipped"}


def test_an_approved_extension_plans_the_ladder_again(office):
    item_id = new_item(office)
    office.fire("wang", item_id, "sign")
    office.clock.set(local("2026-11-12 10:00"))
    office.fire("wang", item_id, "request_extension", reason="需招标", deadline="2026-12-10")
    granted = office.fire("zhao", item_id, "approve_extension")
    assert granted["deadline_version"] == 2
    assert tick_at(office, "2026-11-17 09:00") == []
    assert dict(tick_at(office, "2026-12-11 00:00"))["yellow"] == "fired"


def test_on_time_is_judged_by_the_accepted_report_against_the_current_deadline(office):
    late = new_item(office)
    office.fire("wang", late, "sign")
    office.clock.set(local("2026-11-18 10:00"))
    office.fire("wang", late, "report", report="迟报")
    assert office.fire("zhao", late, "verify")["attrs"]["on_time"] is False
    redone = new_item(office, title="退回后按时")
    office.fire("wang", redone, "sign")
    office.fire("wang", redone, "report", report="初报")
    office.fire("zhao", redone, "reject", reason="不实", deadline="2026-11-30")
    office.clock.set(local("2026-11-25 10:00"))
    office.fire("wang", redone, "report", report="重报")
    assert office.fire("zhao", redone, "verify")["attrs"]["on_time"] is True


def test_reminders_go_to_the_deputy_while_the_owner_is_away(office):
    item_id = new_item(office)
    office.fire("wang", item_id, "sign")
    office.service.set_away(ADMIN, "wang", local("2026-11-12 23:59"), deputy="liu")
    tick_at(office, "2026-11-11 09:00")
    assert office.service.notices(ADMIN, item_id)[-1]["recipients"] == ["liu"]
    tick_at(office, "2026-11-13 09:00")
    assert office.service.notices(ADMIN, item_id)[-1]["recipients"] == ["wang"]


def test_a_provisional_deadline_moves_when_next_year_is_loaded(office, tmp_path):
    office.clock.set(local("2026-12-25 09:00"))
    item_id = new_item(office)
    item = office.service.item(ADMIN, item_id)
    assert item["deadline_provisional"]
    assert item["current_deadline"] == local("2027-01-08 23:59:59")
    year_file = tmp_path / "2027.toml"
    year_file.write_text(
        'year = 2027\nsource = "国务院办公厅关于2027年部分节假日安排的通知(测试)"\n'
        'holidays = ["2027-01-01", "2027-01-04"]\nworkdays = []\n', encoding="utf-8")
    result = office.service.load_calendar_year(ADMIN, year_file)
    assert result["moved_items"] == [item_id]
    moved = office.service.item(ADMIN, item_id)
    assert moved["current_deadline"] == local("2027-01-12 23:59:59")
    assert moved["original_deadline"] == local("2027-01-08 23:59:59")
    assert (moved["deadline_provisional"], moved["deadline_version"]) == (False, 2)
    assert office.service.notices(ADMIN, item_id)[-1]["kind"] == "deadline_changed"
    with office.service.db.read() as conn:
        actions = list(conn.execute(select(AUDIT_EVENT.c.action)).scalars())
    assert "calendar_loaded" in actions and "recalculated" in actions
    assert office.service.check_rebuild(ADMIN).ok


def test_a_bad_year_file_reports_every_problem_and_loads_nothing(office, tmp_path):
    from duban.engine.errors import InvalidInput

    year_file = tmp_path / "2027.toml"
    year_file.write_text('year = 2027\nholidays = ["2027-13-01", "2026-05-01"]\n'
                         'workdays = ["2027-02-08"]\n', encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        office.service.load_calendar_year(ADMIN, year_file)
    for part in ("2027-13-01 不是日期", "2026-05-01 不在 2027 年内", "2027-02-08 不是周末"):
        assert part in caught.value.message
    assert not office.service.calendar.is_official(2027)


def test_a_redo_deadline_may_be_given_in_working_days(office):
    item_id = new_item(office)
    office.fire("wang", item_id, "sign")
    office.fire("wang", item_id, "report", report="已完成")
    office.clock.set(local("2026-11-10 10:00"))
    redo = office.fire("zhao", item_id, "reject", reason="不实", deadline="5个工作日")
    assert redo["current_deadline"] == local("2026-11-17 23:59:59")


@pytest.mark.parametrize("db_kind", ["postgres"], indirect=True)
def test_the_ticker_leaves_an_item_a_user_holds_for_the_next_tick(office):
    import threading

    from sqlalchemy import text

    item_id = new_item(office)
    office.fire("wang", item_id, "sign")
    office.clock.set(local("2026-11-09 09:30"))
    holder = office.service.db.engine.connect()
    transaction = holder.begin()
    holder.execute(text("SELECT id FROM item WHERE id = :id FOR UPDATE"), {"id": item_id})
    result: list = []
    worker = threading.Thread(target=lambda: result.append(office.service.tick()))
    worker.start()
    worker.join(timeout=20)
    try:
        assert not worker.is_alive(), "the ticker waited on a user's lock"
        assert result[0].fired == 0
    finally:
        transaction.rollback()
        holder.close()
    assert [(s["step"], s["status"]) for s in office.service.tick().steps] == [
        ("elapsed_50", "fired")]


def test_working_day_deadlines_end_at_the_office_closing_time_when_set(office):
    from dataclasses import replace
    from datetime import time


    settings = replace(office.service.settings, closing_time=time(17, 30))
    closing_service = build_service(settings, office.clock)
    try:
        spec = NewItem(title="下班前办结", lead_unit="JJK", deadline="3个工作日")
        item = closing_service.new_item("zhao", spec)
        assert item["current_deadline"] == local("2026-11-05 17:30")
    finally:
        closing_service.close()


def test_every_kind_of_step_says_when_it_falls_due_in_words():
    from duban.workflows import proposal, standard

    specs = {spec.step: spec for spec in (*standard.TIMERS, *proposal.WORKFLOW.timers)}
    assert {step: specs[step].when() for step in (
        "remind_3", "yellow", "urge", "elapsed_50", "progress_report", "extension_decision",
        "co_views_due", "contact_due")} == {
        "remind_3": "期限前 3 个工作日 09:00",
        "yellow": "到期时",
        "urge": "期限后第 1 个工作日 09:00",
        "elapsed_50": "办理时限的 50% 已过时(按工作日计) 09:00",
        "progress_report": "每月 25 日 09:00",
        "extension_decision": "进入该状态后第 2 个工作日 09:00",
        "co_views_due": "交办后 1 个月(遇休息日顺延) 09:00",
        "contact_due": "交办后第 15 个工作日 09:00",
    }


def test_a_stored_step_is_named_by_its_label_with_the_month_of_a_monthly_one():
    from duban.engine.timers import step_label
    from duban.workflows.standard import TIMERS

    assert step_label(TIMERS, "remind_3") == "期限前3个工作日提醒"
    assert step_label(TIMERS, "progress_report:2026-11") == "每月调度: 报送进展(2026-11)"
    assert step_label(TIMERS, "dropped_in_a_later_version") == "dropped_in_a_later_version"


def test_an_items_timer_steps_carry_their_chinese_names_as_each_reader_sees_them(office):
    from duban.engine import views

    item_id = new_item(office, lead_leader="chen")
    office.fire("wang", item_id, "sign")

    def labelled(login: str) -> dict[str, str]:
        with office.service.reading(login, "item_timers", item_id) as txn:
            rows = views.item_timers(txn, item_id)
        def unlabelled(found: list[dict]) -> list[dict]:
            return [{k: v for k, v in row.items() if k != "label"} for row in found]

        assert unlabelled(rows) == unlabelled(office.service.timers(login, item_id))
        return {row["step"]: row["label"] for row in rows}

    office_sees = labelled("zhao")
    assert office_sees == {
        "elapsed_50": "办理时限过半提醒", "remind_3": "期限前3个工作日提醒",
        "remind_1": "期限前1个工作日提醒", "yellow": "到期未报结: 黄色预警",
        "urge": "逾期次日催办", "red": "逾期5个工作日: 红色预警",
        "escalate": "逾期10个工作日: 建议约谈",
        "progress_report:2026-11": "每月调度: 报送进展(2026-11)"}
    # the handler does not see the office's own step (the proposal to summon their head)
    assert labelled("wang") == {step: label for step, label in office_sees.items()
                                if step != "escalate"}
