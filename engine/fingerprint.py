"""A workflow version's fingerprint: changing a definition that items use must be a new version.

The fingerprint covers what decides an item's life: states, events (sources, destination,
roles, fields, guards and effects with their parameters, notices), timers and fields. It is
stored the first time a version is used; a later definition of the same version that differs
is refused while items run on it, with the instruction to declare a new version instead.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, is_dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Connection, func, select, update

from duban.engine.db import dialect_statement
from duban.engine.errors import SetupError
from duban.engine.models import ITEM, WORKFLOW_VERSION
from duban.engine.registry import Registry
from duban.engine.workflow import Workflow


def fingerprint(workflow: Workflow) -> str:
    described = {
        "states": [asdict(state) for state in workflow.states],
        "initial": workflow.initial,
        "events": [_event(event) for event in workflow.events],
        "timers": [_plain(spec) for spec in workflow.timers],
        "fields": [_plain(spec) for spec in workflow.fields],
        "on_create": [_plain(n) for n in workflow.on_create],
        "create_requires": list(workflow.create_requires),
        "create_fields": list(workflow.create_fields),
        "creator_roles": [str(role) for role in workflow.creator_roles],
    }
    text = json.dumps(described, ensure_ascii=False, sort_keys=True, default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()


def _event(event: Any) -> dict[str, Any]:
    # A requirement added later is part of the fingerprint only when declared, so that the
    # versions declared before it keep theirs.
    required = {"requires_evidence": event.requires_evidence} if event.requires_evidence else {}
    return {**required,
        "name": event.name, "label": event.label, "source": list(event.source),
        "dest": event.dest, "roles": [str(role) for role in event.roles],
        "requires": list(event.requires), "accepts": list(event.accepts),
        "guards": [_callable(g) for g in event.guards],
        "effects": [_callable(e) for e in event.effects],
        "notices": [_plain(n) for n in event.notices],
    }


def _callable(function: Any) -> Any:
    """A guard or effect: its name and the values it closed over (``attr_below("redos", 1)``)."""
    cells = [cell.cell_contents for cell in getattr(function, "__closure__", None) or ()]
    return [getattr(function, "__qualname__", repr(function)), [_plain(c) for c in cells]]


def _plain(value: Any) -> Any:
    if callable(value) and not isinstance(value, type):
        return _callable(value)
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in vars(value).items()}
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, datetime) or hasattr(value, "isoformat"):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def check(conn: Connection, registry: Registry, now: datetime) -> None:
    """Record new versions; refuse a changed definition of a version items are using."""
    stored = {(row.name, row.version): row.fingerprint
              for row in conn.execute(select(WORKFLOW_VERSION))}
    changed = []
    for workflow in registry.all_versions():
        key = (workflow.name, workflow.version)
        current = fingerprint(workflow)
        if key not in stored:  # two processes starting together both try: one row stays
            conn.execute(dialect_statement(conn, "workflow_version_once", lambda insert: insert(
                WORKFLOW_VERSION).on_conflict_do_nothing(index_elements=["name", "version"])), {
                "name": key[0], "version": key[1], "fingerprint": current, "recorded_at": now})
        elif stored[key] != current:
            in_use = conn.execute(select(func.count()).select_from(ITEM).where(
                ITEM.c.workflow == key[0], ITEM.c.workflow_version == key[1])).scalar_one()
            if in_use:
                changed.append(f"{key[0]} 第{key[1]}版({in_use} 个事项在用)")
            else:
                conn.execute(update(WORKFLOW_VERSION).where(
                    WORKFLOW_VERSION.c.name == key[0], WORKFLOW_VERSION.c.version == key[1])
                    .values(fingerprint=current, recorded_at=now))
    if changed:
        raise SetupError(f"工作流定义已被改动: {'、'.join(changed)}; 运行中的事项依赖原定义, "
                         "请保留原版本, 把改动声明为新版本(version+1), "
                         "再用 duban workflow migrate 迁移")
