"""Delivery over real channels on loopback: the outbox folder, SMTP, webhooks; retries,
dead letters, requeue, digests; a sender killed mid-batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from duban.engine.directory import NewPerson
from duban.notifiers.channels.smtp import message_id
from duban.notifiers.documents import requeue
from duban.notifiers.sender import deliver
from tests.conftest import ADMIN, local
from tests.notifiers.conftest import notifying

ROOT = Path(__file__).resolve().parents[2]
SQLITE_ONLY = pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)


def statuses(service, item_id):
    return [n["status"] for n in service.notices(ADMIN, item_id)]


def test_the_file_channel_writes_each_notice_once(office, tmp_path):
    item_id = office.item()
    office.fire("wang", item_id, "sign")
    office.fire("zhao", item_id, "warn", level="yellow", reason="进展偏慢")
    report = deliver(office.service)
    assert (report.sent, report.failed, report.dead) == (2, 0, 0)
    outbox = tmp_path / "outbox"
    assert sorted(p.name for p in outbox.iterdir()) == [
        f"event_{item_id}_created_assignment.html", f"event_{item_id}_created_assignment.txt",
        f"event_{item_id}_warn_3_warning.html", f"event_{item_id}_warn_3_warning.txt"]
    text = (outbox / f"event_{item_id}_warn_3_warning.txt").read_text(encoding="utf-8")
    assert text == office.service.notices(ADMIN, item_id)[1]["body_text"]
    assert "督办〔2026〕2号" in text and "黄色预警" in text
    html = (outbox / f"event_{item_id}_warn_3_warning.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    # a crash after writing, before recording: sent again, the file is not written twice
    (outbox / f"event_{item_id}_warn_3_warning.txt").write_text("原件", encoding="utf-8")
    requeue_all(office.service)
    assert deliver(office.service).sent == 2
    assert (outbox / f"event_{item_id}_warn_3_warning.txt").read_text(encoding="utf-8") == "原件"
    assert deliver(office.service).sent == 0  # nothing left to send
    assert statuses(office.service, item_id) == ["sent", "sent"]
    sent = [e for e in office.service.history(ADMIN, item_id) if e["event"] == "sent"]
    assert [e["payload"]["channel"] for e in sent] == ["file", "file", "file", "file"]
    assert office.service.verify_audit(ADMIN).ok


@SQLITE_ONLY
def test_mail_goes_to_each_person_with_a_message_id_from_its_key(
        settings, clock, tmp_path, mail_server):
    office = notifying(settings, clock, tmp_path,
                       notices={"channels": ["file", "smtp"], "attach_docx": True},
                       smtp={"host": "127.0.0.1", "port": mail_server.port,
                             "sender": "duban@jyj.example.cn"})
    service = office.service
    service.add_person(ADMIN, NewPerson("sun", "孙承办", "AQK", ("handler",),
                                        email="sun@aqk.example.cn"))
    item_id = office.item(unit="AQK", title="校车安全<检查>")
    report = deliver(service)
    assert (report.sent, report.dead) == (2, 0)  # the outbox, and sun (郑承办 has no address)
    [mail] = mail_server.messages
    notice = service.notices(ADMIN, item_id)[0]
    key = f"event:{item_id}:created:assignment#smtp:sun@aqk.example.cn"
    assert mail["Message-ID"] == message_id(key, "duban@jyj.example.cn")
    assert mail["To"] == "孙承办 <sun@aqk.example.cn>"
    assert mail["Subject"] == f"{notice['title']}（督办〔2026〕1号）"
    assert "校车安全<检查>" in mail.get_body(("plain",)).get_content()
    attachments = {part.get_filename(): part for part in mail.iter_attachments()}
    assert set(attachments) == {"01-督办〔2026〕1号.html", "01-督办〔2026〕1号.docx"}
    assert "校车安全&lt;检查&gt;" in attachments["01-督办〔2026〕1号.html"].get_content()


@SQLITE_ONLY
def test_a_refused_address_is_dead_at_once_and_can_be_requeued(
        settings, clock, tmp_path, mail_server):
    office = notifying(settings, clock, tmp_path, notices={"channels": ["smtp"]},
                       smtp={"host": "127.0.0.1", "port": mail_server.port,
                             "sender": "duban@jyj.example.cn"})
    service = office.service
    service.add_person(ADMIN, NewPerson("sun", "孙承办", "AQK", ("handler",),
                                        email="nobody@aqk.example.cn"))
    item_id = office.item(unit="AQK")
    mail_server.refuse = "550 5.1.1 mailbox unavailable"
    report = deliver(service)
    assert (report.sent, report.dead) == (0, 1)
    [dead] = service.notices(ADMIN, item_id)
    assert dead["status"] == "dead" and "550" in dead["last_error"]
    assert [e["event"] for e in service.history(ADMIN, item_id) if e["action"] == "notice"] == [
        "created", "dead"]
    mail_server.refuse = None
    requeue(service, "zhao", dead["id"])
    assert deliver(service).sent == 1 and len(mail_server.messages) == 1
    assert statuses(service, item_id) == ["sent"]


def robots_office(settings, clock, tmp_path, web_server):
    """Three units on webhooks: JSON, a WeCom robot and a DingTalk robot."""
    office = notifying(settings, clock, tmp_path, notices={"channels": ["webhook"]})
    office.service.set_unit_webhook(ADMIN, "JJK", web_server.url("/plain"))
    office.service.set_unit_webhook(ADMIN, "AQK", web_server.url("/wecom"), "wecom")
    office.service.set_unit_webhook(ADMIN, "SYZ", web_server.url("/ding"), "dingtalk")
    return office


@SQLITE_ONLY
def test_webhooks_speak_json_wecom_and_dingtalk(settings, clock, tmp_path, web_server):
    office = robots_office(settings, clock, tmp_path, web_server)
    service = office.service
    web_server.answers["/wecom"] = (200, {"errcode": 0, "errmsg": "ok"})
    for unit in ("JJK", "AQK", "SYZ"):
        office.item(unit=unit, title="排查")
    assert deliver(service).sent == 3
    by_path = {r["path"]: r for r in web_server.received}
    plain, wecom, ding = by_path["/plain"], by_path["/wecom"], by_path["/ding"]
    assert plain["headers"]["Idempotency-Key"] == "event:1:created:assignment#webhook:JJK"
    assert plain["body"]["doc_number"] == "督办〔2026〕1号"
    assert "关于交办“排查”的通知" in plain["body"]["text"]
    assert wecom["body"]["msgtype"] == "markdown"
    assert wecom["body"]["markdown"]["content"].startswith("### 关于交办“排查”的通知")
    assert ding["body"]["markdown"]["title"] == "关于交办“排查”的通知"


@SQLITE_ONLY
def test_user_text_reaches_robots_as_text_not_markdown(settings, clock, tmp_path, web_server):
    office = robots_office(settings, clock, tmp_path, web_server)
    service = office.service
    title = ("[点我](http://evil.example/x) ![图](https://evil.example/a.png) <b>**急**</b> "
             "www.evil.example")
    for unit in ("JJK", "AQK", "SYZ"):
        office.item(unit=unit, title=title)
    assert deliver(service).sent == 3
    by_path = {r["path"]: r["body"] for r in web_server.received}
    robots = by_path["/wecom"]["markdown"]["content"], by_path["/ding"]["markdown"]["text"]
    for markdown in robots:
        assert "［点我］（http：//evil.example/x）" in markdown
        for live in ("](", "![", "<b>", "**急", "http://", "https://", "www.evil"):
            assert live not in markdown, live
        assert markdown.startswith("### ")  # the layout's own markup stays markup
    assert title in by_path["/plain"]["text"]  # plain JSON carries the text as typed


@SQLITE_ONLY
def test_server_errors_are_retried_with_backoff_then_dead(settings, clock, tmp_path,
                                                         web_server):
    office = notifying(settings, clock, tmp_path,
                       notices={"channels": ["webhook"], "max_attempts": 3,
                                "backoff_seconds": 60})
    service = office.service
    service.set_unit_webhook(ADMIN, "JJK", web_server.url("/flaky"))
    web_server.answers["/flaky"] = (500, {})
    item_id = office.item()
    assert deliver(service).failed == 1
    [delivery] = service_deliveries(service, item_id)
    wait = delivery["next_attempt_at"] - clock.now()
    assert timedelta(seconds=30) <= wait <= timedelta(seconds=60)  # 60 s with jitter
    assert deliver(service).failed == 0  # not due yet: nothing is sent
    clock.advance(seconds=61)
    assert deliver(service).failed == 1
    [delivery] = service_deliveries(service, item_id)
    assert timedelta(seconds=60) <= delivery["next_attempt_at"] - clock.now() \
        <= timedelta(seconds=120)  # doubled
    clock.advance(seconds=121)
    assert deliver(service).dead == 1  # the third attempt was the last
    assert len(web_server.received) == 3
    assert {r["headers"]["Idempotency-Key"] for r in web_server.received} == {
        f"event:{item_id}:created:assignment#webhook:JJK"}
    dead = service.notice_list(ADMIN, status="dead")
    assert [n["id"] for n in dead] == [service.notices(ADMIN, item_id)[0]["id"]]
    assert "HTTP 500" in dead[0]["last_error"]
    web_server.answers["/flaky"] = (200, {})
    requeue(service, "zhao", dead[0]["id"])
    assert deliver(service).sent == 1
    assert [e["event"] for e in service.history(ADMIN, item_id) if e["action"] == "notice"] == [
        "created", "failed", "failed", "dead", "requeued", "sent"]


@SQLITE_ONLY
def test_a_client_error_is_permanent(settings, clock, tmp_path, web_server):
    office = notifying(settings, clock, tmp_path, notices={"channels": ["webhook"]})
    office.service.set_unit_webhook(ADMIN, "JJK", web_server.url("/gone"), "wecom")
    web_server.answers["/gone"] = (400, {})
    office.item()
    assert deliver(office.service).dead == 1 and len(web_server.received) == 1
    office.service.set_unit_webhook(ADMIN, "AQK", web_server.url("/robot"), "wecom")
    web_server.answers["/robot"] = (200, {"errcode": 93000, "errmsg": "invalid webhook url"})
    office.item(unit="AQK")
    assert deliver(office.service).dead == 1


@SQLITE_ONLY
def test_a_days_mail_to_one_person_is_one_digest(settings, clock, tmp_path, mail_server):
    office = notifying(settings, clock, tmp_path,
                       notices={"channels": ["smtp"], "digest_at": "16:30"},
                       smtp={"host": "127.0.0.1", "port": mail_server.port,
                             "sender": "duban@jyj.example.cn"})
    service = office.service
    service.add_person(ADMIN, NewPerson("sun", "孙承办", "AQK", ("handler",),
                                        email="sun@aqk.example.cn"))
    first, second = office.item(unit="AQK", title="甲"), office.item(unit="AQK", title="乙")
    assert deliver(service).sent == 0  # 09:00: held for the digest
    clock.set(local("2026-11-02 16:30"))
    assert deliver(service).sent == 2
    [mail] = mail_server.messages
    assert mail["Subject"] == "督办通知汇总（2026-11-02，共2件）"
    body = mail.get_body(("plain",)).get_content()
    assert "关于交办“甲”的通知" in body and "关于交办“乙”的通知" in body
    assert len(list(mail.iter_attachments())) == 2
    assert statuses(service, first) == statuses(service, second) == ["sent"]


def requeue_all(service):
    """As if the sender had died after sending and before recording: every delivery due."""
    from duban.engine.models import DELIVERY

    with service.db.write() as conn:
        conn.execute(DELIVERY.update().values(status="pending", attempts=0))


def service_deliveries(service, item_id):
    return service.notice(ADMIN, service.notices(ADMIN, item_id)[0]["id"])["deliveries"]


SENDER = """
import sys
from pathlib import Path
from duban.app import build_service
from duban.engine.clock import FixedClock
from duban.engine.settings import Settings
from duban.engine.timeutil import from_iso
from duban.notifiers import sender

