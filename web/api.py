"""The HTTP API, ``/api/v1``: what a client of the CLI would need, as JSON.

Every call carries ``Authorization: Bearer <token>`` (``duban token create``); cookies are
not accepted here, so a browser page elsewhere cannot borrow a session. Writes take an
``Idempotency-Key``: the same key from the same person answers again as the first time and
changes nothing twice. Errors come in one shape (:mod:`duban.web.errors`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from duban.engine.access import Bearer
from duban.engine.audit import canonical
from duban.engine.errors import NotSignedIn
from duban.engine.service import Service
from duban.web.files import attachments, file_response
from duban.web.filters import ledger_filter

router = APIRouter(tags=["duban"])
MAX_PAGE = 500


class ErrorOut(BaseModel):
    code: str
    message: str
    status: int


class ErrorBody(BaseModel):
    error: ErrorOut


class Loose(BaseModel):
    """A record as the engine gives it; its main fields named, the rest kept."""

    model_config = ConfigDict(extra="allow")


class ItemOut(Loose):
    id: int
    title: str
    workflow: str
    state: str
    lead_unit: str
    current_deadline: str
    version: int


class Page(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[ItemOut]


class NewItemIn(BaseModel):
    title: str
    unit: str = Field(description="牵头(主办)单位代码")
    deadline: str = Field(description="日期(2026-12-10)或期限(10个工作日、3个月)")
    workflow: str = "standard"
    goal: str = ""
    measures: str = ""
    source: str = "other"
    leader: str | None = None
    co_units: list[str] = []
    public: bool = False
    parent: int | None = None
    fields: dict[str, str] = {}


class FireIn(BaseModel):
    values: dict[str, str] = Field(default_factory=dict, description="事件的字段: reason、report…")
    expected_version: int | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 409, 422)}


# The dependencies are ``async``: they do no I/O, and a plain ``def`` would cost each request
# two more trips through the thread pool.
async def service(request: Request) -> Service:
    return request.app.state.service


async def bearer(authorization: Annotated[str | None, Header()] = None) -> Bearer:
    """The token of the request; checked by the engine in the call's own transaction."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotSignedIn("请提供令牌: Authorization: Bearer <令牌>")
    return Bearer(token.strip())


