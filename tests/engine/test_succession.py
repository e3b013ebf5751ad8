"""新官要理旧账: a handler and a leader leave; their open work goes to successors in one audited
step, the record keeps both names, and nothing is lost from the ledger or the assessment."""

from __future__ import annotations

import pytest

from duban.engine.directory import NewPerson
from duban.engine.errors import InvalidInput, Refused
from duban.engine.ledger import LedgerFilter
from duban.engine.periods import parse_period
from tests.conftest import ADMIN, item_events, local


def test_a_handler_and_a_leader_hand_over_and_leave(office):
    service = office.service
    service.add_person(ADMIN, NewPerson("sun", "孙承办", "JJK", ("handler",)))
    service.add_person(ADMIN, NewPerson("han", "韩局长", "JYJ", ("lead_leader",)))
    service.set_away(ADMIN, "zhou", None, deputy="wang")  # wang stands in for the head
    service.edit_unit(ADMIN, "JJK", {"liaison_login": "wang"})
    signed = office.item(lead_leader="chen", title="校园安全排查")
    waiting = office.item(title="食堂整改")
    closed = office.item(title="已办结")
    office.fire("wang", signed, "sign")
    office.fire("wang", closed, "sign")
    office.fire("wang", closed, "report", report="完成")
    office.fire("zhao", closed, "verify")
    office.fire("zhao", closed, "close")

    work = service.open_work(ADMIN, "wang")
    assert [i["id"] for i in work["owned"]] == [signed]  # the closed one is not open work
    assert (work["liaison_of"], work["deputy_for"]) == (["JJK"], ["zhou"])
    with pytest.raises(InvalidInput, match="接任者不在该单位"):
        service.hand_over(ADMIN, "wang", "zheng", "调离")
    moved = service.hand_over(ADMIN, "wang", "sun", "调离基础教育科", deactivate=True)
    assert moved["items"] == [signed]
    item = service.item(ADMIN, signed)
    assert item["attrs"]["owner"] == "sun"
    handed = item_events(service, signed)[-1]
    assert (handed["action"], handed["payload"]["from"], handed["payload"]["to"]) \
        == ("handed_over", "wang", "sun")
    assert handed["payload"]["changes"]["attrs"][0]["owner"] == "wang"  # both names kept
    assert service.people(ADMIN, "JJK")[-2]["login"] == "wang"  # nothing deleted
    assert not next(p for p in service.people(ADMIN) if p["login"] == "wang")["active"]
    assert next(p for p in service.people(ADMIN) if p["login"] == "zhou")["deputy_login"] == "sun"
    assert next(u for u in service.units(ADMIN) if u["code"] == "JJK")["liaison_login"] == "sun"
    with pytest.raises(Refused, match="已停用"):
        office.fire("wang", waiting, "sign")
    assert office.fire("sun", signed, "progress", note="接手办理")["attrs"]["owner"] == "sun"

    with pytest.raises(InvalidInput, match="不是牵头领导"):
        service.hand_over(ADMIN, "chen", "zhou", "退休")
    service.hand_over(ADMIN, "chen", "han", "退休")
    assert service.item(ADMIN, signed)["lead_leader"] == "han"
    assert service.item("han", signed)["id"] == signed  # the new leader sees it

    fresh = office.item(title="新事项")
    told = next(n for n in service.notices(ADMIN, fresh) if n["kind"] == "assignment")
    assert "sun" in told["recipients"] and "wang" not in told["recipients"] + told["cc"]
    rows, total = service.ledger_page(ADMIN, LedgerFilter())
    assert total == 4 and {r["id"] for r in rows} >= {signed, waiting, closed}
    office.clock.set(local("2026-12-01 09:00"))
    assessed = service.assess(ADMIN, parse_period("2026-11"))
    assert sum(s.figures.items for s in assessed.standings) == 4
    assert service.verify_audit(ADMIN).ok and service.check_rebuild(ADMIN).ok


def test_a_deactivated_person_receives_nothing(office):
    service = office.service
    service.set_active(ADMIN, "wang", False, "长期病假")
    item_id = office.item()
    assignment = next(n for n in service.notices(ADMIN, item_id) if n["kind"] == "assignment")
    assert "wang" not in assignment["recipients"] + assignment["cc"]
    with pytest.raises(Refused, match="不能停用或启用自己"):
        service.set_active(ADMIN, ADMIN, False, "x")
