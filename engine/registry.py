"""Finding workflows and building one state machine per workflow version.

Workflows come from packages of workflow modules (duban's own, handed over by the program
that assembles the service) and from the admin's folder (setting ``workflows_dir``). Each
file of the folder is loaded on its own: one that cannot be used (a syntax error, an
exception while it runs, a definition that does not hold together, a name and version some
other workflow already has) is skipped as a whole, with one line naming the file and the line,
and the other workflows are used as usual; an item whose workflow was in such a file says so
when it is touched. ``duban workflow check`` runs the same loading on a folder before it is
used. A packaged workflow that does not check out is a defect: nothing starts.

Machines are built lazily, once per (name, version), with ``model=None`` so that items are
never registered with them: the engine fires events on a small carrier object instead (one
Machine per item costs about 40 KiB, see bench/, and O(n) bookkeeping).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

from transitions import Machine

from duban.engine.errors import NotFound, SetupError
from duban.engine.validation import shown
from duban.engine.workflow import ANY_STATE, State, Workflow
from duban.engine.workflow_checks import validate
from duban.engine.workflow_files import PACKAGED, WorkflowFile, load_folder, packaged, warn


class StateCarrier:
    """What ``transitions`` moves: only the state of one item, for one firing."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


class Registry:
    """All known workflows by name and version, their machines, and the admin's files that
    could not be used."""

    def __init__(self, workflows: list[Workflow],
                 broken: Iterable[WorkflowFile] = ()) -> None:
        self._by_key: dict[tuple[str, int], Workflow] = {}
        self._machines: dict[tuple[str, int], Machine] = {}
        self.broken: tuple[WorkflowFile, ...] = tuple(broken)
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
        folder; a file of the folder that cannot be used is skipped with a warning."""
        found = [workflow for package in packages for workflow in packaged(package)]
        broken = []
        if extra_dir is not None:
            if not extra_dir.is_dir():
                raise SetupError(f"工作流目录 {extra_dir} 不存在")
            for loaded in load_folder(extra_dir, {(wf.name, wf.version): PACKAGED
                                                  for wf in found}):
                if loaded.ok:
                    found.extend(loaded.declared)
                else:
                    broken.append(loaded)
                    warn(f"{loaded.summary()}; 已跳过该文件, 其余工作流照常使用")
        return cls(found, broken)

    def names(self) -> list[str]:
        return sorted({name for name, _ in self._by_key})

    def latest(self, name: str) -> Workflow:
        versions = [wf for (wf_name, _), wf in self._by_key.items() if wf_name == name]
        if not versions:
            unusable = self._unusable(name, f"工作流 {name} ")
            if unusable:
                raise SetupError(unusable)
            raise NotFound(f"没有名为 {shown(name)} 的工作流; 现有: {', '.join(self.names())}"
                           + self._also_broken())
        return max(versions, key=lambda wf: wf.version)

    def get(self, name: str, version: int) -> Workflow:
        try:
            return self._by_key[(name, version)]
        except KeyError:
            what = f"工作流 {name} 第 {version} 版"
            raise SetupError(self._unusable(name, what) or (
                f"{what}已不在工作流目录中, 使用它的事项无法办理{self._also_broken()}")) from None

    def _unusable(self, name: str, what: str) -> str | None:
        """Why ``name`` is missing when a file that would declare it could not be used."""
        for loaded in self.broken:
            if loaded.may_hold(name):
                return (f"{what}无法加载: {loaded.summary()}; 使用它的事项暂不能办理, "
                        f"修正该文件即可恢复(可用 duban workflow check {loaded.path.parent} "
                        "检查)")
        return None

    def _also_broken(self) -> str:
        if not self.broken:
            return ""
        return "; 另有无法加载的工作流文件: " + "、".join(str(f.path) for f in self.broken)

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


# -- checking a definition ----------------------------------------------------------------------
