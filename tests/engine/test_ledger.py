"""The ledger, the period figures and the assessment on scenarios whose answers are known."""

from __future__ import annotations

import pytest

from duban.engine.assessment import Weights, rank
from duban.engine.errors import Conflict, InvalidInput
from duban.engine.figures import Figures
from duban.engine.ledger import LedgerFilter, describe, workflow_labels
from duban.engine.periods import parse_period
from tests.conftest import ADMIN, local

NOVEMBER = parse_period("2026-11")


@pytest.fixture
def november(office):
    """Four items through November 2026 (START is Monday 2 November, 09:00).

    A (JJK): signed at once, reported, sent back with a new deadline 11-25, reported again on
       11-24 and verified: on time, one redo out of three JJK reports.
    B (JJK): signed on 11-04 (late: the limit is one working day), reported after its
       deadline 11-13, verified: late.
    C (AQK): extension approved from 11-16 to 11-30, reported 11-27: on time.
    D: returned by JJK, transferred to SYZ, signed in time, never reported: overdue; a red
       warning and an interview.
    """
    o, clock = office, office.clock
    a = o.item(deadline="2026-11-20 18:00", title="甲", lead_leader="chen")
    b = o.item(deadline="2026-11-13 18:00", title="乙", lead_leader="chen")
    c = o.item(unit="AQK", deadline="2026-11-16 18:00", title="丙", source="instruction")
    d = o.item(deadline="2026-11-27 18:00", title="丁")
    clock.set(local("2026-11-02 10:00"))
    o.fire("wang", a, "sign")
    o.fire("zheng", c, "sign")
    o.fire("wang", d, "decline", reason="非本科职责")
    clock.set(local("2026-11-03 09:00"))
    o.fire("zhao", d, "transfer", unit="SYZ", reason="学校负责")
    clock.set(local("2026-11-04 09:00"))
    o.fire("wang", b, "sign")
    o.fire("lin", d, "sign")
    clock.set(local("2026-11-10 09:00"))
    o.fire("wang", a, "report", report="已完成")
    clock.set(local("2026-11-11 09:00"))
    o.fire("zhao", a, "reject", reason="不实", deadline="2026-11-25 18:00")
    clock.set(local("2026-11-12 09:00"))
    o.fire("zheng", c, "request_extension", reason="工程量大", deadline="2026-11-30 18:00")
    o.fire("zhao", c, "approve_extension")
    clock.set(local("2026-11-16 09:00"))
    o.fire("wang", b, "report", report="完成")
    clock.set(local("2026-11-17 09:00"))
    o.fire("zhao", b, "verify")
    clock.set(local("2026-11-24 09:00"))
    o.fire("wang", a, "report", report="已整改")
    clock.set(local("2026-11-26 09:00"))
    o.fire("zhao", a, "verify")
    clock.set(local("2026-11-27 09:00"))
    o.fire("zheng", c, "report", report="完成")
    o.fire("zhao", c, "verify")
    clock.set(local("2026-11-28 10:00"))
    o.fire("zhao", d, "warn", level="red", reason="逾期")
    clock.set(local("2026-11-30 10:00"))
    o.fire("zhao", d, "summon", reason="逾期未报")
    clock.set(local("2026-12-01 09:00"))
    return {"a": a, "b": b, "c": c, "d": d}


def test_period_figures_per_unit(office, november):
    by_unit = {f.key: f for f in office.service.period_figures(ADMIN, NOVEMBER)}
    assert set(by_unit) == {"JJK", "AQK", "SYZ"}
    jjk, aqk, syz = by_unit["JJK"], by_unit["AQK"], by_unit["SYZ"]
    assert (jjk.items, jjk.done, jjk.on_time, jjk.overdue) == (2, 2, 1, 0)
    assert (jjk.assigned, jjk.signed_on_time) == (2, 1)
    assert (jjk.count("report"), jjk.count("reject"), jjk.count("decline")) == (3, 1, 1)
    assert jjk.redo_rate == pytest.approx(1 / 3)
    assert (aqk.items, aqk.on_time, aqk.count("approve_extension")) == (1, 1, 1)
    assert (aqk.instructions, aqk.instructions_on_time) == (1, 1)
    assert (syz.items, syz.done, syz.overdue, syz.signed_on_time) == (1, 0, 1, 1)
    assert (syz.count("transfer"), syz.count("warn:red"), syz.count("summon")) == (1, 1, 1)
    assert syz.count("decline") == 0  # the return counts for JJK, which sent it back
    assert syz.satisfaction_rate is None  # nothing rated


