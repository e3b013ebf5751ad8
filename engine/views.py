"""What a screen shows, read in one transaction: plain data for every client to format.

The CLI prints these views as text and JSON; the web renders them as pages. The words come
from the workflow and :mod:`duban.engine.labels`, so every client says the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from duban.engine import audit, choices, evidence, items, ledger, notices, reports, visibility
from duban.engine.access import role_names
from duban.engine.errors import DubanError, NotFound
from duban.engine.fields import FieldKind
from duban.engine.labels import ACTION_LABELS, ATTR_LABELS, ATTR_VALUES, NOTICE_LABELS
from duban.engine.models import AUDIT_EVENT, ITEM, SOURCE_LABELS, Role, SourceKind
from duban.engine.registry import Registry
from duban.engine.timer_store import item_timers as stored_timers
from duban.engine.timers import RECIPIENT_LABELS, TimerSpec, step_label
from duban.engine.timeutil import from_iso, local_text
from duban.engine.txn import ReadTxn
from duban.engine.workflow import Event, Workflow


@dataclass(frozen=True)
class FieldInfo:
    """One input of an event, as a form or a help text presents it."""

    name: str
    label: str
    kind: str
    required: bool
    choices: dict[str, str] | None = None


@dataclass(frozen=True)
class EventOption:
    """An event a person may fire now, with what it asks for."""

    name: str
    label: str
    fields: tuple[FieldInfo, ...]
    requires_evidence: str = ""  # the evidence it must come with, in words


@dataclass(frozen=True)
class TimelineEntry:
    """One line of an item's history as a reader wants it."""

    seq: int
    at: datetime
    actor: str
    kind: str  # "event", "notice" (a document made) or "delivery" (a notice sent, failed)
    what: str
    move: tuple[str, str] | None  # state labels before and after, when the state changed
    reason: str | None
    details: tuple[tuple[str, str], ...]  # the other inputs, labelled and in words
    actor_name: str = ""
    evidence: tuple[dict[str, Any], ...] = ()  # the files it brought, not withdrawn


@dataclass(frozen=True)
class ItemView:
    """The 督办单 of one item: the item, where it stands, what the person may do now, its
    sub-items, its history and its notices."""

    item: dict[str, Any]
    workflow_label: str
    state_label: str
    source_label: str
    attributes: tuple[tuple[str, str], ...]  # the workflow's attributes, labelled, in words
    events: tuple[EventOption, ...]
    children: dict[str, Any] | None
    history: tuple[dict[str, Any], ...]
    timeline: tuple[TimelineEntry, ...]
    notices: tuple[dict[str, Any], ...]
    summary: dict[str, Any] = field(default_factory=dict)  # as the ledger shows it: colour…
    sub_items: tuple[dict[str, Any], ...] = ()
    event_labels: dict[str, str] = field(default_factory=dict)  # every event of the workflow
    evidence: tuple[dict[str, Any], ...] = ()  # its files (佐证材料), not withdrawn
    may_add_evidence: bool = False  # 补充材料


def item_view(txn: ReadTxn, item_id: int) -> ItemView:
    item = items.load(txn, item_id)
    workflow = txn.registry.get(item["workflow"], item["workflow_version"])
    every_notice = notices.for_item(txn, item_id)
    history = item_history(txn, item, every_notice)
    children = _children(txn, item_id)
    rolled = _roll_up(item_id, children)
    may_withdraw = txn.actor.has(Role.supervisor)
    files = [{**evidence.described(row, workflow, txn.directory.people),
              "may_withdraw": may_withdraw or row["attached_by"] == txn.actor.login}
             for row in evidence.of_item(txn, item_id)]
    return ItemView(
        item=item,
        workflow_label=workflow.label,
        state_label=workflow.state_label(item["state"]),
        source_label=SOURCE_LABELS.get(SourceKind(item["source"]), item["source"]),
        attributes=tuple((ATTR_LABELS.get(key, key),
                          _name(txn, value) or value if key == "owner"
                          else attr_text(key, value, txn.tz))
                         for key, value in sorted(item["attrs"].items())),
        events=tuple(event_option(workflow, event)
                     for event in items.possible_events(txn, workflow, item)),
        children=rolled.get(item_id),
        history=tuple(history),
        timeline=tuple(timeline(workflow, history, txn, {row["id"]: row for row in files})),
        notices=tuple(n for n in every_notice
                      if visibility.sees_notice(visibility.scope_of(txn), n)),
        summary={**ledger.enrich(txn.conn, txn.registry, [dict(item)], now=txn.now, tz=txn.tz,
                                 calendar=txn.calendar, units=txn.directory.units,
                                 rolled=rolled, evidence_counts={item_id: len(files)})[0],
                 "lead_leader_name": _name(txn, item["lead_leader"] or "")},
        sub_items=tuple({**row, "state_label": state_label(txn.registry, row)}
                        for row in children if visibility.sees_item(txn, row)),
        event_labels={e.name: e.label for e in workflow.events},
        evidence=tuple(files),
        may_add_evidence=evidence.may_add(txn, item),
    )


