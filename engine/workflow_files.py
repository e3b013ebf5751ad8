"""The admin's workflow files: each file of the folder run as a module of its own and
checked, the file and line of whatever keeps it from being used, and duban's own workflow
packages."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import logging
import os
import pkgutil
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from duban.engine.errors import DubanError, SetupError
from duban.engine.workflow import Workflow
from duban.engine.workflow_checks import Flaw, declared_as, definition_flaws

ADMIN_MODULES = "duban_admin_workflows"
PACKAGED = "duban 自带的工作流"
EXPORTS = ("WORKFLOW", "WORKFLOWS")
log = logging.getLogger("duban.workflows")


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
                    Problem(f"{declared_as(wf)}重复定义(已见于 {owner}); "
                            "改动已在用的工作流请声明新版本",
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
        problems += [Problem(f"{declared_as(workflow)}: {flaw.message}", lines.of(workflow, flaw))
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


def warn(message: str) -> None:
    """A program that set up logging (the daemon) gets the warning in its log; elsewhere (the
    shell, the web server) it is one line on stderr, as the command line's errors are."""
    if log.hasHandlers():
        log.warning(message)
    else:
        print(f"警告: {message}", file=sys.stderr)
