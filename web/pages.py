"""The portal's pages: sign in, 待办, the 督办单 with its actions, the ledger and search, new
items and imports, notices, the assessment and the circular.

Each route reads the request, calls one service method as the signed-in person and renders
the answer; a refusal is shown where the person acted, in the engine's words. Forms carry
a CSRF token derived from the session; htmx loads an action's form into the page, and every
page also works without it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from duban.engine.access import Bearer
from duban.engine.errors import DubanError, NotSignedIn
from duban.engine.service import Service
from duban.web import forms
from duban.web.errors import shown_message, status_of
from duban.web.files import as_download, attachments, file_response
from duban.web.filters import ledger_filter
from duban.web.security import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    csrf_for,
    csrf_matches,
    new_login_nonce,
)

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters.update(forms.FILTERS)
LEDGER_PAGE = 50


class SignInNeeded(Exception):
    """No valid session: the person is sent to sign in, and back afterwards."""


def _service(request: Request) -> Service:
    return request.app.state.service


def _session(request: Request) -> str:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInNeeded
    return token


def _render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    token = request.cookies.get(SESSION_COOKIE)
    context.setdefault("csrf", csrf_for(token) if token else "")
    context.setdefault("me", getattr(request.state, "me", None))
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["cache-control"] = "no-store"
    return response


def _person_page(request: Request, work: Callable[[Service, Bearer], HTMLResponse | Response]
                 ) -> HTMLResponse | Response:
    """A page for a signed-in person: who they are is read once, in the engine."""
    token = _session(request)
    actor = Bearer(token)
    service = _service(request)
    try:
        request.state.me = service.me(actor)
    except NotSignedIn:
        raise SignInNeeded from None
    return work(service, actor)


async def _form(request: Request) -> dict[str, Any]:
    """The posted form, after its CSRF token is checked against the session's."""
    data = await request.form()
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInNeeded
    uploads = [value for _, value in data.multi_items() if hasattr(value, "close")]
    if not csrf_matches(csrf_for(token), data.get("csrf")):
        for upload in uploads:
            await upload.close()
        await run_in_threadpool(_service(request).refuse, Bearer(token), "form",
                                f"表单缺少有效的 CSRF 令牌: {request.method} {request.url.path}")
        raise CsrfRefused
    return {**dict(data), "attach": attachments(data.getlist("attach")), "_uploads": uploads}


async def _posted_page(request: Request, page: Callable[[Service, Bearer], Response],
                       data: dict[str, Any]) -> Response:
    """A posted form's work in the thread pool (the engine's calls block, the event loop
    must not), and its uploaded files closed afterwards."""
    try:
        return await run_in_threadpool(_person_page, request, page)
    finally:
        for upload in data.get("_uploads", ()):
            await upload.close()


class CsrfRefused(Exception):
    """A form without this session's token: posted by another site, or an old page."""


# -- signing in ----------------------------------------------------------------------------

@router.get("/login")
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    nonce = new_login_nonce()
    response = _render(request, "login.html", next=_local(next), nonce=nonce, error=None)
    _set_cookie(request, response, LOGIN_COOKIE, nonce, max_age=3600)
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    data = await request.form()
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    target = _local(str(data.get("next") or "/"))
    login_name, password = str(data.get("login", "")).strip(), str(data.get("password", ""))
    if not nonce or not csrf_matches(nonce, str(data.get("nonce", ""))):
        return _render(request, "login.html", 400, next=target, nonce=nonce,
                       error="页面已过期, 请重新登录", login=login_name)
    try:  # password hashing takes tens of milliseconds: not on the event loop
        signed, token = await run_in_threadpool(_service(request).start_session, login_name,
                                                password)
    except DubanError as err:
        if "临时密码" in err.message:
            return RedirectResponse(f"/password?login={quote(login_name)}&first=1", 303)
        return _render(request, "login.html", status_of(err)[0], next=target, nonce=nonce,
                       error=shown_message(err), login=login_name)
    response = RedirectResponse(target, 303)
    _set_cookie(request, response, SESSION_COOKIE, token,
                max_age=int(_service(request).account_policy().session_hours * 3600))
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.get("/password")
def password_page(request: Request, login: str = "", first: bool = False) -> HTMLResponse:
    nonce = new_login_nonce()
    response = _render(request, "password.html", login=login, first=first, nonce=nonce,
                       error=None)
    _set_cookie(request, response, LOGIN_COOKIE, nonce, max_age=3600)
    return response


