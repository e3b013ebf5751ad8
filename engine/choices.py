"""A value a person typed for a filter, read as the engine's name: the code or the Chinese
word they see (``办理中`` or ``in_progress``, ``批示件`` or ``instruction``, 基础教育科 or
JJK). A value that names nothing is refused with the valid ones, never answered with an empty
list that looks like "nothing there"."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from duban.engine.errors import DubanError, InvalidInput
from duban.engine.models import ITEM, PERSON, SOURCE_LABELS, UNIT
from duban.engine.registry import Registry
from duban.engine.validation import shown

MAX_LISTED = 30  # valid values named in a refusal; more are counted, not listed


def states(registry: Registry, text: str) -> Any:
    """The items in the state ``text`` names: a code (``closed``) in any workflow, or a
    Chinese label (已销号) in the workflows whose state reads so, a condition on the item
    table. A label is not a code: 已办结 is ``closed`` in one workflow, while another's
    ``closed`` reads 已回访办结, and only the first are asked for."""
    wanted = text.strip()
    every = {(wf.name, state.name, state.label) for wf in registry.all_versions()
             for state in wf.states}
    if any(name == wanted for _, name, _ in every):
        return ITEM.c.state == wanted
    pairs = sorted({(workflow, name) for workflow, name, label in every if label == wanted})
    if not pairs:
        listed = sorted({f"{label}({name})" for _, name, label in every})
        raise InvalidInput(f"没有状态“{shown(wanted)}”; 可选: {_listing(listed)}")
    return or_(*(and_(ITEM.c.workflow == workflow, ITEM.c.state == name)
                 for workflow, name in pairs))


def source(text: str) -> str:
    """The source code of ``领导批示件`` or ``instruction``, or of a part of one label that
    no other label shares (``批示件``)."""
    wanted = text.strip()
    for kind, label in SOURCE_LABELS.items():
        if wanted in (kind.value, label):
            return kind.value
    partly = [kind.value for kind, label in SOURCE_LABELS.items()
              if len(wanted) >= 2 and wanted in label]
    if len(partly) == 1:
        return partly[0]
    listed = [f"{label}({kind.value})" for kind, label in SOURCE_LABELS.items()]
    raise InvalidInput(f"没有来源“{shown(wanted)}”; 可选: {_listing(listed)}")


def workflow(registry: Registry, text: str, missing: type[DubanError] = InvalidInput) -> str:
    """The workflow named ``text`` or titled so (``standard`` or its label). An unknown one
    is refused as bad input in a filter; where a workflow is asked for by name (``workflow
    show``), ``missing=NotFound`` answers it like an unknown item."""
    wanted = text.strip()
    for wf in registry.all_latest():
        if wanted in (wf.name, wf.label):
            return wf.name
    if any(loaded.may_hold(wanted) for loaded in registry.broken):
        registry.latest(wanted)  # names the broken file and the line that keeps it out
    listed = [f"{wf.label}({wf.name})" for wf in registry.all_latest()]
    raise missing(f"没有工作流“{shown(wanted)}”; 可选: {_listing(listed)}")


def unit(conn: Connection, text: str) -> str:
    """The code of the unit whose code or full name is ``text``."""
    wanted = text.strip()
    code = conn.execute(select(UNIT.c.code).where(or_(UNIT.c.code == wanted,
                                                      UNIT.c.name == wanted))).scalar()
    if code is None:
        raise InvalidInput(f"没有单位“{shown(wanted)}”(写单位代码或全称; duban unit list 可查)")
    return code


def person(conn: Connection, text: str) -> str:
    """The login of the person whose login or name is ``text`` (a name two people share is
    refused: the login tells them apart)."""
    wanted = text.strip()
    logins = conn.execute(select(PERSON.c.login).where(
        or_(PERSON.c.login == wanted, PERSON.c.name == wanted)).limit(2)).scalars().all()
    if wanted in logins:
        return wanted
    if len(logins) == 1:
        return logins[0]
    if logins:
        raise InvalidInput(f"“{shown(wanted)}”不止一人同名, 请写登录名")
    raise InvalidInput(f"没有人员“{shown(wanted)}”(写登录名或姓名; duban person list 可查)")


def ledger_filter(conn: Connection, registry: Registry, flt: Any) -> Any:
    """``flt`` (a :class:`duban.engine.ledger.LedgerFilter`, which this module may not import:
    the ledger imports the items, which name their workflow here) with every named value read
    as the engine's name."""
    changes: dict[str, Any] = {}
    wanted_state = (flt.state or "").strip()
    if wanted_state and wanted_state not in registry.state_names():  # a label, or refused
        changes.update(state=None, where=(*flt.where, states(registry, wanted_state)),
                       state_label=wanted_state)
    elif wanted_state:
        changes["state"] = wanted_state
    if flt.source:
        changes["source"] = source(flt.source)
    if flt.workflow:
        changes["workflow"] = workflow(registry, flt.workflow)
    if flt.unit:
        changes["unit"] = unit(conn, flt.unit)
    if flt.leader:
        changes["leader"] = person(conn, flt.leader)
    return replace(flt, **changes) if changes else flt


def _listing(values: list[str]) -> str:
    if len(values) <= MAX_LISTED:
        return "、".join(values)
    return "、".join(values[:MAX_LISTED]) + f" 等 {len(values)} 个"
