"""The ASGI application of ``duban serve``: the pages, the API, the static files, and how
errors answer on each."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from duban.engine.errors import DubanError, from_database_error
from duban.engine.service import Service
from duban.engine.timeutil import local_text
from duban.web import api, pages
from duban.web.errors import body, shown_message, status_of
from duban.web.security import Guard
from duban.web.settings import WebSettings

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("duban.web")


def create_app(service: Service, web: WebSettings, *, lifespan: Any = None) -> FastAPI:
    app = FastAPI(title="duban 督办 API", version="1", docs_url=None, redoc_url=None,
                  openapi_url="/api/v1/openapi.json", lifespan=lifespan)
    app.state.service, app.state.web = service, web
    pages.templates.env.filters["local"] = lambda value: (
        local_text(value, service.tz) if value is not None else "")
    app.include_router(api.router, prefix="/api/v1")
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(Guard, max_body=web.max_request_kb * 1024, https=web.secure_cookies,
                       timing=web.server_timing)

    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    @app.exception_handler(DubanError)
    async def duban_error(request: Request, err: DubanError) -> Response:
        status, code = status_of(err)
        message = shown_message(err)  # a setup problem's details are the server admin's
        if is_api(request):
            headers = {"www-authenticate": "Bearer"} if status == 401 else None
            return JSONResponse(body(message, status, code), status, headers=headers)
        if status == 401:
            return _to_sign_in(request)
        return pages.templates.TemplateResponse(
            request, "error.html", {"message": message, "me": None, "csrf": ""},
            status_code=status)

    @app.exception_handler(pages.SignInNeeded)
    async def sign_in_needed(request: Request, _: Exception) -> Response:
        return _to_sign_in(request)

    @app.exception_handler(pages.CsrfRefused)
    async def csrf_refused(request: Request, _: Exception) -> Response:
        return pages.templates.TemplateResponse(
            request, "error.html", {"message": "表单已过期或并非来自本系统, 未作任何改动: "
                                               "请返回页面刷新后重试", "me": None, "csrf": ""},
            status_code=403)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, err: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in err.errors())
        if is_api(request):
            return JSONResponse(body(f"请求格式不对: {problems}", 400, "bad_request"), 400)
        return pages.templates.TemplateResponse(
            request, "error.html", {"message": "请求的地址或参数不对", "me": None, "csrf": ""},
            status_code=400)

    @app.exception_handler(Exception)
    async def database_or_internal(request: Request, err: Exception) -> Response:
        failure = from_database_error(err)
        if failure is None:
            log.error("内部错误: %s %s", request.method, request.url.path, exc_info=err)
        status, code = status_of(failure) if failure else (500, "internal")
        message = shown_message(failure) if failure else "内部错误, 已记录"
        if is_api(request):
            return JSONResponse(body(message, status, code), status)
        return pages.templates.TemplateResponse(
            request, "error.html", {"message": message, "me": None, "csrf": ""},
            status_code=status)

    return app


def _to_sign_in(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"/login?next={quote(target)}", 303)
    response.delete_cookie(pages.SESSION_COOKIE, path="/")
    return response