@router.post("/password")
async def change_password(request: Request) -> Response:
    data = await request.form()
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    login_name = str(data.get("login", "")).strip()
    old, new, again = (str(data.get(k, "")) for k in ("old", "new", "again"))

    def again_page(status: int, message: str) -> HTMLResponse:
        return _render(request, "password.html", status, login=login_name, first=False,
                       nonce=nonce, error=message)

    if not nonce or not csrf_matches(nonce, str(data.get("nonce", ""))):
        return again_page(400, "页面已过期, 请重试")
    if new != again:
        return again_page(422, "两次输入的新密码不一致")
    service = _service(request)

    def change() -> str:
        service.change_password(login_name, old, new)
        return service.start_session(login_name, new)[1]

    try:
        token = await run_in_threadpool(change)
    except DubanError as err:
        return again_page(status_of(err)[0], shown_message(err))
    response = RedirectResponse("/", 303)
    _set_cookie(request, response, SESSION_COOKIE, token,
                max_age=int(service.account_policy().session_hours * 3600))
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await _form(request)
    await run_in_threadpool(_service(request).end_session, _session(request))
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- the person's work ---------------------------------------------------------------------

@router.get("/")
def home(request: Request) -> Response:
    def page(service: Service, actor: Bearer) -> HTMLResponse:
        todo = service.todo(actor)
        readings = []
        if request.state.me["leader"]:
            readings = service.notice_list(actor, kind="instruction_reply", limit=20)
        return _render(request, "home.html", todo=todo, readings=readings)

    return _person_page(request, page)


@router.get("/items")
def items(request: Request, q: str = "", state: str = "", unit: str = "", source: str = "",
          overdue: bool = False, open: bool = False, zero: bool = False,
          offset: int = 0) -> Response:
    """The ledger and the search: every filter is in the URL, so a view can be shared."""
    def page(service: Service, actor: Bearer) -> HTMLResponse:
        query = {"q": q, "state": state, "unit": unit, "source": source,
                 "overdue": overdue, "open": open}
        if zero:
            return _render(request, "zero.html", units=service.clear_to_zero(actor))
        flt = ledger_filter(q=q, state=state, unit=unit, source=source, overdue=overdue,
                            open_only=open)
        rows, total = service.ledger_page(actor, flt, limit=LEDGER_PAGE, offset=max(offset, 0))
        shown = {k: v for k, v in query.items() if v}
        return _render(request, "items.html", rows=rows, total=total, query=query,
                       offset=offset, page=LEDGER_PAGE, units=service.units(actor),
                       link=lambda **more: "/items?" + urlencode({**shown, **more}),
                       xlsx="/items.xlsx?" + urlencode(shown))

    return _person_page(request, page)


@router.get("/items.xlsx")
def items_xlsx(request: Request, q: str = "", state: str = "", unit: str = "",
               source: str = "", overdue: bool = False, open: bool = False) -> Response:
    def download(service: Service, actor: Bearer) -> Response:
        import tempfile

        flt = ledger_filter(q=q, state=state, unit=unit, source=source, overdue=overdue,
                            open_only=open)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "ledger.xlsx"
            service.export_ledger(actor, flt, path)
            data = path.read_bytes()
        return as_download(data, "督办台账.xlsx", XLSX)

    return _person_page(request, download)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A number in a path: bounded as the databases store it, so a larger one is a bad request.
RowId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
FILE_TYPES = {"docx": DOCX, "pdf": "application/pdf"}
PDF_PAGE = "@page { size: A4; margin: 15mm 12mm; } header.top, nav, form { display: none; }"


@router.get("/items/new")
def new_item_page(request: Request) -> Response:
    def page(service: Service, actor: Bearer) -> HTMLResponse:
        return _render(request, "new_item.html", **forms.new_item_context(service, actor),
                       values={}, error=None)

    return _person_page(request, page)


@router.post("/items/new")
async def new_item(request: Request) -> Response:
    data = await _form(request)

    def page(service: Service, actor: Bearer) -> Response:
        try:
            created = service.new_item(actor, forms.new_item_spec(data))
        except DubanError as err:
            return _render(request, "new_item.html", status_of(err)[0],
                           **forms.new_item_context(service, actor), values=data,
                           error=shown_message(err))
        return RedirectResponse(f"/items/{created['id']}", 303)

    return await _posted_page(request, page, data)


@router.get("/items/{item_id}")
def item_page(request: Request, item_id: RowId) -> Response:
    def page(service: Service, actor: Bearer) -> HTMLResponse:
        return _render(request, "item.html", view=service.item_view(actor, item_id),
                       action=None)

    return _person_page(request, page)


@router.get("/items/{item_id}/act/{event}")
def action_form(request: Request, item_id: RowId, event: str) -> Response:
    """An action's form: into the 督办单 (htmx), or as the page itself."""
    def page(service: Service, actor: Bearer) -> HTMLResponse:
        view = service.item_view(actor, item_id)
        action = forms.action(view, event, service.units(actor))
        return _action_response(request, view, action)

    return _person_page(request, page)


