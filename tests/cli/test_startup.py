"""What a command imports: only what it runs. A state change is the command people type most;
every library it loads for nothing is start-up time paid on each one (bench/core_bench.py)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from duban import cli as duban_cli
from tests.cli.conftest import Cli

# Runs duban's entry point, then writes down every module the process imported.
RECORDING = """
import json, sys
from duban.cli import main
record, sys.argv = sys.argv[1], ["duban", *sys.argv[2:]]
try:
    main()
finally:
    with open(record, "w", encoding="utf-8") as handle:
        json.dump(sorted(sys.modules), handle)
"""
# Never needed to change an item's state: the documents and their templates, the web, the
# migrations, the SQLModel rows (the engine writes plain tables) and the commands not run.
NOT_FOR_A_STATE_CHANGE = (
    "jinja2", "duban.notifiers", "docx", "docxtpl", "openpyxl", "weasyprint", "fastapi",
    "starlette", "uvicorn", "duban.web", "rich", "alembic", "sqlmodel", "pydantic",
    "sqlalchemy.orm", "duban.engine.rows", "argon2", "duban.engine.audit_verify",
    "multiprocessing", "concurrent.futures.process",
    *(f"duban.commands.{module}" for module in duban_cli.COMMAND_MODULES
      if module not in ("items", "evidence")),  # the command and its --attach files
)
# A notice is rendered from its template in the same transaction; its documents are not.
NOT_FOR_A_NOTICE = ("docx", "docxtpl", "openpyxl", "weasyprint", "fastapi", "duban.web",
                    "alembic", "sqlmodel")


def imported_by(cli: Cli, tmp_path: Path, *args: str) -> set[str]:
    record = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", RECORDING, str(record), *args], env=cli.env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(json.loads(record.read_text(encoding="utf-8")))


def among(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(name for name in names
                  if any(m == name or m.startswith(name + ".") for m in modules))


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_a_state_change_imports_neither_documents_nor_other_commands(cli, tmp_path):
    item = str(cli.json("--as", "zhao", "item", "new", "--title", "排查", "--unit", "JJK",
                        "--deadline", "2099-01-01")["id"])
    signed = imported_by(cli, tmp_path, "--as", "wang", "sign", item)
    assert {"duban.engine.items", "duban.commands.items", "sqlalchemy"} <= signed
    assert among(signed, NOT_FOR_A_STATE_CHANGE) == []
    assert cli.json("item", "show", item)["state"] == "in_progress"

    warned = imported_by(cli, tmp_path, "--as", "zhao", "warn", item, "--level", "yellow",
                         "--reason", "进展缓慢")  # writes a 预警 notice
    assert {"duban.notifiers.outbox", "jinja2"} <= warned
    assert among(warned, NOT_FOR_A_NOTICE) == []


def test_the_table_of_commands_names_each_module_and_its_commands():
    folder = Path(importlib.import_module("duban.commands").__path__[0])
    with_commands = {path.stem for path in folder.glob("*.py")
                     if hasattr(importlib.import_module(f"duban.commands.{path.stem}"),
                                "COMMANDS")}
    assert set(duban_cli.COMMAND_MODULES) == with_commands
    for module, names in duban_cli.COMMAND_MODULES.items():
        commands = importlib.import_module(f"duban.commands.{module}").COMMANDS
        assert tuple(command.name for command in commands) == names, module
