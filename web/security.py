"""What every response carries and every request is checked for: strict headers, a bounded
body, and forms that prove they come from duban's own pages (CSRF)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

# No script or style but duban's own files; never framed; forms only to duban.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; object-src 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
SESSION_COOKIE = "duban_session"
LOGIN_COOKIE = "duban_login"  # the sign-in form's own CSRF value, before any session


def csrf_for(session: str) -> str:
    """The form token of a session: derived from the session's secret, which only the
    person's browser holds (HttpOnly), so no other site can compute it."""
    return hashlib.sha256(f"duban-csrf:{session}".encode()).hexdigest()[:32]


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected, given or "")


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


ASGIApp = Callable[[dict[str, Any], Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]],
                   Awaitable[None]]


class Guard:
    """ASGI middleware: the security headers on every response, and a request body limit
    (413 before the application sees a byte too many). With ``timing``, each response also
    says how long the server took to start answering (``Server-Timing: app;dur=<ms>``, which
    browsers' developer tools show)."""

    def __init__(self, app: ASGIApp, max_body: int, https: bool, timing: bool = False) -> None:
        self.app, self.max_body, self.timing = app, max_body, timing
        self.headers = HEADERS + ([(b"strict-transport-security",
                                    b"max-age=31536000; includeSubDomains")] if https else [])

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await _too_large(send, self.headers)
            return
        seen = 0
        started = False
        began = time.perf_counter()

        async def bounded_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _BodyTooLarge
            return message

        async def with_headers(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *(h for h in self.headers if h[0] not in present)]
                if self.timing:
                    took = (time.perf_counter() - began) * 1000
                    message["headers"].append((b"server-timing", f"app;dur={took:.3f}".encode()))
            await send(message)

        try:
            await self.app(scope, bounded_receive, with_headers)
        except _BodyTooLarge:
            if not started:
                await _too_large(send, self.headers)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Any, headers: list[tuple[bytes, bytes]]) -> None:
    body = '{"error":{"code":"too_large","message":"请求内容过大","status":413}}'.encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), *headers]})
    await send({"type": "http.response.body", "body": body})
