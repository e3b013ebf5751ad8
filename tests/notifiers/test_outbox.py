"""The outbox: notices written with the event that caused them, numbered without gaps."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from sqlalchemy import update

from duban.app import build_service
from duban.engine import items
from duban.engine.errors import Refused
from duban.engine.models import NOTICE
from duban.engine.service import Service
from duban.notifiers.sender import deliver, render_waiting
from tests.conftest import ADMIN, build_office, local


def numbers_of(service: Service) -> list[str]:
    with service.db.read() as conn:
        from sqlalchemy import select

        from duban.engine.models import NOTICE

        rows = conn.execute(select(NOTICE.c.doc_number).where(NOTICE.c.doc_number.is_not(None))
                            .order_by(NOTICE.c.id))
        return [row[0] for row in rows]


def test_an_event_and_its_notice_commit_together(office):
    item_id = office.item(lead_leader="chen")
    office.fire("wang", item_id, "sign")
    office.fire("zhao", item_id, "warn", level="yellow", reason="进展偏慢")
    notices = office.service.notices(ADMIN, item_id)
    assert [n["kind"] for n in notices] == ["assignment", "warning"]
    warning = notices[1]
    assert (warning["recipients"], warning["cc"]) == (["wang", "zhou"], ["chen"])
    assert warning["status"] == "pending" and warning["doc_number"] == "督办〔2026〕2号"
    with pytest.raises(Refused):  # refused: no event, no notice, no number taken
        office.fire("wang", item_id, "warn", level="red", reason="越权")
    assert len(office.service.notices(ADMIN, item_id)) == 2
    office.fire("zhao", item_id, "warn", level="red", reason="逾期")
    assert numbers_of(office.service)[-1] == "督办〔2026〕3号"


def test_a_rolled_back_transaction_gives_its_number_back(office):
    item_id = office.item()
    office.fire("wang", item_id, "sign")
    with pytest.raises(RuntimeError), office.service.transaction("zhao") as txn:
        items.fire(txn, item_id, "warn", {"level": "yellow", "reason": "偏慢"})
        raise RuntimeError("the command failed after the notice was written")
    office.fire("zhao", item_id, "warn", level="yellow", reason="偏慢")
    assert numbers_of(office.service) == ["督办〔2026〕1号", "督办〔2026〕2号"]


def test_numbers_start_again_each_year(office):
    office.item()
    office.clock.set(local("2027-01-04 09:00"))
    office.item(deadline="2027-02-01 18:00")
    assert numbers_of(office.service) == ["督办〔2026〕1号", "督办〔2027〕1号"]


@pytest.mark.parametrize("db_kind", ["postgres"], indirect=True)
def test_concurrent_writers_never_share_or_skip_a_number(office, settings, clock):
    item_ids = [office.item(unit=unit) for unit in ("JJK", "AQK", "SYZ", "JJK")]
    errors: list[BaseException] = []
    start = threading.Barrier(len(item_ids))

    def warn_many(item_id: int) -> None:
        service = build_service(settings, clock)
        try:
            start.wait(timeout=30)
            for n in range(8):
                service.fire("zhao", item_id, "warn", {"level": "yellow", "reason": f"第{n}次"})
        except BaseException as err:  # reported by the test thread
            errors.append(err)
        finally:
            service.close()

    threads = [threading.Thread(target=warn_many, args=(i,)) for i in item_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    found = numbers_of(office.service)
    assert sorted(found, key=lambda n: int(n[8:-1])) == [
        f"督办〔2026〕{n}号" for n in range(1, len(item_ids) * 9 + 1)]
    assert office.service.verify_audit(ADMIN).ok


def test_a_person_never_gets_the_same_notice_twice(office):
    office.service.set_unit_head(ADMIN, "JJK", "wang")  # the handler is also the head
    item_id = office.item(lead_leader="chen")
    assert office.service.notices(ADMIN, item_id)[0]["recipients"] == ["wang"]
    office.fire("wang", item_id, "sign")
    office.fire("zhao", item_id, "summon", reason="逾期")  # to the head, copied to the leader
    summoned = office.service.notices(ADMIN, item_id)[-1]
    assert (summoned["recipients"], summoned["cc"]) == (["wang"], ["chen"])


def test_a_broken_template_does_not_stop_the_work(tmp_path, settings, clock):
    folder = tmp_path / "templates"
    (folder / "kinds").mkdir(parents=True)
    broken = folder / "kinds" / "assignment.j2"
    broken.write_text('{% set label = "交办" %}{% set title = "交办" %}{{ item.no_such }}',
                      encoding="utf-8")
    tables = {"notices": {"templates_dir": str(folder), "outbox": str(tmp_path / "out")}}
    service = build_service(replace(settings, tables=tables), clock)
    service.init(ADMIN, "管理员")
    office = build_office(service, clock)
    item_id = office.item()
    assert service.item(ADMIN, item_id)["state"] == "assigned"  # the item exists all the same
    waiting = service.notices(ADMIN, item_id)[0]
    assert waiting["document"] is None and "kinds/assignment.j2" in waiting["last_error"]
    assert numbers_of(service) == []  # the failed rendering took no number
    broken.unlink()  # the admin removes the bad override; the packaged template applies
    fixed = build_service(replace(settings, tables=tables), clock)
    assert render_waiting(fixed) == 1
    assert fixed.notices(ADMIN, item_id)[0]["doc_number"] == "督办〔2026〕1号"
    assert deliver(fixed).sent == 1
    assert fixed.verify_audit(ADMIN).ok
    fixed.close()
    service.close()


def test_a_notice_written_before_notices_kept_their_item_is_rendered_from_the_item(
        tmp_path, settings, clock):
    """A notice left unrendered by a version of duban that did not keep the item with it
    (before migration 0011) is rendered from the item as it is now; one that kept it, from
    the item as its event left it."""
    folder = tmp_path / "templates"
    (folder / "kinds").mkdir(parents=True)
    broken = folder / "kinds" / "assignment.j2"
    broken.write_text("{{ item.no_such }}", encoding="utf-8")
    tables = {"notices": {"templates_dir": str(folder), "outbox": str(tmp_path / "out")}}
    service = build_service(replace(settings, tables=tables), clock)
    service.init(ADMIN, "管理员")
    office = build_office(service, clock)
    old, kept = office.item(title="旧版本留下的通知"), office.item(title="保存了事项的通知")
    with service.db.write() as conn:  # as a version before 0011 wrote it
        conn.execute(update(NOTICE).where(NOTICE.c.item_id == old).values(item_state=None))
    for item_id in (old, kept):
        service.edit_item("zhao", item_id, {"title": f"改过的标题{item_id}"})
    broken.unlink()
    fixed = build_service(replace(settings, tables=tables), clock)
    assert render_waiting(fixed) == 2
    assert f"改过的标题{old}" in fixed.notices(ADMIN, old)[0]["title"]
    assert "保存了事项的通知" in fixed.notices(ADMIN, kept)[0]["title"]
    fixed.close()
    service.close()
