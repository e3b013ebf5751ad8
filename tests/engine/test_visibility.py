"""What each person may see and do: the role × action × scope matrix, over every workflow.

One item per workflow is led by 基础教育科 (JJK), helped by 安全稳定科 (AQK), led by the leader
李 (li). Each person of the office then reads it, lists it, finds it in the ledger, reads its
history and notices, and tries to sign it; every allowed cell works, every forbidden read
and write is refused, recorded, and changes nothing.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from duban import workflows
from duban.engine.directory import NewPerson
from duban.engine.errors import NotFound, NotVisible, Refused
from duban.engine.ledger import LedgerFilter
from duban.engine.models import AUDIT_EVENT
from duban.engine.periods import parse_period
from duban.engine.registry import Registry
from tests.conftest import ADMIN, local

WORKFLOWS = sorted(Registry.discover((workflows,)).names())
EXTRA_PEOPLE = (
    ("li", "李副局长", "JYJ", ("lead_leader",)),
    ("qian", "钱联络员", "AQK", ()),
    ("ins", "孙督查员", None, ("inspector",)),
    ("ins2", "吴督查员", None, ("inspector",)),
    ("eva", "评估甲", None, ("evaluator",)),
    ("eva2", "评估乙", None, ("evaluator",)),
)
# person: (sees the item, may sign it)
MATRIX = {
    "wang": (True, True),  # handler of the lead unit
    "zhou": (True, True),  # the lead unit's registered head
    "liu": (False, False),  # in the lead unit, but holds no role
    "zheng": (True, False),  # handler of the co-unit: sees, does not sign
    "qian": (True, False),  # the co-unit's liaison
    "lin": (False, False),  # handler of another unit
    "ma": (False, False),  # head of another unit
    "li": (True, False),  # the item's lead leader
    "chen": (True, False),  # heads the bureau, which the lead unit is below
    "zhao": (True, False),  # the supervision office: everything, but the unit signs
    ADMIN: (True, False),
    "ins": (True, False),  # inspector assigned to the item
    "ins2": (False, False),  # inspector not assigned
    "eva": (True, False),  # evaluator of an evaluation holding the item
    "eva2": (False, False),  # evaluator of another evaluation
}


@pytest.fixture
def matrix_office(office):
    service = office.service
    for login, name, unit, roles in EXTRA_PEOPLE:
        service.add_person(ADMIN, NewPerson(login, name, unit, roles))
    service.edit_unit(ADMIN, "AQK", {"liaison_login": "qian"})
    return office


def new_item(office, workflow: str) -> int:
    extra = {"category": "安全稳定", "term": "long_term"} if workflow == "inspection" else {}
    from duban.engine.items import NewItem

    spec = NewItem(title=f"{workflow}事项", lead_unit="JJK", deadline=local("2026-11-20 18:00"),
                   workflow=workflow, lead_leader="li", co_units=("AQK",), attrs=extra)
    return office.service.new_item("zhao", spec)["id"]


def refusals(service, actor: str) -> list[tuple[str, int | None, str]]:
    with service.db.read() as conn:
        rows = conn.execute(select(AUDIT_EVENT.c.event, AUDIT_EVENT.c.item_id,
                                   AUDIT_EVENT.c.reason)
                            .where(AUDIT_EVENT.c.action == "refused",
                                   AUDIT_EVENT.c.actor == actor)).all()
    return [tuple(row) for row in rows]


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_each_person_sees_and_does_what_is_theirs(matrix_office, workflow):
    office, service = matrix_office, matrix_office.service
    item_id = new_item(office, workflow)
    other = new_item(office, workflow)  # in an evaluation eva2 takes part in
    service.assign_inspector("zhao", item_id, "ins")
    service.create_evaluation("zhao", f"评估{workflow}", [item_id], ["eva"])
    service.create_evaluation("zhao", f"另一评估{workflow}", [other], ["eva2"])
    before = service.item(ADMIN, item_id)
    for actor, (sees, _) in MATRIX.items():
        listed = {row["id"] for row in service.items(actor)}
        ledger = {row["id"] for row in service.ledger_page(actor, LedgerFilter())[0]}
        assert (item_id in listed, item_id in ledger) == (sees, sees), actor
        if sees:
            assert service.item(actor, item_id)["id"] == item_id
            assert service.history(actor, item_id)[0]["action"] == "created"
            assert service.item_view(actor, item_id).item["id"] == item_id
            continue
        for read in (service.item, service.history, service.timers, service.notices,
                     service.item_view, service.possible_events):
            with pytest.raises(NotFound, match=f"没有编号为 {item_id} 的督办事项, 或你无权查看"):
                read(actor, item_id)
        recorded = refusals(service, actor)
        assert len(recorded) == 6 and {r[1] for r in recorded} == {item_id}, actor
        assert {r[2] for r in recorded} == {f"无权查看事项 {item_id}"}
    assert service.item(ADMIN, item_id) == before  # no read changed anything
    for actor, (sees, signs) in MATRIX.items():
        if signs:
            continue
        with pytest.raises(Refused if sees else NotVisible):
            service.fire(actor, item_id, "sign")
        assert service.item(ADMIN, item_id) == before, actor
        assert refusals(service, actor)[-1][:2] == ("sign", item_id)
    for signer in (actor for actor, (_, signs) in MATRIX.items() if signs):
        fresh = new_item(office, workflow)
        assert service.fire(signer, fresh, "sign")["version"] == 2
    assert service.verify_audit(ADMIN).ok and service.check_rebuild(ADMIN).ok


def test_sub_items_are_seen_with_their_parent(matrix_office):
    office, service = matrix_office, matrix_office.service
    parent = office.item(unit="JJK", workflow="key_task", deadline="2026-12-30 18:00")
    child = office.item(unit="SYZ", deadline="2026-12-20 18:00", parent_id=parent)
    assert service.item("wang", child)["parent_id"] == parent  # the parent unit's sub-item
    assert service.item("ma", child)["id"] == child  # and the sub-item's own unit
    with pytest.raises(NotFound):
        service.item("ma", parent)
    assert child in {row["id"] for row in service.items("wang")}


def test_internal_documents_reach_only_the_office_and_the_named(matrix_office):
    office, service = matrix_office, matrix_office.service
    item_id = office.item(unit="JJK")
    office.fire("wang", item_id, "sign")
    office.fire("zhao", item_id, "hold_accountable", reason="慢作为")  # 问责建议 to supervisors
    kinds = {n["kind"] for n in service.notices("zhao", item_id)}
    assert {"assignment", "accountability"} <= kinds
    for actor in ("wang", "zhou", "chen"):
        shown = {n["kind"] for n in service.notices(actor, item_id)}
        assert "accountability" not in shown, actor
        assert "accountability" not in {n["kind"] for n in service.notice_list(actor)}
        view = service.item_view(actor, item_id)
        assert "accountability" not in {n["kind"] for n in view.notices}
        notes = [e for e in view.history if e["action"] == "notice"]
        assert all(e["payload"].get("kind") != "accountability" for e in notes), actor
    assert "assignment" in {n["kind"] for n in service.notices("wang", item_id)}
    internal = next(n for n in service.notices("zhao", item_id) if n["kind"] == "accountability")
    with pytest.raises(NotFound, match="或你无权查看"):
        service.notice("wang", internal["id"])
    assert refusals(service, "wang")[-1][2] == f"无权查看通知 {internal['id']}"
    assert service.notice("zhao", internal["id"])["kind"] == "accountability"


def test_figures_for_leaders_and_the_office_a_units_own_for_the_unit(matrix_office):
    office, service = matrix_office, matrix_office.service
    office.item(unit="JJK", deadline="2026-11-10 18:00")
    office.item(unit="AQK", deadline="2026-11-12 18:00")
    office.clock.set(local("2026-12-01 09:00"))
    november = parse_period("2026-11")
    assert {s.figures.key for s in service.assess("li", november).standings} == {"JJK", "AQK"}
    assert {s.figures.key for s in service.assess("zheng", november).standings} == {"AQK"}
    assert {f.key for f in service.period_figures("wang", november)} == {"JJK"}
    with pytest.raises(Refused, match="无权查看考核"):
        service.assess("ins", november)
    with pytest.raises(Refused, match="按领导"):
        service.period_figures("wang", november, by="leader")


def test_a_units_export_holds_only_its_rows(matrix_office, tmp_path):
    from openpyxl import load_workbook

    office, service = matrix_office, matrix_office.service
    mine = office.item(unit="AQK", title="本科事项")
    office.item(unit="SYZ", title="学校事项")
    path = tmp_path / "aqk.xlsx"
    assert service.export_ledger("zheng", LedgerFilter(), path) == 1
    cells = {str(c.value) for row in load_workbook(path).worksheets[0].iter_rows() for c in row}
    assert "本科事项" in cells and "学校事项" not in cells
    assert mine in {row["id"] for row in service.clear_to_zero("zheng")[0]["items"]}


def test_a_deputy_and_a_liaison_act_for_the_unit_and_say_so(matrix_office):
    office, service = matrix_office, matrix_office.service
    service.edit_unit(ADMIN, "JJK", {"liaison_login": "liu"})
    item_id = office.item(unit="JJK")
    assert service.fire("liu", item_id, "sign")["state"] == "in_progress"  # liaison acts
    assert "liu" in next(n for n in service.notices("zhao", item_id)
                         if n["kind"] == "assignment")["recipients"]


def test_the_leader_of_an_item_must_be_someone_who_leads(office):
    from duban.engine.errors import InvalidInput

    with pytest.raises(InvalidInput, match="不是牵头领导"):
        office.item(lead_leader="wang")
