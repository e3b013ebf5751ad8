"""The settings file's ``[web]`` table: where the server listens and how it is reached."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from duban.engine.errors import SetupError


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    base_url: str = ""  # e.g. https://duban.jyj.example.cn: links in notices, Secure cookies
    max_request_kb: int = 10_240  # the largest request body (uploads included)
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)  # whose X-Forwarded-* are believed
    workers: int = 2  # processes: one core each (see duban.web.server)
    threads: int = 2  # per process: requests that may wait on the database at once
    access_log: bool = True  # one line per request on standard error
    server_timing: bool = False  # a Server-Timing header on every response: for measuring

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


def web_settings(table: Mapping[str, Any]) -> WebSettings:
    known = {f.name: f for f in fields(WebSettings)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise SetupError(f"配置 [web] 含未知设置项: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        default = known[key].default
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise SetupError(f"配置 [web] {key} 应为 true 或 false")
        elif isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise SetupError(f"配置 [web] {key} 应为字符串列表")
            value = tuple(value)
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise SetupError(f"配置 [web] {key} 应为正整数")
        elif not isinstance(value, str):
            raise SetupError(f"配置 [web] {key} 应为字符串")
        values[key] = value
    found = WebSettings(**values)
    if found.base_url and not found.base_url.startswith(("http://", "https://")):
        raise SetupError("配置 [web] base_url 应以 http:// 或 https:// 开头")
    return found
