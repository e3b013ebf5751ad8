"""Mail over STARTTLS and over SSL, the server's certificate checked against the office's CA."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import replace

import pytest

from duban.app import build_service
from duban.engine.directory import NewPerson
from duban.engine.items import NewItem
from duban.notifiers.sender import deliver
from tests.conftest import ADMIN
from tests.notifiers.conftest import MailBox, free_port, notifying

pytestmark = pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def server_context(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_mail_over_tls(settings, clock, tmp_path, certificate, security):
    from aiosmtpd.controller import Controller

    box = MailBox()
    port = free_port()
    if security == "ssl":
        controller = Controller(box, hostname="127.0.0.1", port=port,
                                ssl_context=server_context(certificate))
    else:
        controller = Controller(box, hostname="127.0.0.1", port=port, require_starttls=True,
                                tls_context=server_context(certificate))
    controller.start()
    try:
        office = notifying(settings, clock, tmp_path, notices={"channels": ["smtp"]},
                           smtp={"host": "127.0.0.1", "port": port, "security": security,
                                 "sender": "duban@jyj.example.cn", "cafile": str(certificate[0])})
        office.service.add_person(ADMIN, NewPerson("sun", "孙承办", "AQK", ("handler",),
                                                   email="sun@aqk.example.cn"))
        office.item(unit="AQK", title="校车安全检查")
        assert deliver(office.service).sent == 1
        [mail] = box.messages
        assert "校车安全检查" in mail["Subject"]
        # Without the office's CA the certificate is not trusted: the delivery fails, retried.
        tables = {"notices": {"channels": ["smtp"], "outbox": str(tmp_path / "out")},
                  "smtp": {"host": "127.0.0.1", "port": port, "security": security,
                           "sender": "duban@jyj.example.cn"}}
        untrusting = build_service(replace(office.service.settings, tables=tables), clock)
        untrusting.new_item("zhao", NewItem(title="食堂检查", lead_unit="AQK",
                                            deadline="10个工作日"))
        report = deliver(untrusting)
        untrusting.close()
        assert (report.sent, report.failed) == (0, 1)
        assert "CERTIFICATE_VERIFY_FAILED" in report.outcomes[0]["detail"]
        assert len(box.messages) == 1
    finally:
        controller.stop()
