"""Rows written around the validation (raw SQL, an old version, a restored backup): an address
or a URL no server may be given is a dead delivery with its reason, never a crash, and holds
up no other unit's notices or timers."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update

from duban.engine.directory import NewPerson
from duban.engine.models import DELIVERY
from duban.notifiers.sender import deliver
from tests.conftest import ADMIN, local
from tests.notifiers.conftest import notifying

SQLITE_ONLY = pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
POISONED = ("a@example.cn\u2028Bcc: v@example.org", '"伪装" <x@example.org>',
            "a@b.cn, victim@example.org", "a@b.cn\r\nBcc: v@example.org", "x" * 600)


def mail_office(settings, clock, tmp_path, mail_server, channels=("file", "smtp"),
                second_address=True):
    """An office that mails 孙承办 of AQK and (``second_address``) 钱承办 of JJK."""
    office = notifying(settings, clock, tmp_path, notices={"channels": list(channels)},
                       smtp={"host": "127.0.0.1", "port": mail_server.port,
                             "sender": "duban@jyj.example.cn"})
    service = office.service
    service.add_person(ADMIN, NewPerson("sun", "孙承办", "AQK", ("handler",),
                                        email="sun@aqk.example.cn"))
    if second_address:
        service.add_person(ADMIN, NewPerson("qian", "钱承办", "JJK", ("handler",),
                                            email="qian@jjk.example.cn"))
    return office


def poison(service, login: str, address: str) -> None:
    """An address written around the validation, and accepted by the key holder (a restored
    backup, an older version): the directory's seal alone would refuse it."""
    with service.db.engine.begin() as conn:
        conn.execute(text("UPDATE person SET email = :email WHERE login = :login"),
                     {"email": address, "login": login})
    assert service.reseal("root")["directory"]


def deliveries_of(service, item_id: int) -> dict[str, tuple[str, str | None]]:
    notice_ids = [n["id"] for n in service.notices(ADMIN, item_id)]
    with service.db.engine.connect() as conn:
        rows = conn.execute(select(DELIVERY).where(DELIVERY.c.notice_id.in_(notice_ids)))
        return {row.key: (row.status, row.last_error) for row in rows}


def no_smuggled_recipient(mail_server) -> None:
    for mail in mail_server.messages:
        assert mail["Bcc"] is None and mail["Cc"] is None
        assert "victim" not in str(mail["To"]) and "v@example.org" not in str(mail["To"])


@SQLITE_ONLY
@pytest.mark.parametrize("address", POISONED, ids=range(len(POISONED)))
def test_a_poisoned_address_is_a_dead_delivery_and_the_others_go_out(
        settings, clock, tmp_path, mail_server, address):
    office = mail_office(settings, clock, tmp_path, mail_server)
    service = office.service
    poison(service, "sun", address)
    poisoned_item = office.item(unit="AQK")  # was an internal error
    other_item = office.item(unit="JJK")
    report = deliver(service)
    assert (report.sent, report.failed) == (3, 0)  # two outbox files and qian's mail
    found = deliveries_of(service, poisoned_item)
    [(bad_key, (status, error))] = [(k, v) for k, v in found.items() if "#smtp" in k]
    assert status == "dead" and error.startswith("收件地址无效, 未发送")
    assert "\u2028" not in bad_key and "\r" not in bad_key and len(bad_key) <= 240
    [notice] = service.notices(ADMIN, poisoned_item)
    assert notice["status"] == "dead"
    assert [n["status"] for n in service.notices(ADMIN, other_item)] == ["sent"]
    assert [str(m["To"]) for m in mail_server.messages] == ["钱承办 <qian@jjk.example.cn>"]
    no_smuggled_recipient(mail_server)
    dead = [e for e in service.history(ADMIN, poisoned_item) if e["event"] == "dead"]
    assert dead and dead[0]["reason"].startswith("收件地址无效")
    assert service.verify_audit(ADMIN).ok


@SQLITE_ONLY
def test_a_poisoned_address_holds_up_no_timer_of_another_unit(
        settings, clock, tmp_path, mail_server):
    office = mail_office(settings, clock, tmp_path, mail_server)
    service = office.service
    aqk, jjk = office.item(unit="AQK"), office.item(unit="JJK")
    office.fire("sun", aqk, "sign")
    office.fire("qian", jjk, "sign")
    poison(service, "sun", POISONED[0])
    clock.set(local("2026-11-23 10:00"))
    steps = service.tick().steps
    outcomes = {(s["item_id"], s["status"].value) for s in steps}
    assert {(aqk, "fired"), (jjk, "fired")} <= outcomes and "failed" not in str(outcomes)
    deliver(service)
    timer_mail = [k for k, (status, _) in deliveries_of(service, jjk).items()
                  if k.startswith("timer:") and "#smtp" in k and status == "sent"]
    assert timer_mail, "the other unit's timer notices were not mailed"
    poisoned = {k: v for k, v in deliveries_of(service, aqk).items()
                if k.startswith("timer:") and "#smtp" in k}
    assert poisoned and {status for status, _ in poisoned.values()} == {"dead"}
    no_smuggled_recipient(mail_server)
    assert service.verify_audit(ADMIN).ok and service.check_rebuild(ADMIN).ok


@SQLITE_ONLY
def test_a_poisoned_delivery_row_is_refused_by_its_channel(
        settings, clock, tmp_path, mail_server, web_server):
    office = mail_office(settings, clock, tmp_path, mail_server, ("smtp", "webhook"),
                         second_address=False)
    service = office.service
    service.set_unit_webhook(ADMIN, "AQK", web_server.url("/aqk"))
    service.set_unit_webhook(ADMIN, "JJK", web_server.url("/jjk"))
    office.item(unit="AQK")
    office.item(unit="JJK")
    with service.db.engine.begin() as conn:
        conn.execute(update(DELIVERY).where(DELIVERY.c.channel == "smtp").values(
            target="孙承办 <sun@aqk.example.cn>\r\nBcc: v@example.org"))
        conn.execute(update(DELIVERY).where(DELIVERY.c.target.like("%/aqk")).values(
            target="file:///etc/passwd"))
    report = deliver(service)
    assert (report.sent, report.dead) == (1, 2)
    assert [r["path"] for r in web_server.received] == ["/jjk"]
    assert mail_server.messages == []
    errors = sorted(o["detail"] for o in report.outcomes if o["status"] == "dead")
    assert errors[0].startswith("Webhook 地址无效") and errors[1].startswith("收件地址无效")


@SQLITE_ONLY
def test_deliveries_for_a_channel_no_longer_configured_are_dead_not_a_stuck_sender(
        settings, clock, tmp_path, mail_server):
    from dataclasses import replace

    from duban.app import build_service

    office = mail_office(settings, clock, tmp_path, mail_server)
    item_id = office.item(unit="JJK")
    without_mail = build_service(replace(settings, tables={"notices": {
        "outbox": str(tmp_path / "outbox"), "channels": ["file"]}}), clock)
    try:
        report = deliver(without_mail)  # the [smtp] table is gone from this sender's settings
    finally:
        without_mail.close()
    assert (report.sent, report.dead) == (1, 1)
    [(status, error)] = [v for k, v in deliveries_of(office.service, item_id).items()
                         if "#smtp" in k]
    assert status == "dead" and "未设置邮件服务器" in error