@router.post("/items/{item_id}/act/{event}")
async def act(request: Request, item_id: RowId, event: str) -> Response:
    data = await _form(request)

    def page(service: Service, actor: Bearer) -> Response:
        values, expected = forms.event_values(data)
        try:
            service.fire(actor, item_id, event, values, expected, attachments=data["attach"])
        except DubanError as err:
            view = service.item_view(actor, item_id)
            action = forms.action(view, event, service.units(actor), data, err)
            return _action_response(request, view, action, status_of(err)[0])
        target = f"/items/{item_id}"
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, 303)

    return await _posted_page(request, page, data)


@router.post("/items/{item_id}/evidence")
async def add_evidence(request: Request, item_id: RowId) -> Response:
    """补充材料, from the 督办单."""
    data = await _form(request)

    def page(service: Service, actor: Bearer) -> Response:
        try:
            service.add_evidence(actor, item_id, data["attach"], str(data.get("note", "")))
        except DubanError as err:
            return _item_with_message(request, service, actor, item_id, err)
        return RedirectResponse(f"/items/{item_id}#evidence", 303)

    return await _posted_page(request, page, data)


@router.post("/evidence/{evidence_id}/withdraw")
async def withdraw_evidence(request: Request, evidence_id: RowId) -> Response:
    data = await _form(request)

    def page(service: Service, actor: Bearer) -> Response:
        try:
            row = service.withdraw_evidence(actor, evidence_id, str(data.get("reason", "")))
        except DubanError as err:
            item_id = int(data["item"]) if str(data.get("item", "")).isdigit() else 0
            return _item_with_message(request, service, actor, item_id, err)
        return RedirectResponse(f"/items/{row['item_id']}#evidence", 303)

    return await _posted_page(request, page, data)


@router.get("/evidence/{evidence_id}")
def evidence_file(request: Request, evidence_id: RowId, download: bool = False) -> Response:
    """A file of an item the person may see: images inline (unless ``download``)."""
    def send(service: Service, actor: Bearer) -> Response:
        row, content = service.evidence_file(actor, evidence_id)
        return file_response(row, content, inline=not download)

    return _person_page(request, send)


def _item_with_message(request: Request, service: Service, actor: Bearer, item_id: int,
                       err: DubanError) -> HTMLResponse:
    """The 督办单 again, with the engine's message above its evidence."""
    view = service.item_view(actor, item_id)
    return _render(request, "item.html", status_of(err)[0], view=view, action=None,
                   evidence_error=shown_message(err))


def _action_response(request: Request, view: Any, action: dict[str, Any],
                     status: int = 200) -> HTMLResponse:
    if request.headers.get("hx-request"):  # htmx swaps only 2xx answers into the page
        return _render(request, "action.html", view=view, action=action)
    return _render(request, "item.html", status, view=view, action=action)


# -- the office ----------------------------------------------------------------------------

@router.get("/import")
def import_page(request: Request) -> Response:
    def page(service: Service, actor: Bearer) -> HTMLResponse:
        return _render(request, "import.html", problems=None, created=None, error=None)

    return _person_page(request, page)


@router.post("/import")
async def import_list(request: Request) -> Response:
    import tempfile

    data = await _form(request)
    upload = data.get("file")
    content = await upload.read() if hasattr(upload, "read") else b""
    name = Path(getattr(upload, "filename", "") or "任务清单.xlsx").name

    def page(service: Service, actor: Bearer) -> HTMLResponse:
        from duban.engine.excel import ImportProblems

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / (Path(name).stem[:60] + ".xlsx")
            path.write_bytes(content)
            try:
                created = service.import_task_list(actor, path)
            except ImportProblems as err:
                return _render(request, "import.html", 422, problems=err.problems,
                               created=None, error=None)
            except DubanError as err:
                return _render(request, "import.html", status_of(err)[0], problems=None,
                               created=None, error=shown_message(err))
        return _render(request, "import.html", problems=None, created=created, error=None)

    return await _posted_page(request, page, data)


@router.get("/notices")
def notices(request: Request, kind: str = "", offset: int = 0) -> Response:
    def page(service: Service, actor: Bearer) -> HTMLResponse:
        rows = service.notice_list(actor, kind=kind or None, limit=LEDGER_PAGE,
                                   offset=max(offset, 0))
        return _render(request, "notices.html", rows=rows, kind=kind, offset=offset,
                       page=LEDGER_PAGE)

    return _person_page(request, page)


