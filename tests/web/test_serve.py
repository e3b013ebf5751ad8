"""``duban serve`` as an administrator starts it: the real CLI in a subprocess, its worker
processes, its refusals; and the ``[web]`` settings it reads."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from duban.engine.errors import SetupError
from duban.web.settings import WebSettings, web_settings
from tests.cli.conftest import DUBAN
from tests.conftest import START
from tests.web.conftest import free_port, start_server


def serve_env(office, tmp_path: Path, config: str = "") -> dict[str, str]:
    settings = office.service.settings
    path = tmp_path / "duban.toml"
    path.write_text(config, encoding="utf-8")
    env = {**os.environ, "DUBAN_DB": settings.db_url, "DUBAN_CONFIG": str(path),
           "DUBAN_AUDIT_KEY": str(settings.audit_key_path), "DUBAN_NOW": START.isoformat()}
    env.pop("DUBAN_AS", None)
    return env


def wait_until_up(url: str, process: subprocess.Popen, token: str) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve ended: {process.stderr.read()}")
        try:
            return httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("serve did not answer within 60 s")


def test_two_worker_processes_serve_the_api_and_stop_on_a_signal(office, tmp_path):
    token = office.service.create_token("wang", "serve")["secret"]
    port = free_port()
    env = serve_env(office, tmp_path, "[web]\nserver_timing = true\naccess_log = false\n")
    process = subprocess.Popen([DUBAN, "serve", "--port", str(port), "--workers", "2"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        url = f"http://127.0.0.1:{port}/api/v1"
        first = wait_until_up(url + "/me", process, token)
        assert first.status_code == 200, first.text
        assert first.json()["login"] == "wang"
        assert first.headers["server-timing"].startswith("app;dur=")
        # several connections at once, so both processes answer some of them
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
            answers = [client.get(url + "/items").status_code for _ in range(20)]
        assert answers == [200] * 20
        refused = httpx.get(url + "/me", headers={"Authorization": "Bearer nonsense"})
        assert refused.status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert f"http://127.0.0.1:{port}/ (2 个进程" in out


def test_a_port_already_taken_is_one_line_and_a_non_zero_exit(office, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([DUBAN, "serve", "--port", str(port)], capture_output=True,
                              text=True, timeout=60, env=serve_env(office, tmp_path))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"错误: 无法在 127.0.0.1:{port} 上监听: Address already in use"
        " (端口已被占用或地址不属于本机)"]


def test_a_bad_web_setting_stops_serve_before_it_listens(office, tmp_path):
    env = serve_env(office, tmp_path, "[web]\nworkers = 0\n")
    done = subprocess.run([DUBAN, "serve", "--port", str(free_port())], capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == ["错误: 配置 [web] workers 应为正整数"]


def test_server_timing_is_sent_only_when_asked_for(office):
    token = office.service.create_token("wang", "timing")["secret"]
    for timing in (False, True):
        found, running = start_server(office.service,
                                      WebSettings(port=free_port(), server_timing=timing))
        try:
            answer = httpx.get(found.url + "/api/v1/me", timeout=30,
                               headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200
            assert ("server-timing" in answer.headers) is timing
        finally:
            running.should_exit = True


@pytest.mark.parametrize("table, message", [
    ({"workers": 0}, "配置 [web] workers 应为正整数"),
    ({"threads": True}, "配置 [web] threads 应为正整数"),
    ({"access_log": "yes"}, "配置 [web] access_log 应为 true 或 false"),
    ({"server_timing": 1}, "配置 [web] server_timing 应为 true 或 false"),
    ({"trusted_proxies": "10.0.0.1"}, "配置 [web] trusted_proxies 应为字符串列表"),
    ({"base_url": "duban.example.cn"}, "配置 [web] base_url 应以 http:// 或 https:// 开头"),
    ({"port": 8000, "listen": "0.0.0.0"}, "配置 [web] 含未知设置项: listen"),
])
def test_web_settings_refuse_what_they_cannot_use(table, message):
    with pytest.raises(SetupError) as refused:
        web_settings(table)
    assert str(refused.value) == message


def test_web_settings_keep_what_they_are_given():
    found = web_settings({"workers": 4, "threads": 3, "access_log": False,
                          "server_timing": True, "trusted_proxies": ["10.0.0.2"]})
    assert (found.workers, found.threads, found.access_log, found.server_timing,
            found.trusted_proxies) == (4, 3, False, True, ("10.0.0.2",))
    assert web_settings({}) == WebSettings()
