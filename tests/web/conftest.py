"""A real uvicorn on a loopback port serving the small office of tests/conftest.py, and the
people's accounts to sign in with."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn

from duban.engine.service import Service
from duban.web.app import create_app
from duban.web.settings import WebSettings
from tests.conftest import ADMIN

PASSWORD = "Duban-2026-ok"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    service: Service
    url: str
    clients: list[httpx.Client] = field(default_factory=list)

    def token(self, login: str) -> str:
        return self.service.create_token(login, "tests")["secret"]

    def api(self, token: str) -> httpx.Client:
        return self._keep(httpx.Client(base_url=self.url + "/api/v1", timeout=30,
                                       headers={"Authorization": f"Bearer {token}"}))

    def browser_client(self) -> httpx.Client:
        """A client that keeps cookies, as a browser does."""
        return self._keep(httpx.Client(base_url=self.url, timeout=30, follow_redirects=False))

    def _keep(self, client: httpx.Client) -> httpx.Client:
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()


def give_passwords(service: Service, *logins: str) -> None:
    """Accounts as people would have them after their first sign-in."""
    for login in logins:
        temporary = service.issue_setup(ADMIN, login, temporary=True)["secret"]
        service.change_password(login, temporary, PASSWORD)


def start_server(service: Service, web: WebSettings) -> tuple[Server, uvicorn.Server]:
    """uvicorn in a thread on ``web.port``, returned once it accepts connections."""
    config = uvicorn.Config(create_app(service, web), host="127.0.0.1", port=web.port,
                            log_level="warning", lifespan="off")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return Server(service, f"http://127.0.0.1:{web.port}"), running


@pytest.fixture
def server(office) -> Iterator[Server]:
    found, running = start_server(office.service, WebSettings(port=free_port()))
    yield found
    found.close()
    running.should_exit = True