settings = Settings(db_url=sys.argv[1], audit_key_path=Path(sys.argv[2]),
                    tables={"notices": {"outbox": sys.argv[3], "channels": ["file", "webhook"]}})
service = build_service(settings, FixedClock(from_iso(sys.argv[4])))
sender.deliver(service, batch_size=20)
"""


@SQLITE_ONLY
def test_a_sender_killed_mid_batch_loses_nothing_and_repeats_nothing(
        settings, clock, tmp_path, web_server):
    office = notifying(settings, clock, tmp_path,
                       notices={"channels": ["file", "webhook"], "lease_seconds": 300})
    office.service.set_unit_webhook(ADMIN, "JJK", web_server.url("/slow"))
    web_server.delays["/slow"] = 0.05
    total = 60
    for n in range(total):
        office.item(title=f"事项{n}")
    outbox = tmp_path / "outbox"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", SENDER, settings.db_url, str(settings.audit_key_path),
            str(outbox), clock.now().isoformat()]
    process = subprocess.Popen(args, env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while len(web_server.received) < 25 and time.monotonic() < deadline \
            and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert 25 <= len(web_server.received) < total, "killed too late to test anything"
    # A restart within the lease leaves the claimed batch alone; after it, sends the rest.
    later = clock.now() + timedelta(seconds=301)
    args[-1] = later.isoformat()
    subprocess.run(args, env=env, cwd=ROOT, check=True, timeout=120)
    clock.set(later)
    assert statuses(office.service, 1) == ["sent"]
    assert all(statuses(office.service, i) == ["sent"] for i in range(1, total + 1))
    keys = [r["headers"]["Idempotency-Key"] for r in web_server.received]
    assert set(keys) == {f"event:{i}:created:assignment#webhook:JJK" for i in range(1, total + 1)}
    assert len(keys) - len(set(keys)) <= 1  # only the POST in flight, under the same key
    assert len(list(outbox.iterdir())) == 2 * total  # text and HTML per notice, no leftovers
    for item_id in range(1, total + 1):  # each delivery recorded as sent exactly once
        sent = [e["payload"]["channel"] for e in office.service.history(ADMIN, item_id)
                if e["action"] == "notice" and e["event"] == "sent"]
        assert sorted(sent) == ["file", "webhook"], item_id
    assert office.service.verify_audit(ADMIN).ok


MAIL_SENDER = """
import sys
from pathlib import Path
from duban.app import build_service
from duban.engine.clock import FixedClock
from duban.engine.settings import Settings
from duban.engine.timeutil import from_iso
from duban.notifiers import sender

