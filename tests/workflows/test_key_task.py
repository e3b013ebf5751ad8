"""重点工作: broken down into sub-items with their own timers; the parent rolls them up and
closes only when all of them are closed."""

from __future__ import annotations

import pytest

from duban.commands.text import item_detail
from duban.engine.errors import InvalidInput, Refused
from duban.engine.ledger import LedgerFilter
from tests.conftest import ADMIN, local


def test_a_key_task_waits_for_its_sub_items(office):
    parent = office.item(workflow="key_task", deadline="2026-12-31 18:00", title="城乡学校共同体",
                         source="key_task")
    weeks = [office.item(unit=unit, deadline=day, title=title, parent_id=parent)
             for unit, day, title in (("JJK", "2026-11-13 18:00", "第一周: 摸底结对学校"),
                                      ("SYZ", "2026-11-20 18:00", "第二周: 签订共同体协议"),
                                      ("JJK", "2026-11-27 18:00", "第三周: 首批教师交流"))]
    with pytest.raises(InvalidInput, match="子任务期限不能晚于上级事项"):
        office.item(deadline="2027-01-05 18:00", parent_id=parent)
    # each sub-item runs on its own timetable
    assert {t["step"] for t in office.service.timers(ADMIN, weeks[0])} >= {"remind_3", "yellow"}
    office.fire("wang", parent, "sign")
    with pytest.raises(Refused, match="尚有 3 项子任务未办结, 不能报结"):
        office.fire("wang", parent, "report", report="已完成")
    for week in weeks[:2]:
        owner = "lin" if office.service.item(ADMIN, week)["lead_unit"] == "SYZ" else "wang"
        office.fire(owner, week, "sign")
        office.fire(owner, week, "report", report="完成")
        office.fire("zhao", week, "verify")
        office.fire("zhao", week, "close")
    rolled = office.service.children(ADMIN, parent)
    assert (rolled["total"], rolled["closed"]) == (3, 2)
    assert rolled["next_deadline"] == local("2026-11-27 18:00")
    [row] = [r for r in office.service.ledger_page(ADMIN, LedgerFilter(workflow="key_task"))[0]]
    assert (row["children"]["closed"], row["children"]["total"]) == (2, 3)
    office.fire("wang", weeks[2], "sign")
    office.fire("wang", weeks[2], "report", report="完成")
    office.fire("zhao", weeks[2], "verify")
    office.fire("zhao", weeks[2], "close")
    office.fire("wang", parent, "report", report="三项子任务全部完成")
    office.fire("zhao", parent, "verify")
    assert office.fire("zhao", parent, "close")["state"] == "closed"
    assert office.service.verify_audit(ADMIN).ok and office.service.check_rebuild(ADMIN).ok


def test_item_show_rolls_up_the_sub_items(office):

    parent = office.item(workflow="key_task", deadline="2026-12-31 18:00", title="食堂改造")
    office.item(deadline="2026-11-30 18:00", title="设计", parent_id=parent)
    shown = item_detail(office.service.item_view(ADMIN, parent), office.service.tz)
    assert "子任务: 0/1 已销号, 最近的未销号期限 2026-11-30 18:00" in shown