def _children(txn: ReadTxn, item_id: int) -> list[dict[str, Any]]:
    """Every sub-item of an item (the roll-up counts them all; a reader sees those theirs)."""
    return [dict(r) for r in txn.conn.execute(
        select(ITEM).where(ITEM.c.parent_id == item_id).order_by(ITEM.c.id)).mappings()]


def _roll_up(item_id: int, children: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    groups: dict[str, list[Any]] = {}
    for row in children:
        group = groups.setdefault(row["state"], [0, row["current_deadline"]])
        group[0] += 1
        group[1] = min(group[1], row["current_deadline"])
    return items.roll_up((item_id, state, count, earliest)
                         for state, (count, earliest) in groups.items())


def item_history(txn: ReadTxn, item: Mapping[str, Any],
                 every_notice: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The item's audit events that the reader may read."""
    events = audit.item_history(txn.conn, item["id"])
    if every_notice is None:
        every_notice = notices.for_item(txn, item["id"])
    return visibility.history_for(txn, item, events, every_notice)


def attr_text(key: str, value: Any, tz: ZoneInfo) -> str:
    """An attribute as a reader wants it: instants local, flags and codes in words."""
    if isinstance(value, str) and (key.endswith("_at") or key.endswith("_deadline")):
        try:
            return local_text(from_iso(value), tz)
        except ValueError:
            return value
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    return ATTR_VALUES.get(str(value), str(value))


def event_option(workflow: Workflow, event: Event) -> EventOption:
    fields = []
    for required, names in ((True, event.requires), (False, event.accepts)):
        for name in names:
            spec = workflow.field_spec(name)
            choices = dict(spec.choices) if spec.kind is FieldKind.choice and spec.choices \
                else None
            fields.append(FieldInfo(name, spec.label, spec.kind.value, required, choices))
    return EventOption(event.name, event.label, tuple(fields), event.requires_evidence)


def timeline(workflow: Workflow, events: Iterable[Mapping[str, Any]], txn: ReadTxn,
             files: Mapping[int, Mapping[str, Any]] | None = None) -> list[TimelineEntry]:
    """An item's audit events in words: what happened, the move, the reason, the inputs,
    the files each brought (of ``files``: those still shown)."""
    files = files or {}
    entries = []
    for event in events:
        if event["action"] == "notice":
            entries.append(_notice_entry(event, _name(txn, event["actor"])))
            continue
        if event["action"] == "event":
            spec = workflow.event(event["event"])
            what = spec.label if spec else event["event"]
        elif event["action"] == "refused":
            spec = workflow.event(event["event"] or "")
            what = f"尝试{spec.label if spec else event['event']}被拒绝"
        else:
            what = ACTION_LABELS.get(event["action"], event["action"])
        move = None
        if event["to_state"] and event["from_state"] != event["to_state"]:
            before = workflow.state_label(event["from_state"]) if event["from_state"] else "—"
            move = (before, workflow.state_label(event["to_state"]))
        cited = event["payload"].get("evidence") if event["action"] != "evidence_withdrawn" \
            else None
        brought = tuple(files[entry["id"]] for entry in cited or ()
                        if isinstance(entry, dict) and entry.get("id") in files)
        entries.append(TimelineEntry(event["seq"], event["at"], event["actor"], "event", what,
                                     move, event["reason"], _details(workflow, event, txn),
                                     _name(txn, event["actor"]), brought))
    return entries


def _name(txn: ReadTxn, login: str) -> str:
    person = txn.directory.people.get(login)
    return person["name"] if person else ""


def _notice_entry(event: Mapping[str, Any], actor_name: str = "") -> TimelineEntry:
    payload = event["payload"]
    what = NOTICE_LABELS.get(event["event"], event["event"])
    if payload.get("doc_number"):
        what += f" {payload['doc_number']}"
    if payload.get("channel"):
        what += f" [{payload['channel']}]"
    kind = "notice" if event["event"] == "created" else "delivery"  # delivery: the office's
    return TimelineEntry(event["seq"], event["at"], event["actor"], kind, what, None,
                         event["reason"], (), actor_name)


def _details(workflow: Workflow, event: Mapping[str, Any],
             txn: ReadTxn) -> tuple[tuple[str, str], ...]:
    """The inputs of an event other than its reason, as a reader wants them."""
    if event["action"] == "evidence_withdrawn":
        withdrawn = event["payload"].get("evidence") or {}
        return (("材料", f"{withdrawn.get('name', '')}(编号 {withdrawn.get('id', '?')})"),)
    if event["action"] == "evidence_added" and event["payload"].get("note"):
        return (("说明", event["payload"]["note"]),)
    if event["action"] != "event":
        return ()
    parts = []
    moved = (event["payload"].get("changes") or {}).get("lead_unit")  # a transfer: both units
    for name, value in event["payload"].get("values", {}).items():
        if name == "reason" or (name == "unit" and moved):
            continue
        spec = workflow.field_spec(name)
        if spec.kind in (FieldKind.instant, FieldKind.deadline):
            shown = local_text(from_iso(value), txn.tz)
        else:
            shown = spec.display(value)
        parts.append((spec.label, shown))
    if moved:
        names = [(txn.directory.units.get(code) or {}).get("name") or code for code in moved]
        parts.append(("承办单位", " → ".join(names)))
    return tuple(parts)


def workflow_view(registry: Registry, name: str) -> dict[str, Any]:
    """A workflow's states and events with who may fire them and what they need."""
    wf = registry.latest(choices.workflow(registry, name, NotFound))
    return {
        "name": wf.name, "version": wf.version, "label": wf.label,
        "description": wf.description, "initial": wf.initial,
        "states": [{"name": s.name, "label": s.label, "final": s.final} for s in wf.states],
        "events": [{
            "name": e.name, "label": e.label, "source": list(e.source), "dest": e.dest,
            "roles": [r.value for r in e.roles], "requires": list(e.requires),
            "accepts": list(e.accepts),
            "source_labels": [wf.state_label(s) for s in e.source if s != "*"],
            "any_state": "*" in e.source,
            "dest_label": wf.state_label(e.dest) if e.dest else None,
            "role_labels": role_names(e.roles),
            "requires_labels": [wf.field_spec(f).label for f in e.requires],
        } for e in wf.events],
        "timers": [timer_plan(wf, spec) for spec in wf.timers],
    }


def timer_plan(wf: Workflow, spec: TimerSpec) -> dict[str, Any]:
    """One step of a workflow's timetable: its name, when it falls due, what it does."""
    event = wf.event(spec.fire) if spec.fire else None
    return {
        "step": spec.step, "label": spec.label, "when": spec.when(),
        "anchor": spec.anchor.value, "workdays": spec.workdays, "months": spec.months,
        "percent": spec.percent, "day_of_month": spec.day_of_month, "at": f"{spec.at:%H:%M}",
        "states": list(spec.states), "state_labels": [wf.state_label(s) for s in spec.states],
        "fire": spec.fire, "fire_label": event.label if event else None,
        "values": dict(spec.values),
        "value_labels": {wf.field_spec(k).label: wf.field_spec(k).display(v)
                         for k, v in spec.values.items()},
        "notice": spec.notice,
        "to": [r.value for r in spec.to], "cc": [r.value for r in spec.cc],
        "to_labels": [RECIPIENT_LABELS[r] for r in spec.to],
        "cc_labels": [RECIPIENT_LABELS[r] for r in spec.cc],
        "skip_after_deadline": spec.skip_after_deadline,
    }


def item_timers(txn: ReadTxn, item_id: int) -> list[dict[str, Any]]:
    """An item's timer steps as its reader may see them, each with its Chinese name
    (``label``) beside the stored ``step``."""
    item = items.load(txn, item_id)
    rows = visibility.timers_for(txn, item, stored_timers(txn, item_id))
    try:
        specs = txn.registry.get(item["workflow"], item["workflow_version"]).timers
    except DubanError:  # a version no longer declared: the stored names still say something
        specs = ()
    return [{**row, "label": step_label(specs, row["step"])} for row in rows]


def workflow_list(registry: Registry) -> list[dict[str, Any]]:
    return [{"name": wf.name, "version": wf.version, "label": wf.label,
             "states": len(wf.states), "events": len(wf.events)}
            for wf in registry.all_latest()]


def state_label(registry: Registry, item: Mapping[str, Any]) -> str:
    try:
        return registry.get(item["workflow"], item["workflow_version"]).state_label(item["state"])
    except DubanError:  # a version no longer declared: its stored name still says something
        return item["state"]


@dataclass(frozen=True)
class Todo:
    """A person's 待办 and 已办: what waits on them now, what they did lately, and how
    many of the items they see stand in each state."""

    waiting: list[dict[str, Any]]  # ledger rows, each with the moves it waits for
    done: list[dict[str, Any]]
    counts: dict[str, int]  # by state label


def todo(txn: ReadTxn, limit: int = 100) -> Todo:
    office = txn.actor.has(Role.supervisor)
    flt = ledger.LedgerFilter(open_only=True,
                              states=frozenset(_states_waiting_on(txn.registry, office)))
    rows, _ = reports.ledger_page(txn, flt, limit=limit if office else limit * 3)
    waiting = []
    for row in rows:
        workflow = txn.registry.get(row["workflow"], row["workflow_version"])
        moves = [(e.name, e.label) for e in items.possible_events(txn, workflow, row)
                 if e.dest is not None and e.dest != row["state"] and "*" not in e.source]
        if moves:
            waiting.append({**row, "moves": moves})
    return Todo(waiting[:limit], _done(txn), _counts(txn))


def _states_waiting_on(registry: Registry, office: bool) -> set[str]:
    wanted = "督查室" if office else "承办单位"
    found = set()
    for workflow in registry.all_versions():
        for state in workflow.states:
            if state.final:
                continue
            who = state.waiting_on or ledger.next_actor(workflow, state.name)
            # a leader's decisions wait in states the office's words name too
            if who == wanted or (not office and state.waiting_on):
                found.add(state.name)
    return found


def _done(txn: ReadTxn, limit: int = 20) -> list[dict[str, Any]]:
    last = func.max(AUDIT_EVENT.c.seq)
    ids = [row[0] for row in txn.conn.execute(
        select(AUDIT_EVENT.c.item_id, last).where(
            AUDIT_EVENT.c.actor == txn.actor.login, AUDIT_EVENT.c.action == "event",
            AUDIT_EVENT.c.item_id.is_not(None))
        .group_by(AUDIT_EVENT.c.item_id).order_by(last.desc()).limit(limit))]
    rows = {row["id"]: dict(row) for row in txn.conn.execute(
        select(ITEM).where(ITEM.c.id.in_(ids))).mappings()} if ids else {}
    return [rows[i] for i in ids if i in rows and visibility.sees_item(txn, rows[i])]


def _counts(txn: ReadTxn) -> dict[str, int]:
    query = (select(ITEM.c.workflow, ITEM.c.workflow_version, ITEM.c.state, func.count())
             .group_by(ITEM.c.workflow, ITEM.c.workflow_version, ITEM.c.state))
    visible = visibility.item_clause(visibility.scope_of(txn))
    if visible is not None:
        query = query.where(visible)
    counts: dict[str, int] = {}
    for workflow, version, state, n in txn.conn.execute(query):
        label = state_label(txn.registry, {"workflow": workflow, "workflow_version": version,
                                           "state": state})
        counts[label] = counts.get(label, 0) + n
    return counts
