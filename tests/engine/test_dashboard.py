"""领导驾驶舱 through the service, on SQLite and PostgreSQL: its counts are the ledger's, its
rates the period figures', and a lead leader sees their own portfolio."""

from __future__ import annotations

from datetime import timedelta

from duban.engine.directory import NewPerson
from duban.engine.figures import period_figures, totals
from duban.engine.items import NewItem
from duban.engine.ledger import LedgerFilter
from duban.engine.periods import parse_period
from tests.conftest import ADMIN, local


def busy_office(office) -> dict[str, int]:
    """Items due from today to next month, one warned red, one closed, one instruction
    led by 李副局长 (who heads no unit: his portfolio is what he leads), one hotline order."""
    svc = office.service
    made = {}
    for n, deadline in enumerate(("2026-11-02 18:00", "2026-11-03 18:00", "2026-11-04 18:00",
                                  "2026-11-05 18:00", "2026-11-06 18:00", "2026-11-09 18:00",
                                  "2026-11-20 18:00", "2026-12-20 18:00")):
        made[f"d{n}"] = office.item(deadline=deadline, title=f"事项{n}")
    svc.add_person(ADMIN, NewPerson("li", "李副局长", "JYJ", ("lead_leader",)))
    made["led"] = svc.new_item("zhao", NewItem(
        title="落实局长批示", lead_unit="AQK", deadline=local("2026-11-05 18:00"),
        source="instruction", lead_leader="li"))["id"]
    made["hotline"] = svc.new_item("zhao", NewItem(
        title="12345 工单", lead_unit="JJK", deadline="5个工作日", workflow="hotline",
        source="hotline"))["id"]
    made["problem"] = office.item(deadline="2026-11-10 18:00", title="巡视问题",
                                  workflow="inspection", source="inspection",
                                  attrs={"category": "选人用人", "term": "immediate"})
    office.fire("zhao", made["d6"], "warn", level="red", reason="进度滞后")
    office.fire("wang", made["d5"], "decline", reason="非本单位职责")
    office.fire("wang", made["d7"], "sign")
    office.fire("wang", made["d7"], "report", report="已完成")
    office.fire("zhao", made["d7"], "verify")
    office.fire("zhao", made["d7"], "close")
    return made


def test_the_live_counts_are_the_ledgers(office):
    svc = office.service
    busy_office(office)
    for days in (0, 2, 5):  # the colours move as the days pass
        office.clock.set(office.clock.now() + timedelta(days=days))
        view = svc.dashboard("zhao", parse_period("2026-11"))
        rows, _ = svc.ledger_page("zhao", LedgerFilter(open_only=True), limit=None)
        expected = {"red": 0, "yellow": 0, "green": 0}
        for row in rows:
            expected[row["colour"]] += 1
        assert view.by_colour == expected, days
        assert sum(n for _, n in view.by_source) == len(rows)
        assert sum(n for _, n in view.by_state) == len(rows)
        red = sorted(row["id"] for row in rows if row["colour"] == "red")
        assert sorted(row["id"] for row in view.wall) == red


def test_the_rates_are_the_period_figures(office):
    svc = office.service
    busy_office(office)
    office.clock.set(local("2026-12-01 09:00"))
    period = parse_period("2026-11")
    view = svc.dashboard("zhao", period)
    figures = svc.period_figures("zhao", period)
    assert [(f.key, f.name, f.items, f.on_time, f.overdue, f.assigned, f.events)
            for f, _ in view.units] == [
        (f.key, f.name, f.items, f.on_time, f.overdue, f.assigned, f.events) for f in figures]
    assert sum(f.count("decline") for f, _ in view.units) == 1
    with svc.db.read() as conn:  # the hotline's, as the figures of that source alone
        alone = totals(period_figures(conn, svc.registry, period, now=office.clock.now(),
                                      tz=svc.tz, source="hotline"))
    assert (view.hotline.items, view.hotline.assigned, view.hotline.on_time,
            view.hotline.events) == (alone.items, alone.assigned, alone.on_time, alone.events)
    month = dict(view.months)["2026年11月"]
    assert (month.items, month.on_time, month.instructions) == (
        totals(figures).items, totals(figures).on_time, totals(figures).instructions)
    for (label, trend), code in zip(view.months, ("2026-06", "2026-07", "2026-08", "2026-09",
                                                  "2026-10", "2026-11"), strict=True):
        each = totals(svc.period_figures("zhao", parse_period(code)))
        assert (trend.items, trend.done, trend.on_time, trend.overdue, trend.instructions,
                trend.instructions_on_time) == (each.items, each.done, each.on_time,
                                                each.overdue, each.instructions,
                                                each.instructions_on_time), label
    assert [(f.name, f.items) for f in view.by_category] == [("选人用人", 1)]
    assert [(f.key, f.name, f.items, f.overdue) for f in view.by_term] == [
        ("immediate", "立行立改", 1, 1)]
    assert [label for label, _ in view.months] == [
        "2026年6月", "2026年7月", "2026年8月", "2026年9月", "2026年10月", "2026年11月"]
    assert (view.hotline.assigned, view.hotline.items) == (1, 1)


def test_a_lead_leader_sees_their_own_portfolio(office):
    svc = office.service
    made = busy_office(office)
    view = svc.dashboard("li", parse_period("2026-11"))
    assert view.portfolio
    everything = svc.dashboard("zhao", parse_period("2026-11"))
    assert not everything.portfolio
    mine = sum(view.by_colour.values())
    assert 0 < mine < sum(everything.by_colour.values())
    rows, _ = svc.ledger_page("li", LedgerFilter(open_only=True), limit=None)
    assert mine == len(rows) and made["led"] in {row["id"] for row in rows}
