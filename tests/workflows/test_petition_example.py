"""The worked example of docs/WORKFLOWS.md, loaded from docs/examples as an admin would."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from duban.app import build_service
from duban.engine import diagram
from duban.engine.errors import Refused
from duban.engine.items import NewItem
from tests.conftest import ADMIN, build_office, local

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "petition.py"


@pytest.fixture
def petitions(settings, clock, tmp_path):
    folder = tmp_path / "flows"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "petition.py")
    service = build_service(replace(settings, workflows_dir=folder), clock)
    service.init(ADMIN, "管理员")
    yield build_office(service, clock)
    service.close()


def test_the_worked_example_runs_its_whole_life(petitions):
    o = petitions
    spec = NewItem(title="反映学校乱收费", lead_unit="JJK", deadline="60天", workflow="petition",
                   source="petition")
    item_id = o.service.new_item("zhao", spec)["id"]
    item = o.service.item(ADMIN, item_id)
    # 60 days on is 2027-01-01, a year whose holidays are not published yet: provisional
    assert item["current_deadline"] == local("2027-01-01 23:59:59")
    assert item["deadline_provisional"]
    assert {t["step"] for t in o.service.timers(ADMIN, item_id)} == {"remind", "red"}
    o.fire("wang", item_id, "sign")
    o.fire("wang", item_id, "answer", report="经核查, 收费项目已清退")
    with pytest.raises(Refused):
        o.fire("wang", item_id, "close")
    o.fire("zhao", item_id, "review", reason="信访人不服", deadline="30天")
    assert o.service.item(ADMIN, item_id)["state"] == "reviewing"
    o.fire("wang", item_id, "answer", report="复查维持原答复意见")
    assert o.fire("zhao", item_id, "close", note="已送达复查意见")["state"] == "closed"
    assert [n["kind"] for n in o.service.notices(ADMIN, item_id)] == ["assignment", "closed"]
    assert o.service.verify_audit(ADMIN).ok and o.service.check_rebuild(ADMIN).ok


def test_every_workflow_draws_its_diagram(petitions):
    registry = petitions.service.registry
    assert set(registry.names()) >= {"standard", "instruction", "hotline", "inspection",
                                     "key_task", "petition"}
    for workflow in registry.all_latest():
        drawn = diagram.mermaid(workflow)
        assert drawn.startswith("stateDiagram-v2")
        for state in workflow.states:
            assert state.name in drawn
