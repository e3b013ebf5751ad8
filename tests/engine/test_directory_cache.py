"""The directory a process keeps between transactions: current the moment anyone, in any
process, changes a unit or a person, and never holding a change that was rolled back."""

from __future__ import annotations

import pytest
from sqlalchemy import text, update

from duban.app import build_service
from duban.engine.directory_cache import GENERATION
from duban.engine.errors import IntegrityFailure, NotFound
from duban.engine.models import PERSON
from tests.conftest import ADMIN


def generation(service) -> int:
    with service.db.read() as conn:
        return conn.execute(GENERATION).scalar_one()


def test_reads_share_one_directory_until_it_changes(office):
    service = office.service
    item = office.item()
    service.item_view("wang", item)
    with service.reading("wang") as txn:
        first = txn.directory
    with service.reading("wang") as txn:
        assert txn.directory is first
    service.edit_unit(ADMIN, "JJK", {"name": "基础教育科(改)"})
    with service.reading("wang") as txn:
        assert txn.directory is not first
        assert txn.directory.units["JJK"]["name"] == "基础教育科(改)"


def test_a_change_by_another_process_is_seen_at_once(office, settings, clock):
    service = office.service
    item = office.item()
    assert service.item_view("wang", item).item["id"] == item  # the cache now holds wang
    elsewhere = build_service(settings, clock)  # e.g. the CLI, beside a running server
    try:
        elsewhere.edit_person(ADMIN, "wang", {"unit_code": "AQK"})
        with pytest.raises(NotFound):
            service.item_view("wang", item)
        elsewhere.edit_person(ADMIN, "wang", {"unit_code": "JJK"})
        assert service.item_view("wang", item).item["id"] == item
    finally:
        elsewhere.close()


def test_a_change_made_by_plain_sql_bumps_the_generation(office):
    """The triggers, not the engine's own calls, keep the count: nothing can bypass them."""
    service = office.service
    before = generation(service)
    with service.db.write() as conn:
        conn.execute(update(PERSON).where(PERSON.c.login == "lin").values(phone="12345"))
        conn.execute(text("UPDATE unit SET name = '市第一中学(新)' WHERE code = 'SYZ'"))
    after = generation(service)
    assert after >= before + 2
    with pytest.raises(IntegrityFailure, match="签名不符"):  # seen at once, and not trusted
        service.item_view("lin", 1)
    assert service.reseal("root") == {"directory": True, "tokens": [], "accounts": []}
    with service.reading("lin") as txn:
        assert txn.directory.people["lin"]["phone"] == "12345"
        assert txn.directory.units["SYZ"]["name"] == "市第一中学(新)"


def test_a_rolled_back_change_leaves_nothing_behind(office):
    service = office.service
    item = office.item()
    before = generation(service)
    with pytest.raises(RuntimeError), service.transaction(ADMIN) as txn:
        txn.conn.execute(update(PERSON).where(PERSON.c.login == "wang").values(unit_code="AQK"))
        txn.directory_changed()
        assert txn.directory.people["wang"]["unit_code"] == "AQK"  # its own change, unkept
        raise RuntimeError("abandoned")
    assert generation(service) == before
    assert service.item_view("wang", item).item["id"] == item
    with service.reading("wang") as txn:
        assert txn.directory.people["wang"]["unit_code"] == "JJK"


def test_the_kept_directory_cannot_be_changed_by_a_reader(office):
    with office.service.reading("wang") as txn:
        with pytest.raises(TypeError):
            txn.directory.people["wang"]["unit_code"] = "AQK"  # type: ignore[index]
        with pytest.raises(TypeError):
            txn.directory.units["NEW"] = {}  # type: ignore[index]


def test_a_write_shares_what_it_read_before_changing_anything(office):
    """Identification reads the directory first, before the transaction writes anything: it
    is committed state, kept at once even if the transaction then rolls back. What a
    transaction reads after its own changes is never kept (the test above)."""
    service = office.service
    service.edit_unit(ADMIN, "SYZ", {"name": "市第一中学"})  # nothing kept for the new generation
    with pytest.raises(RuntimeError), service.transaction(ADMIN) as txn:
        first = txn.directory
        raise RuntimeError("abandoned")
    with service.reading("wang") as txn:
        assert txn.directory is first
