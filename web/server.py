"""Running the web server: uvicorn with the settings' address, proxy trust and the app."""

from __future__ import annotations

from duban.engine.service import Service
from duban.web.app import create_app
from duban.web.settings import WebSettings, web_settings


def settings_of(service: Service) -> WebSettings:
    return web_settings(service.settings.tables.get("web", {}))


def run_server(service: Service, *, host: str | None = None, port: int | None = None) -> None:
    import uvicorn

    web = settings_of(service)
    print(f"duban 门户: http://{host or web.host}:{port or web.port}/ (Ctrl-C 停止)",
          flush=True)
    uvicorn.run(create_app(service, web), host=host or web.host, port=port or web.port,
                proxy_headers=True, forwarded_allow_ips=list(web.trusted_proxies),
                server_header=False, log_level="info")
