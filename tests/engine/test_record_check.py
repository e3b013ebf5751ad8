"""Timers, deliveries, notices and numbering held against their events by `audit rebuild`:
a row changed around the engine no longer matches."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from duban.engine.models import DELIVERY, DOC_SEQUENCE, NOTICE, TIMER
from duban.notifiers.sender import deliver
from tests.conftest import ADMIN, local


@pytest.fixture
def lived(office):
    """Items whose ladder has partly fired, notices numbered and partly delivered."""
    first, second = office.item(), office.item(unit="AQK")
    office.fire("wang", first, "sign")
    office.fire("zheng", second, "sign")
    office.clock.set(local("2026-11-09 10:00"))
    office.service.tick()
    deliver(office.service)
    office.fire("zhao", first, "warn", level="yellow", reason="进展偏慢")  # not delivered yet
    assert office.service.check_rebuild(ADMIN).ok
    return office


def change(office, statement) -> None:
    with office.service.db.engine.begin() as conn:
        conn.execute(statement)


def mismatches(office) -> list[str]:
    report = office.service.check_rebuild(ADMIN)
    assert not report.ok
    return report.mismatches


def test_a_pending_step_marked_fired_by_hand_is_found(lived):
    with lived.service.db.engine.connect() as conn:
        step_id, item_id, step = conn.execute(select(TIMER.c.id, TIMER.c.item_id, TIMER.c.step)
                                              .where(TIMER.c.status == "pending")).first()
    change(lived, update(TIMER).where(TIMER.c.id == step_id).values(status="fired"))
    assert mismatches(lived) == [f"事项 {item_id} 的步骤 {step}: 库中 1 个 fired, 审计记录 0 个"]


def test_a_delivery_marked_sent_by_hand_is_found(lived):
    with lived.service.db.engine.connect() as conn:
        delivery_id = conn.execute(select(DELIVERY.c.id)
                                   .where(DELIVERY.c.status == "pending")).scalar()
    change(lived, update(DELIVERY).where(DELIVERY.c.id == delivery_id).values(status="sent"))
    assert mismatches(lived) == [f"送达 {delivery_id} 标为已送达, 但审计记录中没有送达事件"]


def test_a_notice_text_edited_by_hand_is_found(lived):
    change(lived, update(NOTICE).where(NOTICE.c.id == 1).values(body_text="改过的正文"))
    assert mismatches(lived) == ["通知 1 的正文与生成时记录的哈希不符"]
    change(lived, update(NOTICE).where(NOTICE.c.id == 2).values(doc_number="督办〔2026〕99号"))
    assert "通知 2 的文号 督办〔2026〕99号 与生成记录 督办〔2026〕2号 不符" in mismatches(lived)


def test_a_numbering_series_rewound_by_hand_is_found(lived):
    change(lived, update(DOC_SEQUENCE).values(last=1))
    [found] = mismatches(lived)
    assert found.startswith("文号 督办〔2026〕 的序号记为 1, 但已发出") and "会重复" in found