def test_period_figures_per_leader(office, november):
    by_leader = {f.key: f for f in office.service.period_figures(ADMIN, NOVEMBER, by="leader")}
    assert (by_leader["chen"].items, by_leader["chen"].on_time) == (2, 1)
    assert by_leader["chen"].name == "陈局长"


def test_the_assessment_scores_ranks_and_compares(office, november):
    result = office.service.assess(ADMIN, NOVEMBER)
    table = [(s.figures.key, s.score, s.rank) for s in result.standings]
    # AQK 40+15+15+30; JJK 40*.5 + 15*.5 + 15 + 30*(2/3); SYZ 0+15+15+30 -2 overdue -3 red -5
    assert table == [("AQK", 100.0, 1), ("JJK", 62.5, 2), ("SYZ", 50.0, 3)]
    assert all(s.previous_score is None for s in result.standings)  # October had nothing
    assert (result.total.items, result.total.on_time, result.total.instruction_rate) == (4, 2, 1)
    december = office.service.assess(ADMIN, parse_period("2026-12"))
    assert december.standings == []


def test_weights_come_from_the_settings_file(office, november):
    from dataclasses import replace

    service = office.service
    service.settings = replace(service.settings, tables={
        **service.settings.tables, "assessment": {"overdue": 50, "interview": 0, "red": 0}})
    by_unit = {s.figures.key: s.score for s in service.assess(ADMIN, NOVEMBER).standings}
    assert by_unit["SYZ"] == 10.0  # 60 - 50
    service.settings = replace(service.settings, tables={"assessment": {"speed": 1}})
    with pytest.raises(Exception, match="未知设置项: speed"):
        service.assess(ADMIN, NOVEMBER)


def test_equal_scores_share_a_rank():
    def unit(key: str, items: int, on_time: int) -> Figures:
        return Figures(key, key, items=items, done=items, on_time=on_time)

    standings = rank([unit("B", 2, 2), unit("A", 1, 1), unit("C", 2, 1)], Weights())
    assert [(s.figures.key, s.rank) for s in standings] == [("A", 1), ("B", 1), ("C", 3)]


def test_the_circular_names_the_slow_and_commends_the_good(office, november):
    result = office.service.circular("zhao", NOVEMBER)
    payload = result["payload"]
    assert payload["good"] == ["安全稳定科"]
    assert payload["slow"] == [{"unit": "市第一中学", "items": [
        {"id": november["d"], "title": "丁", "overdue_workdays": 2}]}]
    assert [row[:2] for row in payload["rows"]] == [["1", "安全稳定科"], ["2", "基础教育科"],
                                                    ["3", "市第一中学"]]
    assert result["to"] == ["zhou"]  # unit heads on record; cc the leaders
    assert result["cc"] == ["chen"]
    notice = office.service.notice(ADMIN, result["notice"])
    assert notice["doc_number"] == "督通〔2026〕1号"
    assert "2026年11月，共督办事项4件，办结3件，按期办结率50.0%" in notice["body_text"]
    assert "市第一中学有1件事项逾期未办结：“丁”" in notice["body_text"]
    with pytest.raises(Conflict, match="已经发布过"):
        office.service.circular("zhao", NOVEMBER)
    with pytest.raises(Exception, match="无权发布通报"):
        office.service.circular("wang", parse_period("2026-Q4"))


