"""Finding workflows and building one state machine per workflow version.

Workflows come from packages of workflow modules (duban's own, handed over by the program
that assembles the service) and from the admin's folder (setting ``workflows_dir``); an
admin's module with the same name and version as a shipped one is an error, never a silent
override. Machines are built lazily, once per (name, version), with
``model=None`` so that items are never registered with them: the engine fires events on a
small carrier object instead (one Machine per item costs about 40 KiB, see bench/, and
O(n) bookkeeping).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

from transitions import Machine

from duban.engine.errors import NotFound, SetupError
from duban.engine.fields import STANDARD_FIELDS
from duban.engine.models import Role
from duban.engine.validation import shown
from duban.engine.workflow import ANY_STATE, State, Workflow

RESERVED_EVENT_NAMES = {"created", "edited", "refused", "migrated"}


class StateCarrier:
    """What ``transitions`` moves: only the state of one item, for one firing."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


class Registry:
    """All known workflows by name and version, and their machines."""

    def __init__(self, workflows: list[Workflow]) -> None:
        self._by_key: dict[tuple[str, int], Workflow] = {}
        self._machines: dict[tuple[str, int], Machine] = {}
        for workflow in workflows:
            key = (workflow.name, workflow.version)
            if key in self._by_key:
                raise SetupError(f"工作流 {workflow.name} 第 {workflow.version} 版重复定义")
            validate(workflow)
            self._by_key[key] = workflow

    @classmethod
    def discover(cls, packages: Iterable[ModuleType] = (),
                 extra_dir: Path | None = None) -> Registry:
        """Collect the workflows declared in the modules of ``packages`` and in the admin's
        folder."""
        found: list[Workflow] = []
        for package in packages:
            for info in pkgutil.iter_modules(package.__path__):
                module = importlib.import_module(f"{package.__name__}.{info.name}")
                found.extend(_declared(module))
        if extra_dir is not None:
            if not extra_dir.is_dir():
                raise SetupError(f"工作流目录 {extra_dir} 不存在")
            for path in sorted(extra_dir.glob("*.py")):
                if not path.name.startswith("_"):
                    found.extend(_declared(_load_file(path)))
        return cls(found)

    def names(self) -> list[str]:
        return sorted({name for name, _ in self._by_key})

    def latest(self, name: str) -> Workflow:
        versions = [wf for (wf_name, _), wf in self._by_key.items() if wf_name == name]
        if not versions:
            raise NotFound(f"没有名为 {shown(name)} 的工作流; 现有: {', '.join(self.names())}")
        return max(versions, key=lambda wf: wf.version)

    def get(self, name: str, version: int) -> Workflow:
        try:
            return self._by_key[(name, version)]
        except KeyError:
            raise SetupError(
                f"工作流 {name} 第 {version} 版已不在工作流目录中, 使用它的事项无法办理"
            ) from None

    def all_latest(self) -> list[Workflow]:
        return [self.latest(name) for name in self.names()]

    def all_versions(self) -> list[Workflow]:
        return list(self._by_key.values())

    def state_names(self, test: Callable[[State], bool] = lambda state: True) -> set[str]:
        """Names of the states, in any workflow and version, that pass ``test``."""
        return {state.name for wf in self._by_key.values() for state in wf.states if test(state)}

    def internal_notices(self) -> frozenset[str]:
        """The notice kinds any workflow marks internal."""
        return frozenset(kind for wf in self._by_key.values() for kind in wf.internal_notices)

    def machine(self, workflow: Workflow) -> Machine:
        key = (workflow.name, workflow.version)
        machine = self._machines.get(key)
        if machine is None:
            machine = self._machines[key] = build_machine(workflow)
        return machine

    def fire(self, workflow: Workflow, event_name: str, state: str) -> str:
        """Run one event through the workflow's machine and return the resulting state."""
        carrier = StateCarrier(state)
        self.machine(workflow).events[event_name].trigger(carrier)
        return carrier.state


def build_machine(workflow: Workflow) -> Machine:
    transitions = [
        {
            "trigger": event.name,
            "source": ANY_STATE if ANY_STATE in event.source else list(event.source),
            "dest": event.dest,
        }
        for event in workflow.events
    ]
    return Machine(
        model=None,
        states=[state.name for state in workflow.states],
        transitions=transitions,
        initial=None,
        auto_transitions=False,
        ignore_invalid_triggers=False,
    )


def validate(workflow: Workflow) -> None:
    """Refuse a declaration that would fail later, with a message that names the problem."""
    where = f"工作流 {workflow.name} 第 {workflow.version} 版"
    states = [state.name for state in workflow.states]
    if len(set(states)) != len(states):
        raise SetupError(f"{where}: 状态名重复")
    if workflow.initial not in states:
        raise SetupError(f"{where}: 初始状态 {workflow.initial} 未定义")
    known_fields = set(STANDARD_FIELDS) | {spec.name for spec in workflow.fields}
    seen: set[str] = set()
    for event in workflow.events:
        if not event.name.isidentifier() or event.name in RESERVED_EVENT_NAMES:
            raise SetupError(f"{where}: 事件名 {event.name} 不可用")
        if event.name in seen:
            raise SetupError(f"{where}: 事件 {event.name} 重复定义")
        seen.add(event.name)
        for source in event.source:
            if source != ANY_STATE and source not in states:
                raise SetupError(f"{where}: 事件 {event.name} 的起始状态 {source} 未定义")
        if event.dest is not None and event.dest not in states:
            raise SetupError(f"{where}: 事件 {event.name} 的目标状态 {event.dest} 未定义")
        for name in (*event.requires, *event.accepts):
            if name not in known_fields:
                raise SetupError(f"{where}: 事件 {event.name} 使用了未定义的字段 {name}")
        if not event.roles or not all(isinstance(role, Role) for role in event.roles):
            raise SetupError(f"{where}: 事件 {event.name} 必须指明可办理的角色")
    steps = [spec.step for spec in workflow.timers]
    if len(set(steps)) != len(steps):
        raise SetupError(f"{where}: 定时步骤名重复")
    for spec in workflow.timers:
        problems = spec.problems(set(states), seen)
        if problems:
            raise SetupError(f"{where}: 定时步骤 {spec.step}: {'; '.join(problems)}")


def _declared(module: ModuleType) -> list[Workflow]:
    declared = list(getattr(module, "WORKFLOWS", ()))
    single = getattr(module, "WORKFLOW", None)
    if single is not None:
        declared.append(single)
    for workflow in declared:
        if not isinstance(workflow, Workflow):
            raise SetupError(f"模块 {module.__name__} 的 WORKFLOW(S) 不是 Workflow 对象")
    return declared


def _load_file(path: Path) -> ModuleType:
    name = f"duban_admin_workflows.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SetupError(f"无法加载工作流文件 {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        raise SetupError(f"工作流文件 {path} 加载失败: {type(err).__name__}: {err}") from None
    return module
