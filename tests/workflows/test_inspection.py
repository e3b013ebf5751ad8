"""巡视整改: categories, colour warnings before the limit, three sign-offs before closing."""

from __future__ import annotations

import pytest

from duban.engine.directory import NewPerson
from duban.engine.errors import InvalidInput, Refused
from duban.engine.items import NewItem
from duban.engine.periods import parse_period
from tests.conftest import ADMIN, local


@pytest.fixture
def inspected(office):
    office.service.add_unit(ADMIN, "XSZ", "市委第三巡视组")
    office.service.add_person(ADMIN, NewPerson("xu", "徐组长", "XSZ", ("supervisor",)))
    return office


def problem(office, category="选人用人", term="long_term", deadline="2026-12-31 18:00",
            title="干部选拔任用程序不规范", unit="JJK"):
    spec = NewItem(title=title, lead_unit=unit, deadline=local(deadline), workflow="inspection",
                   source="inspection", lead_leader="chen",
                   attrs={"category": category, "term": term})
    return office.service.new_item("zhao", spec)["id"]


def test_a_problem_carries_its_category_and_term(inspected):
    item = inspected.service.item(ADMIN, problem(inspected))
    assert (item["attrs"]["category"], item["attrs"]["term"]) == ("选人用人", "long_term")
    with pytest.raises(InvalidInput, match="问题类别“财务”无效"):
        problem(inspected, category="财务")
    with pytest.raises(InvalidInput, match="巡视整改不接受字段 colour"):
        inspected.service.new_item("zhao", NewItem(title="x", lead_unit="JJK",
                                                   deadline="10个工作日", workflow="inspection",
                                                   attrs={"colour": "red"}))
    steps = {t["step"]: t["due_at"] for t in inspected.service.timers(ADMIN, item["id"])}
    assert steps == {"green": local("2026-12-11 09:00"), "yellow": local("2026-12-22 09:00"),
                     "red": local("2026-12-31 18:00")}


def test_closing_needs_the_unit_the_group_and_the_office(inspected):
    o = inspected
    item_id = problem(o)
    o.fire("wang", item_id, "sign")
    o.fire("wang", item_id, "report", report="已重新履行民主推荐程序",
           attach={"推荐会议记录.txt": "民主推荐会议记录".encode()})
    with pytest.raises(Refused, match="销号还需: 单位确认、巡视组确认、督查室确认"):
        o.fire("zhao", item_id, "close")
    o.fire("zhou", item_id, "confirm_unit")
    with pytest.raises(Refused, match="只有巡视组成员可以确认"):
        o.fire("zhao", item_id, "confirm_group")
    o.fire("xu", item_id, "confirm_group")
    with pytest.raises(Refused, match="巡视组成员不能代督查室确认"):
        o.fire("xu", item_id, "confirm_office")
    # sent back: the sign-offs start again
    o.fire("zhao", item_id, "reject", reason="材料不全", deadline="2026-12-20")
    assert not any(o.service.item(ADMIN, item_id)["attrs"].get(k)
                   for k in ("unit_confirmed", "group_confirmed"))
    o.fire("wang", item_id, "report", report="补充材料",
           attach={"补充材料.txt": "补充的推荐材料".encode()})
    for actor, event in (("zhou", "confirm_unit"), ("xu", "confirm_group"),
                         ("zhao", "confirm_office")):
        o.fire(actor, item_id, event)
    closed = o.fire("zhao", item_id, "close")
    assert (closed["state"], closed["attrs"]["on_time"]) == ("closed", True)
    assert o.service.verify_audit(ADMIN).ok and o.service.check_rebuild(ADMIN).ok


def test_statistics_by_category(inspected):
    o = inspected
    for category, unit in (("选人用人", "JJK"), ("选人用人", "AQK"), ("财务资产管理", "JJK")):
        problem(o, category=category, unit=unit, deadline="2026-11-30 18:00")
    o.clock.set(local("2026-12-01 09:00"))
    by_category = {f.key: f for f in o.service.period_figures(ADMIN, parse_period("2026-11"),
                                                             by="category")}
    assert {k: (f.items, f.overdue) for k, f in by_category.items()} == {
        "选人用人": (2, 2), "财务资产管理": (1, 1)}
