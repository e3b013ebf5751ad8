"""阳光督办 and 双随机一公开 through the service, on SQLite and PostgreSQL: the built site holds
nothing internal, and a draw is the published procedure, reproducible from its seed."""

from __future__ import annotations

import hashlib
import io
import json

import pytest

from duban.engine.directory import NewPerson
from duban.engine.draws import DrawSpec, rank
from duban.engine.errors import InvalidInput, Refused
from duban.notifiers.board_site import write_site
from tests.conftest import ADMIN, item_events

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(100))
SECRET_PDF = b"%PDF-1.4\n%internal minutes\n%%EOF\n"


def inspectors(office) -> None:
    for login, name, unit in (("sun", "孙督查员", None), ("qin", "秦督查员", "JJK"),
                              ("he", "何督查员", "SYZ"), ("lu", "陆督查员", None)):
        office.service.add_person(ADMIN, NewPerson(login, name, unit, ("inspector",)))


def spec(**changes) -> DrawSpec:
    values = dict(campaign="2026年冬季校园安全专项检查", seed="2026-12-01 福彩 3D 081",
                  units=3, inspectors=2)
    values.update(changes)
    return DrawSpec(**values)


def test_a_draw_follows_the_published_procedure_and_is_recorded(office):
    inspectors(office)
    svc = office.service
    done = svc.draw("zhao", spec(unit_pool=("JJK", "AQK", "SYZ", "DCS")))
    by_hand = rank(done["seed"], done["campaign"], "unit", ["AQK", "DCS", "JJK", "SYZ"])[:3]
    assert [r["unit"] for r in done["result"]] == by_hand
    assert by_hand == [u for _, u in sorted(
        (hashlib.sha256(f"{done['seed']}|{done['campaign']}|unit|{u}".encode()).hexdigest(), u)
        for u in ("AQK", "DCS", "JJK", "SYZ"))][:3]
    for row in done["result"]:
        assert len(row["inspectors"]) == 2
        units_of = {"sun": None, "qin": "JJK", "he": "SYZ", "lu": None}
        assert all(units_of[login] != row["unit"] for login in row["inspectors"])  # 回避
    [event] = svc.draws("wang")  # public: any signed-in person may read it
    assert event["result"] == done["result"] and event["seed"] == done["seed"]
    with pytest.raises(Refused, match="已经抽取过"):
        svc.draw("zhao", spec(unit_pool=("JJK", "AQK")))
    with pytest.raises(Refused, match="只有督查员可以"):
        svc.draw("wang", spec(campaign="另一次"))


def test_the_same_seed_gives_the_same_draw_and_another_seed_another(office):
    inspectors(office)
    svc = office.service
    pool = ("JYJ", "DCS", "JJK", "AQK", "SYZ")
    first = svc.draw("zhao", spec(campaign="甲", units=2, inspectors=1, unit_pool=pool))
    # anyone re-running the procedure with the published seed gets the recorded result
    assert [r["unit"] for r in first["result"]] == rank(first["seed"], "甲", "unit",
                                                        sorted(pool))[:2]
    seeds = {f"种子{n}": tuple(rank(f"种子{n}", "甲", "unit", sorted(pool))[:2])
             for n in range(20)}
    assert len(set(seeds.values())) > 1  # other seeds, other draws
    assert rank("种子0", "甲", "unit", list(pool)) == rank("种子0", "甲", "unit",
                                                           list(reversed(pool)))


def test_a_draw_refuses_what_it_cannot_do(office):
    inspectors(office)
    svc = office.service
    with pytest.raises(InvalidInput, match="只有 2 个, 不能抽取 3 个"):
        svc.draw("zhao", spec(unit_pool=("JJK", "SYZ")))
    with pytest.raises(InvalidInput, match="没有单位 XYZ"):
        svc.draw("zhao", spec(unit_pool=("XYZ",)))
    with pytest.raises(InvalidInput, match="本单位人员回避"):
        svc.draw("zhao", spec(units=1, inspectors=1, unit_pool=("JJK",), inspector_pool=("qin",)))
    assert svc.draws("zhao") == []


def public_office(office):
    """A public item with a public note and a public photo, an internal side to it, and an
    item that is not public at all."""
    svc = office.service
    shown = office.item(title="<script>alert(1)</script>校舍维修", public=True)
    hidden = office.item(title="不公开的约谈事项")
    for item in (shown, hidden):
        office.fire("wang", item, "sign")
    svc.fire("wang", shown, "progress", {"note": "王承办的内部说明"},
             attachments=[("现场.png", io.BytesIO(PNG)), ("纪要.pdf", io.BytesIO(SECRET_PDF))])
    photo, minutes = svc.evidence_of("zhao", shown)
    svc.publish_evidence("zhao", photo["id"])
    svc.publish_note("zhao", shown, "已完成 12 所学校校舍维修")
    office.fire("zhao", shown, "summon", reason="进度滞后约谈负责人",
                at="2026-11-05 09:00", place="局三楼会议室")
    svc.fire("wang", hidden, "progress", {"note": "x"},
             attachments=[("不公开.pdf", io.BytesIO(b"%PDF-1.4\n%other\n"))])
    return shown, hidden, photo, minutes