@router.get("/notices/{notice_id:int}")
def notice(request: Request, notice_id: RowId) -> Response:
    """The document as the office printed it (its own page and print stylesheet)."""
    def page(service: Service, actor: Bearer) -> Response:
        found = service.notice(actor, notice_id)
        if not found["body_html"]:
            return _render(request, "error.html", 409,
                           message=f"通知 {notice_id} 尚未生成正文")
        response = HTMLResponse(found["body_html"])
        # the document's own stylesheet is inline; it runs no script and loads nothing
        response.headers["content-security-policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
        response.headers["cache-control"] = "no-store"
        return response

    return _person_page(request, page)


@router.get("/notices/{notice_id:int}.{fmt}")
def notice_file(request: Request, notice_id: RowId, fmt: str) -> Response:
    """A notice as Word (to restyle or seal) or PDF (to print as it is)."""
    if fmt not in FILE_TYPES:
        from duban.engine.errors import NotFound

        raise NotFound(f"没有 {fmt} 格式的通知")

    def download(service: Service, actor: Bearer) -> Response:
        from duban.notifiers.documents import render_stored

        data = render_stored(service, actor, notice_id, fmt)
        found = service.notice(actor, notice_id)
        name = f"{found['doc_number'] or found['kind']}.{fmt}"
        return as_download(data, name, FILE_TYPES[fmt])

    return _person_page(request, download)


@router.get("/assess")
def assess(request: Request, period: str = "") -> Response:
    def page(service: Service, actor: Bearer) -> HTMLResponse:
        from duban.engine.periods import parse_period

        result, error = None, None
        if period:
            try:
                result = service.assess(actor, parse_period(period))
            except DubanError as err:
                error = shown_message(err)
        return _render(request, "assess.html", period=period, result=result, error=error)

    return _person_page(request, page)


@router.get("/dashboard")
def dashboard(request: Request, period: str = "") -> Response:
    """领导驾驶舱: the period's figures and the live counts, charts with their tables."""
    def page(service: Service, actor: Bearer) -> HTMLResponse:
        from duban.engine.periods import parse_period

        chosen = _period_or_this_month(service, period)
        try:
            view = service.dashboard(actor, parse_period(chosen))
        except DubanError as err:
            return _render(request, "dashboard_error.html", status_of(err)[0], period=chosen,
                           error=shown_message(err))
        return _render(request, "dashboard.html", view=view, period=chosen,
                       charts=dashboard_charts(view))

    return _person_page(request, page)


@router.get("/dashboard.pdf")
def dashboard_pdf(request: Request, period: str = "") -> Response:
    """The dashboard as a PDF, as its print stylesheet lays it out."""
    def download(service: Service, actor: Bearer) -> Response:
        from duban.engine.periods import parse_period
        from duban.notifiers.pdf import html_to_pdf

        chosen = _period_or_this_month(service, period)
        view = service.dashboard(actor, parse_period(chosen))
        page = templates.get_template("dashboard.html").render(
            request=request, view=view, period=chosen, charts=dashboard_charts(view),
            csrf="", me=request.state.me)
        css = (Path(__file__).parent / "static" / "duban.css").read_text(encoding="utf-8")
        data = html_to_pdf(page, extra_css=css + PDF_PAGE)
        return as_download(data, f"领导驾驶舱-{view.period.label}.pdf", "application/pdf")

    return _person_page(request, download)


def _period_or_this_month(service: Service, period: str) -> str:
    return period or service.clock.now().astimezone(service.tz).strftime("%Y-%m")


def dashboard_charts(view: Any) -> dict[str, Any]:
    from duban.web import charts

    return {
        "colours": charts.bars([(forms.COLOURS[c] + "灯", n) for c, n in view.by_colour.items()],
                               colours=list(view.by_colour), title="在办事项按颜色"),
        "sources": charts.bars(list(view.by_source), title="在办事项按来源"),
        "trend": charts.lines([label.split("年")[1] for label, _ in view.months], [
            ("按期办结率", [f.on_time_rate for _, f in view.months]),
            ("批示件按期率", [f.instruction_rate for _, f in view.months])],
            title="近几个月按期办结率"),
        "units": charts.bars([(f.name, round((f.on_time_rate or 0) * 100, 1))
                              for f, _ in view.units], unit="%", title="各单位按期办结率"),
    }


@router.post("/circular")
async def circular(request: Request) -> Response:
    data = await _form(request)

    def page(service: Service, actor: Bearer) -> Response:
        from duban.engine.periods import parse_period

        period = str(data.get("period", ""))
        try:
            written = service.circular(actor, parse_period(period))
        except DubanError as err:
            return _render(request, "assess.html", status_of(err)[0], period=period,
                           result=None, error=shown_message(err))
        return RedirectResponse(f"/notices/{written['notice']}", 303)

    return await _posted_page(request, page, data)


# -- helpers -----------------------------------------------------------------------------------

def _local(target: str) -> str:
    """Only a path of this site: a sign-in never sends anyone elsewhere."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _set_cookie(request: Request, response: Response, name: str, value: str,
                max_age: int) -> None:
    web = request.app.state.web
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                        samesite="lax", secure=web.secure_cookies
                        or request.url.scheme == "https")