Actor = Annotated[Bearer, Depends(bearer)]
Svc = Annotated[Service, Depends(service)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
ItemId = Annotated[int, PathParam(ge=1, le=2**62)]


def out(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(canonical(value), status_code=status)


@router.get("/me", responses=ERRORS)
def me(svc: Svc, actor: Actor) -> JSONResponse:
    """Who the token stands for."""
    return out(svc.me(actor))


@router.get("/items", response_model=Page, responses=ERRORS)
def list_items(svc: Svc, actor: Actor, q: str | None = None, state: str | None = None,
               unit: str | None = None, source: str | None = None,
               workflow: str | None = None, overdue: bool = False, open: bool = False,
               limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
               offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> JSONResponse:
    """The items the person may see, as the ledger shows them, in deadline order."""
    flt = ledger_filter(q=q, state=state, unit=unit, source=source, workflow=workflow,
                        overdue=overdue, open_only=open)
    rows, total = svc.ledger_page(actor, flt, limit=limit, offset=offset)
    return out({"total": total, "limit": limit, "offset": offset, "items": rows})


@router.get("/items/{item_id}", responses=ERRORS)
def show_item(item_id: ItemId, svc: Svc, actor: Actor) -> JSONResponse:
    """The 督办单: the item, the events the person may fire now, sub-items, history."""
    view = svc.item_view(actor, item_id)
    return out({"item": view.item, "workflow_label": view.workflow_label,
                "state_label": view.state_label, "source_label": view.source_label,
                "attributes": view.attributes, "events": [asdict(e) for e in view.events],
                "children": view.children, "timeline": [asdict(e) for e in view.timeline],
                "notices": [{k: n[k] for k in ("id", "kind", "doc_number", "title", "status")}
                            for n in view.notices]})


@router.post("/items", status_code=201, response_model=ItemOut, responses=ERRORS)
def new_item(body: NewItemIn, svc: Svc, actor: Actor,
             idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Assign a new item (交办)."""
    from duban.engine.items import NewItem

    spec = NewItem(title=body.title, lead_unit=body.unit, deadline=body.deadline,
                   workflow=body.workflow, goal=body.goal, measures=body.measures,
                   source=body.source, lead_leader=body.leader, co_units=tuple(body.co_units),
                   public=body.public, parent_id=body.parent, attrs=body.fields)
    return out(svc.new_item(actor, spec, idempotency_key=idempotency_key), 201)


@router.post("/items/{item_id}/events/{event}", response_model=ItemOut, responses=ERRORS)
def fire(item_id: ItemId, event: str, body: FireIn, svc: Svc, actor: Actor,
         idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Fire one event of the item's workflow (sign, report, verify …)."""
    return out(svc.fire(actor, item_id, event, body.values, body.expected_version,
                        idempotency_key=idempotency_key))


@router.post("/items/{item_id}/events/{event}/files", response_model=ItemOut,
             responses=ERRORS)
def fire_with_files(item_id: ItemId, event: str, svc: Svc, actor: Actor,
                    attach: Annotated[list[UploadFile], File(description="佐证材料, 可多个")],
                    values: Annotated[str, Form(description="事件的字段, JSON 对象")] = "{}",
                    expected_version: Annotated[int | None, Form()] = None,
                    idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Fire an event with evidence (multipart/form-data): all files kept with the event, or
    the event refused and nothing written."""
    return out(svc.fire(actor, item_id, event, _values(values), expected_version,
                        idempotency_key=idempotency_key, attachments=attachments(attach)))


@router.get("/items/{item_id}/evidence", responses=ERRORS)
def evidence_list(item_id: ItemId, svc: Svc, actor: Actor,
                  withdrawn: bool = False) -> JSONResponse:
    """The item's evidence (佐证材料), oldest first."""
    return out(svc.evidence_of(actor, item_id, withdrawn=withdrawn))


@router.post("/items/{item_id}/evidence", status_code=201, responses=ERRORS)
def evidence_add(item_id: ItemId, svc: Svc, actor: Actor,
                 attach: Annotated[list[UploadFile], File(description="文件, 可多个")],
                 note: Annotated[str, Form()] = "") -> JSONResponse:
    """补充材料 (multipart/form-data)."""
    return out(svc.add_evidence(actor, item_id, attachments(attach), note), 201)


@router.get("/evidence/{evidence_id}", responses=ERRORS)
def evidence_get(evidence_id: ItemId, svc: Svc, actor: Actor) -> Response:
    """The file itself, as it was attached."""
    row, content = svc.evidence_file(actor, evidence_id)
    return file_response(row, content, inline=False)


class WithdrawIn(BaseModel):
    reason: str


@router.post("/evidence/{evidence_id}/withdraw", responses=ERRORS)
def evidence_withdraw(evidence_id: ItemId, body: WithdrawIn, svc: Svc,
                      actor: Actor) -> JSONResponse:
    """Withdraw a wrongly attached file: hidden from views, kept in the record."""
    return out(svc.withdraw_evidence(actor, evidence_id, body.reason))


def _values(text: str) -> dict[str, str]:
    import json

    from duban.engine.errors import InvalidInput

    try:
        found = json.loads(text or "{}")
    except ValueError:
        raise InvalidInput("values 应为 JSON 对象") from None
    if not isinstance(found, dict):
        raise InvalidInput("values 应为 JSON 对象")
    return {str(k): str(v) for k, v in found.items()}


@router.get("/units", responses=ERRORS)
def units(svc: Svc, actor: Actor) -> JSONResponse:
    return out(svc.units(actor))


@router.get("/people", responses=ERRORS)
def people(svc: Svc, actor: Actor, unit: str | None = None) -> JSONResponse:
    return out(svc.people(actor, unit))


class UnitIn(BaseModel):
    code: str
    name: str
    parent: str | None = None
    head: str | None = None


class PersonIn(BaseModel):
    login: str
    name: str
    unit: str | None = None
    roles: list[str] = []
    deputy: str | None = None
    email: str | None = None
    phone: str | None = None


@router.post("/units", status_code=201, responses=ERRORS)
def add_unit(body: UnitIn, svc: Svc, actor: Actor) -> JSONResponse:
    """Add a unit (admins)."""
    return out(svc.add_unit(actor, body.code, body.name, body.parent, body.head), 201)


@router.post("/people", status_code=201, responses=ERRORS)
def add_person(body: PersonIn, svc: Svc, actor: Actor) -> JSONResponse:
    """Register a person (admins)."""
    from duban.engine.directory import NewPerson

    spec = NewPerson(body.login, body.name, body.unit, tuple(body.roles), body.deputy,
                     body.email, body.phone)
    return out(svc.add_person(actor, spec), 201)


@router.get("/figures", responses=ERRORS)
def figures(svc: Svc, actor: Actor, period: str, by: str = "unit") -> JSONResponse:
    """A period's figures per unit (or per leader, per problem category)."""
    from duban.engine.periods import parse_period

    if by not in ("unit", "leader", "category"):
        from duban.engine.errors import InvalidInput

        raise InvalidInput("by 应为 unit、leader 或 category")
    return out([row.as_json() for row in svc.period_figures(actor, parse_period(period), by)])


@router.get("/assessment", responses=ERRORS)
def assessment(svc: Svc, actor: Actor, period: str) -> JSONResponse:
    """The assessment of a period: scores and ranks."""
    from duban.engine.periods import parse_period

    chosen = parse_period(period)
    result = svc.assess(actor, chosen)
    return out({"period": chosen.code, "label": chosen.label,
                "standings": [s.as_json() for s in result.standings],
                "total": result.total.as_json()})


@router.get("/notices", responses=ERRORS)
def notices(svc: Svc, actor: Actor, status: str | None = None, item: int | None = None,
            kind: str | None = None, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
            offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> JSONResponse:
    """The notices the person may read, newest first."""
    return out(svc.notice_list(actor, status=status, item_id=item, kind=kind, limit=limit,
                               offset=offset))


@router.get("/notices/{notice_id}", responses=ERRORS)
def notice(notice_id: ItemId, svc: Svc, actor: Actor) -> JSONResponse:
    return out(svc.notice(actor, notice_id))
