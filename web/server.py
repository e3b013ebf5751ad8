"""Running the web server: uvicorn with the settings' address, workers, proxy trust and app.

One worker process serves on one core: Python runs one thread at a time per process, so the
worker threads (``[web] threads``) only overlap their database waits. More cores want more
worker processes (``[web] workers``); each builds its own service from the same settings and
clock, passed down in the environment, and they share everything else through the database
(sessions, sign-in throttling, the directory's generation).
"""

from __future__ import annotations

import base64
import os
import pickle
import socket
from contextlib import asynccontextmanager
from typing import Any

from duban.engine.errors import SetupError
from duban.engine.ports import Clock
from duban.engine.service import Service
from duban.engine.settings import Settings
from duban.web.settings import WebSettings, web_settings

WORKER_ENV = "DUBAN_SERVE_WORKER"  # what a worker process builds its service from


def settings_of(service: Service) -> WebSettings:
    return web_settings(service.settings.tables.get("web", {}))


def run_server(service: Service, *, host: str | None = None, port: int | None = None,
               workers: int | None = None) -> None:
    """Serve until stopped. A port already taken is a one-line refusal, not a traceback."""
    import uvicorn

    web = settings_of(service)
    host, port = host or web.host, port or web.port
    workers = workers or web.workers
    _check_free(host, port)
    options: dict[str, Any] = dict(
        host=host, port=port, proxy_headers=True, forwarded_allow_ips=list(web.trusted_proxies),
        server_header=False, log_level="info", access_log=web.access_log)
    print(f"duban 门户: http://{host}:{port}/ ({workers} 个进程, Ctrl-C 停止)", flush=True)
    if workers == 1:
        uvicorn.run(with_threads(service, web), **options)
        return
    os.environ[WORKER_ENV] = base64.b64encode(
        pickle.dumps((service.settings, service.clock))).decode()
    service.close()  # the workers build their own
    uvicorn.run("duban.web.server:worker_app", factory=True, workers=workers, **options)


def worker_app() -> Any:
    """The application of one worker process (uvicorn calls this in each)."""
    from duban.app import build_service

    settings, clock = _worker_spec()
    service = build_service(settings, clock)
    return with_threads(service, settings_of(service))


def with_threads(service: Service, web: WebSettings) -> Any:
    """The app, with the worker thread pool sized when the server starts."""
    from duban.web.app import create_app

    @asynccontextmanager
    async def lifespan(app: Any):
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = web.threads
        yield
        service.close()

    return create_app(service, web, lifespan=lifespan)


def _worker_spec() -> tuple[Settings, Clock]:
    encoded = os.environ.get(WORKER_ENV)
    if not encoded:
        raise SetupError(f"{WORKER_ENV} 未设置: 工作进程只能由 duban serve 启动")
    return pickle.loads(base64.b64decode(encoded))  # noqa: S301 - written by our own parent


def _check_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise SetupError(f"无法在 {host}:{port} 上监听: {err.strerror}"
                             " (端口已被占用或地址不属于本机)") from None