def test_the_board_shows_only_what_is_public(office, tmp_path):
    svc = office.service
    shown, hidden, photo, minutes = public_office(office)
    board = svc.board("zhao")
    assert [item.id for item in board.items] == [shown]
    counts = write_site(tmp_path / "site", board, office="市教育局督查室", tz=svc.tz,
                        open_file=svc.evidence_store.open)
    assert counts == {"items": 1, "files": 1, "draws": 0}
    site = tmp_path / "site"
    text = "\n".join(p.read_text(encoding="utf-8") for p in site.rglob("*")
                     if p.suffix in (".html", ".json"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;校舍维修" in text
    assert "<script>" not in text
    assert "已完成 12 所学校校舍维修" in text
    people = svc.people(ADMIN)
    for person in people:  # no login, no name of a person
        assert f'"{person["login"]}"' not in text and person["name"] not in text, person
    for secret in ("不公开的约谈事项", "王承办的内部说明", "进度滞后约谈负责人", "约谈", "问责",
                   "局三楼会议室", "纪要.pdf", minutes["sha256"], "不公开.pdf"):
        assert secret not in text, secret
    files = sorted(p.name for p in (site / "files").iterdir())
    assert files == [f"{photo['sha256']}.png"]
    assert (site / "files" / files[0]).read_bytes() == PNG
    feed = json.loads((site / "feed.json").read_text(encoding="utf-8"))
    assert [i["notes"][0]["note"] for i in feed["items"]] == ["已完成 12 所学校校舍维修"]
    assert feed["generation"] == board.generation


def test_a_draw_appears_on_the_board_without_the_inspectors_names(office, tmp_path):
    inspectors(office)
    svc = office.service
    done = svc.draw("zhao", spec(units=2, inspectors=1, unit_pool=("JJK", "AQK", "SYZ")))
    write_site(tmp_path / "site", svc.board(), office="督查室", tz=svc.tz,
               open_file=svc.evidence_store.open)
    page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert done["seed"] in page and done["campaign"] in page
    for row in done["result"]:
        assert row["unit_name"] in page
        assert not any(name in page for name in row["inspector_names"])


def test_publishing_is_the_offices_and_only_for_public_items(office):
    svc = office.service
    shown, hidden, photo, minutes = public_office(office)
    with pytest.raises(Refused, match="只有督查员或管理员可以"):
        svc.publish_note("wang", shown, "x")
    with pytest.raises(Refused, match="未设为公开"):
        svc.publish_note("zhao", hidden, "x")
    with pytest.raises(Refused, match="已公开"):
        svc.publish_evidence("zhao", photo["id"])
    with pytest.raises(Refused, match="只有督查员或管理员可以"):
        svc.board("wang")
    actions = [e["action"] for e in item_events(svc, shown)]
    assert actions.count("board_note") == 1 and actions.count("evidence_published") == 1


def test_a_rebuild_replaces_the_site_and_refuses_a_foreign_folder(office, tmp_path):
    svc = office.service
    public_office(office)
    site = tmp_path / "site"
    write_site(site, svc.board(), office="督查室", tz=svc.tz, open_file=svc.evidence_store.open)
    (site / "stale.html").write_text("old")
    write_site(site, svc.board(), office="督查室", tz=svc.tz, open_file=svc.evidence_store.open)
    assert not (site / "stale.html").exists() and (site / "index.html").exists()
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    from duban.engine.errors import SetupError

    with pytest.raises(SetupError, match="不是先前生成的公开页面目录"):
        write_site(foreign, svc.board(), office="督查室", tz=svc.tz,
                   open_file=svc.evidence_store.open)
    assert (foreign / "notes.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_the_daemon_rebuilds_the_board_only_when_what_it_shows_changes(office, tmp_path):
    from duban.app.daemon import refresh_board

    svc = office.service
    shown, *_ = public_office(office)
    site = tmp_path / "board"
    first = refresh_board(svc, site, None)
    built = (site / "index.html").stat().st_mtime_ns
    office.fire("wang", shown, "progress", note="内部进展, 不公开")  # changes nothing shown
    assert refresh_board(svc, site, first) == first
    assert (site / "index.html").stat().st_mtime_ns == built
    svc.publish_note("zhao", shown, "第二批学校完成维修")
    second = refresh_board(svc, site, first)
    assert second != first
    assert "第二批学校完成维修" in (site / "items" / f"{shown}.html").read_text(encoding="utf-8")
