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

import ast
import importlib
import importlib.util
import logging
import os
import pkgutil
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

from transitions import Machine

from duban.engine.errors import DubanError, NotFound, SetupError
from duban.engine.fields import STANDARD_FIELDS, FieldSpec
from duban.engine.models import Role
from duban.engine.timers import Recipient, TimerSpec
from duban.engine.validation import shown
from duban.engine.workflow import ANY_STATE, Event, Notify, State, Workflow

RESERVED_EVENT_NAMES = {"created", "edited", "refused", "migrated"}
ADMIN_MODULES = "duban_admin_workflows"
PACKAGED = "duban 自带的工作流"
EXPORTS = ("WORKFLOW", "WORKFLOWS")
log = logging.getLogger("duban.workflows")


class StateCarrier:
    """What ``transitions`` moves: only the state of one item, for one firing."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


class Flaw(NamedTuple):
    """One thing wrong in a definition, and the declaration it is about (the constructor
    and the name it was given), so that the line that declares it can be found."""

    kind: str  # "Workflow", "State", "Event", "TimerSpec", "FieldSpec"
    name: str
    message: str
    last: bool = False  # about a repeated name: the line of its last declaration


@dataclass(frozen=True)
class Problem:
    message: str
    line: int | None = None


@dataclass(frozen=True)
class WorkflowFile:
    """One file of the admin's folder as loaded: what it declares, or why it cannot be used."""

    path: Path
    declared: tuple[Workflow, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def place(self, problem: Problem) -> str:
        """``path:line``, as editors and compilers write it."""
        return f"{self.path}:{problem.line}" if problem.line else str(self.path)

    def summary(self) -> str:
        """One line: the file, the line and what is wrong there."""
        first = self.problems[0]
        line = f" 第 {first.line} 行" if first.line else ""
        more = f"(另有 {len(self.problems) - 1} 处问题)" if len(self.problems) > 1 else ""
        return f"工作流文件 {self.path}{line}: {first.message}{more}"

    def may_hold(self, name: str) -> bool:
        """Whether the workflow ``name`` is (or, the file not running, may be) declared here."""
        if self.declared:
            return any(workflow.name == name for workflow in self.declared)
        return self.path.stem == name


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
                    _warn(f"{loaded.summary()}; 已跳过该文件, 其余工作流照常使用")
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

def validate(workflow: Workflow) -> None:
    """Refuse a declaration that would fail later, with a message that names the problem."""
    flaws = definition_flaws(workflow)
    if flaws:
        raise SetupError(f"{_where(workflow)}: {flaws[0].message}")


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


def _where(workflow: Workflow) -> str:
    return f"工作流 {workflow.name} 第 {workflow.version} 版"


# -- loading modules and files ----------------------------------------------------------------

def packaged(package: ModuleType) -> list[Workflow]:
    """The workflows of every module of a package (duban's own)."""
    found: list[Workflow] = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        declared = _declared(module)
        if isinstance(declared, str):
            raise SetupError(f"模块 {module.__name__}: {declared}")
        found.extend(declared)
    return found


def load_folder(folder: Path, taken: Mapping[tuple[str, int], str] | None = None, *,
                keep: bool = True) -> list[WorkflowFile]:
    """Every workflow file of a folder (``*.py`` not starting with ``_``), each loaded on its
    own. ``taken`` names the versions declared elsewhere: a file declaring one of them again
    cannot be used, nor can a later file of the folder repeating an earlier one's. ``keep``
    leaves the modules that loaded in ``sys.modules`` (a check leaves nothing behind)."""
    owners = dict(taken or {})
    loaded = []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        result = load_file(path, keep=keep)
        if result.ok:
            again = [(wf, owners[(wf.name, wf.version)]) for wf in result.declared
                     if (wf.name, wf.version) in owners]
            if again:
                sys.modules.pop(f"{ADMIN_MODULES}.{path.stem}", None)
                lines = _Lines(path)
                result = WorkflowFile(path, result.declared, tuple(
                    Problem(f"{_where(wf)}重复定义(已见于 {owner}); 改动已在用的工作流请声明新版本",
                            lines.of(wf, Flaw("Workflow", wf.name, "")))
                    for wf, owner in again))
            else:
                owners.update({(wf.name, wf.version): path.name for wf in result.declared})
        loaded.append(result)
    return loaded


def load_file(path: Path, *, keep: bool = True) -> WorkflowFile:
    """One admin's workflow file, run as a module of its own and checked."""
    name = f"{ADMIN_MODULES}.{path.stem}"
    try:
        module = _run_module(name, path)
    except SyntaxError as err:
        return _failed(path, _syntax_problem(path, err))
    except (Exception, SystemExit) as err:  # whatever the file raised while it ran
        return _failed(path, Problem(f"运行时出错: {_error_text(err)}", _line_in(path, err)))
    finally:
        if not keep:
            sys.modules.pop(name, None)
    declared = _declared(module)
    if isinstance(declared, str):
        return _failed(path, Problem(declared, _Lines(path).assignment()), module=name)
    lines = _Lines(path)
    problems = []
    for workflow in declared:
        try:
            flaws = definition_flaws(workflow)
        except Exception as err:  # a part of an unexpected type
            flaws = [Flaw("Workflow", workflow.name, f"定义无法检查: {_error_text(err)}")]
        problems += [Problem(f"{_where(workflow)}: {flaw.message}", lines.of(workflow, flaw))
                     for flaw in flaws]
    if problems:
        problems.sort(key=lambda problem: problem.line or sys.maxsize)
        return _failed(path, *problems, module=name, declared=tuple(declared))
    return WorkflowFile(path, tuple(declared))


def _run_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"无法作为 Python 模块加载: {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _failed(path: Path, *problems: Problem, module: str | None = None,
            declared: tuple[Workflow, ...] = ()) -> WorkflowFile:
    sys.modules.pop(module or f"{ADMIN_MODULES}.{path.stem}", None)
    return WorkflowFile(path, declared, problems)


