"""The README's walkthrough ("Using it"), every line run as written, in order, on a fresh home."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import ME

README = Path(__file__).resolve().parents[2] / "README.md"
VENV_BIN = Path(sys.executable).parent


def walkthrough() -> list[list[str]]:
    """The commands of the first code block under "## Using it", comments left out and each
    ``a && b`` taken as two commands."""
    section = README.read_text(encoding="utf-8").split("\n## Using it\n", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.S)
    assert found, "no sh block under Using it"
    commands = []
    for line in found[1].splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if line:
            commands += [shlex.split(part) for part in line.split("&&")]
    return commands


def fresh_home(tmp_path: Path) -> dict[str, str]:
    """A new user's environment: an empty home, duban's folders in it, the venv's bin first on
    the PATH (as after ``source .venv/bin/activate``), no DUBAN_ settings."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DUBAN_", "XDG_"))}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / ".local" / "share"),
               XDG_CONFIG_HOME=str(home / ".config"),
               PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}")
    return env


@pytest.mark.skipif(ME in ("wang", "zhao"), reason="the walkthrough registers these logins")
def test_the_walkthrough_runs_as_written_on_a_fresh_home(tmp_path):
    env = fresh_home(tmp_path)
    commands = walkthrough()
    assert commands[0] == ["duban", "init"] and len(commands) >= 10
    outputs = []
    for argv in commands:
        program = shutil.which(argv[0], path=env["PATH"])
        assert program and Path(program) == VENV_BIN / "duban", (argv, program)
        done = subprocess.run(argv, env=env, cwd=env["HOME"], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, (shlex.join(argv), done.stdout, done.stderr)
        outputs.append((argv, done.stdout))
    history = next(out for argv, out in outputs if argv[1:] == ["item", "history", "1"])
    assert re.search(r"zhao +销号 已核查 → 已销号", history), history
    last_argv, last_out = outputs[-1]
    assert last_argv[1:] == ["audit", "verify"]
    assert "审计链完整" in last_out
    # the first admin is the login that ran init, and the database is in the fresh home
    assert (tmp_path / "home" / ".local" / "share" / "duban" / "duban.db").exists()
    people = subprocess.run(["duban", "person", "list"], env=env, capture_output=True,
                            text=True, timeout=60).stdout
    assert re.search(rf"{re.escape(ME)} .*admin", people), people
