"""Real servers on loopback for the channels: SMTP (aiosmtpd) and HTTP (http.server)."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from duban.app import build_service
from tests.conftest import ADMIN, build_office


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class MailBox:
    """What the SMTP server accepted; ``refuse`` makes it answer RCPT with that reply."""

    messages: list[EmailMessage] = field(default_factory=list)
    refuse: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"


def serving(box: MailBox):
    """``box`` answering SMTP on a loopback port for the length of a test."""
    from aiosmtpd.controller import Controller

    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture
def mail_server():
    yield from serving(MailBox())


class SlowMailBox(MailBox):
    """A mail server that takes a moment over each message, as a real one under load."""

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow_mail_server():
    yield from serving(SlowMailBox())


@dataclass
class Hook:
    """A loopback HTTP server: each path answers with the status and body set for it."""

    port: int = 0
    answers: dict[str, tuple[int, dict]] = field(default_factory=dict)
    received: list[dict] = field(default_factory=list)
    delays: dict[str, float] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def web_server():
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (the http.server name)
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"null")
            hook.received.append({"path": self.path, "headers": dict(self.headers),
                                  "body": body})
            time.sleep(hook.delays.get(self.path, 0))
            status, answer = hook.answers.get(self.path, (200, {}))
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook
    server.shutdown()
    server.server_close()


def notifying(settings, clock, tmp_path, **tables):
    """An office whose notice settings are ``tables`` ([notices], [smtp], [office])."""
    merged = {"notices": {"outbox": str(tmp_path / "outbox")}}
    for name, values in tables.items():
        merged[name] = {**merged.get(name, {}), **values}
    service = build_service(replace(settings, tables=merged), clock)
    service.init(ADMIN, "管理员")
    return build_office(service, clock)