def _declared(module: ModuleType) -> list[Workflow] | str:
    """The workflows a module exports, or what is wrong with its ``WORKFLOW(S)``."""
    several = getattr(module, "WORKFLOWS", ())
    single = getattr(module, "WORKFLOW", None)
    if not isinstance(several, tuple | list):
        return "WORKFLOWS 应为 Workflow 对象的列表"
    declared = [*several, *([single] if single is not None else [])]
    if not all(isinstance(workflow, Workflow) for workflow in declared):
        return "WORKFLOW(S) 不是 Workflow 对象"
    if not declared and module.__name__.startswith(ADMIN_MODULES):
        return "未声明 WORKFLOW 或 WORKFLOWS(只放辅助代码的文件请以 _ 开头命名)"
    return declared


def _syntax_problem(path: Path, err: SyntaxError) -> Problem:
    if err.filename and not _same_file(err.filename, path):  # in a file it imports
        return Problem(f"运行时出错: {_error_text(err)}", _line_in(path, err))
    return Problem(f"语法错误: {err.msg}", err.lineno)


def _error_text(err: BaseException) -> str:
    if isinstance(err, DubanError):
        return err.message
    if isinstance(err, SyntaxError):
        return f"SyntaxError: {err.msg} ({err.filename} 第 {err.lineno} 行)"
    if isinstance(err, SystemExit):
        return f"调用了 sys.exit({err.code!r})"
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _line_in(path: Path, err: BaseException) -> int | None:
    """The line of ``path`` the error came from: its innermost frame in that file, however
    deep in the engine it was raised."""
    lines = [frame.lineno for frame in traceback.extract_tb(err.__traceback__)
             if _same_file(frame.filename, path)]
    return lines[-1] if lines else None


def _same_file(name: str, path: Path) -> bool:
    if name == os.fspath(path):
        return True
    try:
        return os.path.samefile(name, path)
    except OSError:
        return False


@dataclass
class _Lines:
    """Where a file declares things, read from its syntax tree: each constructor call with
    its first argument (``Event("sign", …)``, ``Workflow(name="petition", …)``)."""

    path: Path
    calls: dict[tuple[str, str], list[tuple[int, int, int]]] = field(default_factory=dict)
    assignments: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        try:
            tree = ast.parse(self.path.read_bytes())
        except (OSError, SyntaxError, ValueError):
            return
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                named = _call_name(node)
                if named:
                    self.calls.setdefault(named, []).append(
                        (node.lineno, node.end_lineno or node.lineno, _version_of(node)))
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id in EXPORTS for t in targets):
                    self.assignments.append(node.lineno)
            elif isinstance(node, ast.ImportFrom):  # re-exported from elsewhere
                if any((alias.asname or alias.name) in EXPORTS for alias in node.names):
                    self.assignments.append(node.lineno)
        for found in self.calls.values():
            found.sort()

    def assignment(self) -> int | None:
        return min(self.assignments, default=None)

    def of(self, workflow: Workflow, flaw: Flaw) -> int | None:
        """The line declaring what ``flaw`` is about; else the workflow's own; else where the
        module exports it."""
        span = self._workflow(workflow)
        candidates = self.calls.get((flaw.kind, flaw.name), [])
        inside = [c for c in candidates if span and span[0] <= c[0] <= span[1]]
        chosen = inside or candidates
        if chosen:
            return (chosen[-1] if flaw.last else chosen[0])[0]
        return span[0] if span else self.assignment()

    def _workflow(self, workflow: Workflow) -> tuple[int, int] | None:
        calls = self.calls.get(("Workflow", workflow.name), [])
        exact = [c for c in calls if c[2] == workflow.version] or calls
        return (exact[0][0], exact[0][1]) if exact else None


def _call_name(node: ast.Call) -> tuple[str, str] | None:
    func = node.func
    kind = func.id if isinstance(func, ast.Name) else (
        func.attr if isinstance(func, ast.Attribute) else None)
    if kind not in ("Workflow", "State", "Event", "TimerSpec", "FieldSpec"):
        return None
    first = node.args[0] if node.args else next(
        (k.value for k in node.keywords if k.arg in ("name", "step")), None)
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return kind, first.value
    return None


def _version_of(node: ast.Call) -> int:
    given = next((k.value for k in node.keywords if k.arg == "version"), None)
    if given is None and len(node.args) > 1:
        given = node.args[1]
    return given.value if isinstance(given, ast.Constant) and isinstance(given.value, int) else 0


def _warn(message: str) -> None:
    """A program that set up logging (the daemon) gets the warning in its log; elsewhere (the
    shell, the web server) it is one line on stderr, as the command line's errors are."""
    if log.hasHandlers():
        log.warning(message)
    else:
        print(f"警告: {message}", file=sys.stderr)