settings = Settings(db_url=sys.argv[1], audit_key_path=Path(sys.argv[2]), tables={
    "notices": {"outbox": sys.argv[3], "channels": ["smtp"]},
    "smtp": {"host": "127.0.0.1", "port": int(sys.argv[5]), "sender": "duban@jyj.example.cn"}})
service = build_service(settings, FixedClock(from_iso(sys.argv[4])))
print(sender.deliver(service, batch_size=50).repeats_possible)
"""


@SQLITE_ONLY
def test_a_mail_sender_killed_mid_batch_repeats_at_most_the_mail_in_flight(
        settings, clock, tmp_path, slow_mail_server):
    office = notifying(settings, clock, tmp_path, notices={"channels": ["smtp"],
                                                           "lease_seconds": 300},
                       smtp={"host": "127.0.0.1", "port": slow_mail_server.port,
                             "sender": "duban@jyj.example.cn"})
    office.service.add_person(ADMIN, NewPerson("sun", "孙承办", "AQK", ("handler",),
                                               email="sun@aqk.example.cn"))
    total = 60
    for n in range(total):
        office.item(unit="AQK", title=f"事项{n}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", MAIL_SENDER, settings.db_url, str(settings.audit_key_path),
            str(tmp_path / "outbox"), clock.now().isoformat(), str(slow_mail_server.port)]
    process = subprocess.Popen(args, env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while len(slow_mail_server.messages) < 25 and time.monotonic() < deadline \
            and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    accepted_before_kill = len(slow_mail_server.messages)
    assert 25 <= accepted_before_kill < total, "killed too late to test anything"
    args[6] = (clock.now() + timedelta(seconds=301)).isoformat()  # after the lease
    rerun = subprocess.run(args, env=env, cwd=ROOT, check=True, timeout=120,
                           capture_output=True, text=True)
    ids = [mail["Message-ID"] for mail in slow_mail_server.messages]
    expected = {message_id(f"event:{i}:created:assignment#smtp:sun@aqk.example.cn",
                           "duban@jyj.example.cn") for i in range(1, total + 1)}
    assert set(ids) == expected  # nothing lost
    repeated = len(ids) - len(set(ids))
    assert repeated <= 1, f"{repeated} mails arrived twice"  # only the one being sent
    assert int(rerun.stdout.strip()) == 1  # the one that may have arrived is said so
    sent = [e for i in range(1, total + 1) for e in office.service.history(ADMIN, i)
            if e["action"] == "notice" and e["event"] == "sent"]
    assert len(sent) == total  # each recorded as sent exactly once
    flagged = [e for e in sent if e["payload"].get("after_interrupted_attempt")]
    assert len(flagged) == 1 and flagged[0]["payload"]["attempt"] == 2
    assert office.service.verify_audit(ADMIN).ok


@SQLITE_ONLY
def test_a_sender_whose_lease_ran_out_leaves_the_rest_to_the_one_that_took_it(
        settings, clock, tmp_path, web_server):
    from duban.notifiers import deliveries
    from duban.notifiers.outbox import outbox_of
    from duban.notifiers.sender import Channels, Run, SendReport, _units

    office = notifying(settings, clock, tmp_path,
                       notices={"channels": ["webhook"], "lease_seconds": 60})
    service = office.service
    service.set_unit_webhook(ADMIN, "JJK", web_server.url("/jjk"))
    for n in range(3):
        office.item(title=f"事项{n}")
    config = outbox_of(service).config
    with service.system_transaction() as txn:
        slow = deliveries.claim_due_deliveries(txn, 10, 60)  # a sender that then stalls
    clock.set(clock.now() + timedelta(seconds=61))
    assert deliver(service).sent == 3  # another sender takes them after the lease
    opened = Channels(outbox_of(service))
    try:  # the stalled sender wakes up: nothing of its batch is its own any more
        Run(service, opened, config, SendReport(), True).one_by_one(_units(slow, config))
    finally:
        opened.close()
    assert len(web_server.received) == 3
