"""The structure holds: imports run one way, the layers keep to themselves, one name installs.

The import graph is read from the source (every import: at the top, inside functions and
under ``TYPE_CHECKING``), with ``duban.<part>`` mapped onto the repository's folders.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("engine", "workflows", "notifiers", "app", "web", "commands")
TOP_LEVEL = {*PARTS, "cli"}


def project_modules() -> dict[str, Path]:
    """Every module of the installed package, by its dotted name."""
    found = {"duban.cli": ROOT / "cli.py"}
    for part in PARTS:
        for path in (ROOT / part).rglob("*.py"):
            relative = path.relative_to(ROOT).with_suffix("")
            names = list(relative.parts)
            if names[-1] == "__init__":
                names.pop()
            found[".".join(["duban", *names])] = path
    return found


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules ``path`` imports, and the outside names it imports (prefixed ``!``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            if target in known:
                found.add(target)
            elif target.split(".")[0] != "duban":
                found.add("!" + target)
    return found


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {name: imports_of(path, name, known) for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt.startswith("!"):
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_module_imports_another_in_a_circle():
    cycle = find_cycle(graph())
    assert cycle is None, " → ".join(cycle or ())


@pytest.mark.parametrize("part, forbidden", [
    ("engine", ("duban.notifiers", "duban.workflows", "duban.app", "duban.web",
                "duban.commands", "duban.cli", "!click", "!fastapi")),
    ("workflows", ("duban.notifiers", "duban.app", "duban.commands", "duban.cli", "!click",
                   "!sqlalchemy")),
    ("notifiers", ("duban.app", "duban.web", "duban.commands", "duban.cli", "!click",
                   "!fastapi")),
    ("app", ("duban.web", "duban.commands", "duban.cli", "!click", "!fastapi")),
    ("web", ("duban.commands", "duban.cli", "!click")),
])
def test_each_layer_imports_only_what_lies_below_it(part, forbidden):
    offending = sorted(
        f"{module} imports {target.lstrip('!')}"
        for module, targets in graph().items() if module.startswith(f"duban.{part}")
        for target in targets
        if any(target == bad or target.startswith(bad + ".") for bad in forbidden)
    )
    assert offending == []


def test_nothing_imports_a_part_by_its_bare_name():
    """``import engine`` would load a second copy of the engine beside ``duban.engine``."""
    bare = sorted(
        f"{module} imports {target[1:]}"
        for module, targets in graph().items() for target in targets
        if target.startswith("!") and target[1:].split(".")[0] in TOP_LEVEL
    )
    assert bare == []


def test_the_packaged_workflows_keep_their_fingerprints():
    """A released workflow version that changes breaks every database whose items use it:
    a change must be declared as a new version (docs/WORKFLOWS.md)."""
    from duban import workflows
    from duban.engine.fingerprint import fingerprint
    from duban.engine.registry import Registry

    found = {(wf.name, wf.version): fingerprint(wf)
             for wf in Registry.discover((workflows,)).all_versions()}
    assert found == {
        ("hotline", 1): "76910ce8a39e0decad6349d12d4242d90e1fa33e1c8512a1c667b4d237227453",
        ("inspection", 1): "0f6e0726f9718970b6599c78c7c2a86bdbb42d8d1962afaba02eac17406cc177",
        ("inspection", 2): "9a297d1fd4822ecde8212e7caf730a960e27f4adaf868843065450e664279d5e",
        ("instruction", 1): "7bd4a6d14a4454d0047a0616d22dcda0639f7e1653d637e1daeb133588a2e442",
        ("key_task", 1): "c0e141437a61c78889baa08c5dda40837fee46784742ff252378f75f3903598a",
        ("proposal", 1): "7eea75b0fdd626adcec7dada35f13ccea76da71ad8aef261052777698592a4e9",
        ("standard", 1): "e7e5b61e9491f39eb78ae4e93717e813ccfeed8240427616b4c634a0943bb9d0",
    }


def test_an_install_adds_one_name_and_its_command_and_the_demo_runs_there(tmp_path):
    """Built as a wheel and installed into a new virtual environment, duban adds ``duban``,
    its distribution record and the ``duban`` command, and nothing else; the demo then runs
    from the installed copy, far from the checkout. The libraries duban needs come from this
    test's own environment, linked in after the install is measured."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python, bin_dir = venv / "bin" / "python", venv / "bin"
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip())
    before, bin_before = set(os.listdir(site)), set(os.listdir(bin_dir))
    wheels, source = tmp_path / "wheels", tmp_path / "source"
    # built from a copy: a build folder left in the checkout would go into the wheel
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(source)], check=True, capture_output=True)
    [wheel] = wheels.glob("duban-*.whl")
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True)
    version = wheel.name.split("-")[1]
    assert set(os.listdir(site)) - before == {"duban", f"duban-{version}.dist-info"}
    assert set(os.listdir(bin_dir)) - bin_before == {"duban"}
    assert {p.name for p in (site / "duban").iterdir() if p.name != "__pycache__"} == {
        "cli.py", *PARTS}
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("DUBAN_") and key != "PYTHONPATH"}
    env["HOME"] = str(elsewhere)
    where = subprocess.run(
        [str(python), "-c", "import duban.engine, duban.cli; "
                            "print(duban.engine.__file__); print(duban.cli.__file__)"],
        cwd=elsewhere, env=env, check=True, capture_output=True, text=True).stdout.split()
    assert all(path.startswith(str(site)) for path in where), where
    demo = subprocess.run([str(bin_dir / "duban"), "demo", "--db", str(elsewhere / "demo.db")],
                          cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr
    assert "审计链" in demo.stdout and "完整" in demo.stdout and "与现状一致" in demo.stdout