def test_ledger_colours_follow_up_and_filters(office):
    o = office
    far = o.item(deadline="2026-11-20 18:00", title="远")  # 14 working days ahead
    near = o.item(deadline="2026-11-04 18:00", title="近", source="hotline")
    late = o.item(deadline="2026-11-03 18:00", title="迟", unit="AQK")
    done = o.item(deadline="2026-11-30 18:00", title="毕")
    o.fire("wang", far, "sign")
    o.fire("wang", done, "sign")
    o.fire("wang", done, "report", report="完成")
    o.fire("zhao", done, "verify", note="经现场核查, 问题已解决")
    o.clock.set(local("2026-11-04 09:00"))
    rows, total = o.service.ledger_page(ADMIN, LedgerFilter())
    by_id = {row["id"]: row for row in rows}
    assert total == 4
    assert [row["id"] for row in rows] == [late, near, far, done]  # by deadline
    assert (by_id[far]["colour"], by_id[far]["workdays_left"]) == ("green", 12)
    assert (by_id[near]["colour"], by_id[near]["workdays_left"]) == ("yellow", 0)
    assert (by_id[late]["colour"], by_id[late]["workdays_left"]) == ("red", -1)
    assert by_id[done]["colour"] == ""
    assert [by_id[i]["follow_up"] for i in (far, near, done)] == [
        "progress", "not_started", "done"]
    assert by_id[near]["next_actor"] == "承办单位"
    assert by_id[done]["next_actor"] == "督查室"  # verified: the office closes it
    o.clock.set(local("2026-11-20 09:00"))  # 12 working days without any action
    idle = o.service.ledger_page(ADMIN, LedgerFilter(unit="JJK", open_only=True))[0]
    assert {row["id"]: row["follow_up"] for row in idle}[far] == "idle"

    def ids(**flt) -> list[int]:
        return [row["id"] for row in o.service.ledger_page(ADMIN, LedgerFilter(**flt))[0]]

    assert ids(unit="AQK") == [late]
    assert ids(overdue=True) == [late, near]  # "far" is due at 18:00 today
    assert ids(source="hotline") == [near]
    assert ids(period=parse_period("2026-11"), state="verified") == [done]
    assert ids(period=parse_period("2026-12")) == []


def test_clear_to_zero_counts_open_items_oldest_first(office):
    o = office
    for day, unit in (("2026-11-20", "JJK"), ("2026-11-10", "JJK"), ("2026-11-06", "AQK"),
                      ("2026-11-30", "JJK")):
        o.item(unit=unit, deadline=f"{day} 18:00", title=f"{unit}{day}")
    o.clock.set(local("2026-11-12 09:00"))
    view = o.service.clear_to_zero(ADMIN)
    assert [(u["unit"], u["open"], u["overdue"]) for u in view] == [("JJK", 3, 1), ("AQK", 1, 1)]
    assert [i["title"] for i in view[0]["items"]] == ["JJK2026-11-10", "JJK2026-11-20",
                                                      "JJK2026-11-30"]


def test_periods_are_read_and_named():
    assert parse_period("2026-11").label == "2026年11月"
    assert parse_period("2026-Q4").previous().code == "2026-Q3"
    assert parse_period("2026-Q1").previous().code == "2025-Q4"
    assert parse_period("2026-H2").label == "2026年下半年"
    assert parse_period("2026").end_day.isoformat() == "2027-01-01"
    with pytest.raises(InvalidInput, match="无法识别的时段"):
        parse_period("2026-13x")
    with pytest.raises(InvalidInput, match="月份"):
        parse_period("2026-13")


def test_a_filter_is_described_as_the_office_reads_it(office):
    registry = office.service.registry
    units = {unit["code"]: unit["name"] for unit in office.service.units(ADMIN)}
    people = {person["login"]: person["name"] for person in office.service.people(ADMIN)}
    everything = LedgerFilter(unit="JJK", leader="chen", states=frozenset({"in_progress"}),
                              source="hotline", workflow="standard", period=NOVEMBER,
                              overdue=True, open_only=True, text=" 食堂 ")
    assert describe(everything, registry, units, people) == (
        "责任单位 基础教育科；牵头领导 陈局长；状态 办理中；来源 热线/效能投诉；工作流 标准督办；"
        "完成时限在 2026年11月；逾期未办结；未销号；检索 食堂")
    assert describe(LedgerFilter(), registry, units, people) == ""
    # one state name, labelled by each workflow that has it
    closed = describe(LedgerFilter(states=frozenset({"closed"})), registry, units, people)
    assert {"已销号", "已回访办结"} <= set(closed.removeprefix("状态 ").split("、"))
    assert workflow_labels(registry)["standard"] == "标准督办"


def test_a_change_of_score_that_rounds_to_nothing_reads_zero():
    from duban.engine.assessment import signed

    assert [signed(x) for x in (-0.04, 0.04, 0.0, 2.16, -1.0)] == \
        ["0.0", "0.0", "0.0", "+2.2", "-1.0"]
