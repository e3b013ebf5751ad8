"""The real CLI in a subprocess, against an office set up through the service API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from duban.app import build_service
from duban.commands.context import os_login
from duban.engine.clock import SystemClock
from duban.engine.directory import NewPerson

DUBAN = str(Path(sys.executable).with_name("duban"))
ME = os_login()  # the CLI knows its user by the real user id: the office's first admin


class Cli:
    """Runs ``duban`` as the operating-system user running the tests against one database."""

    def __init__(self, db_url: str, tmp_path: Path) -> None:
        # a settings file of its own: the evidence store in the test's folder (a PostgreSQL
        # database's default would be the user's data folder, shared by every test)
        self.config = tmp_path / "duban.toml"
        self.evidence = tmp_path / "evidence"
        self.config.write_text(f'[evidence]\nfolder = "{self.evidence}"\n', encoding="utf-8")
        self.env = {
            **os.environ,
            "DUBAN_DB": db_url,
            "DUBAN_AUDIT_KEY": str(tmp_path / "audit.key"),
            "DUBAN_CONFIG": str(self.config),
        }
        for name in ("DUBAN_AS", "DUBAN_NOW"):
            self.env.pop(name, None)

    def run(self, *args: str, code: int = 0, stdin: str | None = None
            ) -> subprocess.CompletedProcess:
        done = subprocess.run([DUBAN, *args], env=self.env, capture_output=True, text=True,
                              timeout=60, input=stdin)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        return done

    def json(self, *args: str) -> object:
        return json.loads(self.run(*args, "--json").stdout)

    def error(self, *args: str, code: int, stdin: str | None = None) -> str:
        done = self.run(*args, code=code, stdin=stdin)
        assert "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        return lines[0]


@pytest.fixture
def cli(settings, tmp_path) -> Cli:
    """An office set up through the service API (quick); the tests then use the real CLI."""
    runner = Cli(settings.db_url, tmp_path)
    runner.run("init", "--admin-name", "办公室管理员")
    service = build_service(replace(settings, audit_key_path=tmp_path / "audit.key"), SystemClock())
    service.add_unit(ME, "DCS", "局督查室")
    service.add_unit(ME, "JJK", "基础教育科")
    service.add_person(ME, NewPerson("zhao", "赵敏", "DCS", ("supervisor",)))
    service.add_person(ME, NewPerson("wang", "王芳", "JJK", ("handler",)))
    service.close()
    return runner
