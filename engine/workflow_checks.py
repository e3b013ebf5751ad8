"""Whether a workflow's definition holds together: states, events, fields, timers and
notices that name each other, before any item uses it. Each flaw says what and where, so the
loader of an admin's file can point at the line (``engine/workflow_files.py``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

from duban.engine.errors import SetupError
from duban.engine.fields import STANDARD_FIELDS, FieldSpec
from duban.engine.models import Role
from duban.engine.timers import Recipient, TimerSpec
from duban.engine.workflow import ANY_STATE, Event, Notify, State, Workflow

RESERVED_EVENT_NAMES = {"created", "edited", "refused", "migrated"}


class Flaw(NamedTuple):
    """One thing wrong in a definition, and the declaration it is about (the constructor
    and the name it was given), so that the line that declares it can be found."""

    kind: str  # "Workflow", "State", "Event", "TimerSpec", "FieldSpec"
    name: str
    message: str
    last: bool = False  # about a repeated name: the line of its last declaration


def validate(workflow: Workflow) -> None:
    """Refuse a declaration that would fail later, with a message that names the problem."""
    flaws = definition_flaws(workflow)
    if flaws:
        raise SetupError(f"{declared_as(workflow)}: {flaws[0].message}")


def definition_flaws(workflow: Workflow) -> list[Flaw]:
    """Everything that would fail later in a declaration, each naming its declaration."""
    flaws: list[Flaw] = []

    def flaw(kind: str, name: object, message: str, last: bool = False) -> None:
        flaws.append(Flaw(kind, str(name), message, last))

    own = ("Workflow", workflow.name)
    if not isinstance(workflow.version, int) or isinstance(workflow.version, bool) \
            or workflow.version < 1:
        flaw(*own, f"版本号 version 应为正整数, 而不是 {workflow.version!r}")
    for group, kind in (("states", State), ("events", Event), ("timers", TimerSpec),
                        ("fields", FieldSpec)):
        if not _sequence(getattr(workflow, group), kind):
            flaw(*own, f"{group} 应为 {kind.__name__} 的元组")
    if flaws:
        return flaws  # what follows reads the parts
    states = [state.name for state in workflow.states]
    for number, name in enumerate(states):
        if name in states[:number]:
            flaw("State", name, f"状态名 {name} 重复", last=True)
    if workflow.initial not in states:
        flaw(*own, f"初始状态 {workflow.initial} 未定义")
    known_fields = set(STANDARD_FIELDS) | {spec.name for spec in workflow.fields}
    seen: set[str] = set()
    for event in workflow.events:
        _event_flaws(event, set(states), known_fields, seen, flaw)
        seen.add(event.name)
    steps: set[str] = set()
    for spec in workflow.timers:
        if spec.step in steps:
            flaw("TimerSpec", spec.step, f"定时步骤名 {spec.step} 重复", last=True)
        steps.add(spec.step)
        for message in _timer_problems(spec, workflow, set(states), seen):
            flaw("TimerSpec", spec.step, f"定时步骤 {spec.step}: {message}")
    for notice in workflow.on_create:
        for message in _notify_problems(notice):
            flaw(*own, f"on_create: {message}")
    return flaws


def _event_flaws(event: Event, states: set[str], known_fields: set[str], seen: set[str],
                 flaw: Callable[..., None]) -> None:
    name = event.name
    if not isinstance(name, str) or not name.isidentifier() or name in RESERVED_EVENT_NAMES:
        flaw("Event", name, f"事件名 {name} 不可用")
        return
    if name in seen:
        flaw("Event", name, f"事件 {name} 重复定义", last=True)
    for part, example in (("source", '("assigned",)'), ("requires", '("report",)'),
                          ("accepts", '("note",)'), ("roles", "(Role.handler,)")):
        if not _sequence(getattr(event, part), str if part != "roles" else object):
            flaw("Event", name, f"事件 {name} 的 {part} 应为元组, 如 {part}={example}")
            return
    for source in event.source:
        if source != ANY_STATE and source not in states:
            flaw("Event", name, f"事件 {name} 的起始状态 {source} 未定义")
    if event.dest is not None and event.dest not in states:
        flaw("Event", name, f"事件 {name} 的目标状态 {event.dest} 未定义")
    for field_name in (*event.requires, *event.accepts):
        if field_name not in known_fields:
            flaw("Event", name, f"事件 {name} 使用了未定义的字段 {field_name}")
    if not event.roles or not all(isinstance(role, Role) for role in event.roles):
        flaw("Event", name, f"事件 {name} 必须指明可办理的角色")
    for notice in event.notices:
        for message in _notify_problems(notice):
            flaw("Event", name, f"事件 {name} 的通知: {message}")


def _timer_problems(spec: TimerSpec, workflow: Workflow, states: set[str],
                    events: set[str]) -> list[str]:
    for part, example in (("states", '("assigned",)'), ("to", "(Recipient.owner,)"),
                          ("cc", "(Recipient.lead_leader,)")):
        if not _sequence(getattr(spec, part), str):
            return [f"{part} 应为元组, 如 {part}={example}"]
    found = spec.problems(states, events)
    found += [f"通知对象 {who} 未定义" for who in (*spec.to, *spec.cc)
              if not isinstance(who, Recipient)]
    event = workflow.event(spec.fire) if spec.fire in events else None
    if event is not None and isinstance(spec.values, Mapping):
        allowed = {*event.requires, *event.accepts}
        found += [f"事件 {event.name} 不接受 values 中的字段 {name}"
                  for name in spec.values if name not in allowed]
        found += [f"事件 {event.name} 需要字段 {name}, 请在 values 中给出"
                  for name in event.requires if name not in spec.values]
        found += [f"事件 {event.name} 不能在状态 {state} 办理" for state in spec.states
                  if state in states and not event.fires_from(state)]
    return found


def _notify_problems(notice: object) -> list[str]:
    if not isinstance(notice, Notify):
        return [f"{notice!r} 不是 Notify"]
    if not _sequence(notice.to, Recipient) or not _sequence(notice.cc, Recipient):
        return [f"通知 {notice.kind} 的 to/cc 应为 Recipient 的元组"]
    return []


def _sequence(value: object, member: type) -> bool:
    """A tuple or list of ``member`` (a lone string is the common slip: ``("assigned")``)."""
    return isinstance(value, tuple | list) and all(isinstance(v, member) for v in value)


def declared_as(workflow: Workflow) -> str:
    return f"工作流 {workflow.name} 第 {workflow.version} 版"


# -- loading modules and files ----------------------------------------------------------------
