"""A generated bad-input battery over the whole command line, each case in a subprocess.

The click tree is walked, so a new command or option is covered without editing this file.
Every case runs the real ``duban`` on its own copy of the demo database with one bad input
(a value, a file, an output path, an unknown option, a missing argument, a global option) and
must answer like a tool, not crash: no traceback, exit 2-5 (6 for the audit's own checks,
7 for a database, settings file, port or host that cannot be used), the database unchanged
but for appended ``refused`` audit rows, and no file left behind. Exit 0 is recorded apart
and is a failure only where the value is invalid by construction (``strict``).

    .venv/bin/pytest -q tests/cli/test_battery.py                       # quick set
    DUBAN_BATTERY=full .venv/bin/pytest -q -s tests/cli/test_battery.py # and >= 1,000 cases
    DUBAN_BATTERY_REPORT=/tmp/battery.json ...                          # the summary as JSON
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest

from duban.cli import cli as ROOT
from duban.commands.options import Number
from tests.cli.conftest import DUBAN

Arg = str | bytes

QUICK = (20261102, 100)  # (seed, cases): runs in the normal suite
FULL = (20270104, 1200)
TIMEOUT = 60  # seconds; a case still running then is a runaway
MEMORY = 2 << 30  # address space of one case: reading /dev/zero whole ends in MemoryError
WORKERS = min(4, max(2, os.cpu_count() or 2))
NOW = "2027-01-04 09:00"  # where the demo's quarter ends
ACTORS = ("demo_admin", "zhao_m", "wang_f")  # admin, supervisor, handler
REFUSALS = frozenset({2, 3, 4, 5})
HAZARDS = {("serve",), ("daemon",), ("demo",)}  # a valid call runs for ever or rebuilds: only
# values that cannot be valid are given to them
SQLITE_AUX = ("-wal", "-shm", "-journal", "-writer")  # come and go with every connection
# Sets resource limits, then becomes duban: bytes arguments pass through unchanged.
LIMITED = ("import os, resource, sys; "
           "resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]),) * 2); "
           "os.execv(sys.argv[2], sys.argv[2:])")

# -- bad values, by kind ------------------------------------------------------------------------

HOSTILE_TEXT: tuple[str, ...] = (
    "1; DROP TABLE item", "' OR 1=1 --", '"; DELETE FROM audit_event; --', "%", "_", "\\",
    "\x01\x02\x03", "\x1b[31m红色\x1b[0m", "\u2028", "\u202egnp.exe", "a\r\nb", "\t", "", " ",
    "\u200b", "😀" * 10, "{{ 7*7 }}", "{% for x in range(10**9) %}x{% endfor %}",
    "<script>alert(1)</script>", "${HOME}$(id)`id`", "%s%n%x", "../../../etc/passwd", "null",
    "\ufeff", "\U0010ffff", "\x7f", "\x1b]0;title\x07", "A" * 100_000, "中" * 40_000,
)
BAD_BYTES: tuple[bytes, ...] = (  # argv cannot hold NUL; these are not UTF-8
    b"\xff", b"abc\xffdef", b"\xed\xa0\x80", b"\xc0\x80", b"\x80\x80", b"\xe4\xb8",
    b"\xf4\x90\x80\x80", b"\xfe\xff",
)
NUMBERS = ("0", "-1", str(2**63), str(2**63 - 1), str(10**30), "1e9", "0x10", "１２", "²", "①",
           "٣", "1_000", "+5", "", " ", "nan", "inf", "9" * 26, "-0", "0.5", "12abc", "007",
           str(-(2**63) - 1), " 7")
FLOATS = ("nan", "NaN", "inf", "-inf", "1e309", "-0", "0", "0x10", "１２", "1e-400", "3651", "",
          "-1", "1e9")
CHOICES = ("", "JSON", "xml", "pending ", "dead,sent", "\x01", "unit\n", "*")
# (value, strict): strict values are no date in any reading, exit 0 on them is a defect
DATES = (("2026-13-45", True), ("99999-01-01", True), ("", False), ("now+9999y", True),
         ("2026-02-30", True), ("0000-01-01", True), ("0001-01-01 00:00", False),
         ("0001-01-01", False), ("9999-12-31 23:59", False), ("9999-12-31", False),
         ("2026-11-02T25:61", True), ("2026-11-02 09:00+99:00", True), ("1e9", True),
         ("２０２６-１１-０２", False), ("tomorrow", True), ("2026/11/02", True),
         ("20261102", False), ("2026-W45-1", False), ("1970-01-01", False),
         ("2026-11-02 09:00:00.9999999", False), ("-1", False), ("2026-11-02 09:00+14:00", False))
DURATIONS = (("99999个工作日", False), ("-5天", False), ("0天", False), ("1e9天", True),
             ("10**30 workdays", True), ("9999999999个月", False), ("２小时", False),
             ("五个工作日", False), ("10个工作日后", True), ("9" * 30 + "天", False))
PERIODS = (("2026-13", True), ("2026-Q0", True), ("2026-Q5", True), ("2026-H3", True),
           ("99999", True), ("0", True), ("2026-W99", True), ("", False), ("10**30", True),
           ("2026-Q4-Q4", True), ("1900", False), ("9999", False), ("2026-00", True),
           ("-2026", True))
EVENTS = (("no_such_event", True), ("created", True), ("refused", True), ("migrated", True),
          ("edited", True), ("__init__", True), ("__class__", True), ("trigger", True),
          ("to_closed", True), ("may_sign", True), ("SIGN", False), ("sign ", False),
          ("state", True), ("e" * 65, True), ("__dict__", True), ("machine", True),
          ("get_triggers", True))
PAIRS = (("noequals", True), ("=x", True), ("unknown=1", False), ("deadline=2026-13-45", False),
         ("state=closed", False), ("id=999", False), ("__class__=x", False),
         ("a" * 100_000 + "=1", False), ("x=" + "a" * 100_000, False),
         ("category=1; DROP TABLE item", False), ("=", True), (" =x", True))
REFS = ("no_such", "ZHAO_M", "zhao_m ", "root", "demo_admin\n", "JJK ", "jjk", "standard ",
        "closed", "admin", "*")
URLS = (("ftp://example.invalid/x", False), ("http://", True), ("javascript:alert(1)", True),
        ("file:///etc/passwd", True), ("http://[::1", True), ("not a url", True),
        ("https://example.invalid/\r\nX-Evil: 1", True), ("http://127.0.0.1:1/hook", False),
        ("http://" + "a" * 100_000, True))
HOSTS = ("1; DROP TABLE item", "' OR 1=1 --", "A" * 100_000, "\x1b[31m", "256.256.256.256",
         "http://x", "[::1", "no-such-host.invalid", "\u202e", b"\xff")
SECRETS = (b"", b"\n\n", b"\xff\xfe\n\xff\n", b"x" * 100_000 + b"\n", b"\x1b[31m\r\n\x01\n",
           b"' OR 1=1 --\n' OR 1=1 --\n")
UNKNOWN_OPTIONS = ("--no-such-option", "--jso", "-x", "---", "--db", "--reason", "-", "--title")
CONFIGS = {  # settings files that must be refused, or used without a crash
    "conf_unknown.toml": 'nonsense = 1\n',
    "conf_timezone.toml": 'timezone = "Mars/Olympus_Mons"\n',
    "conf_closing.toml": 'closing_time = "25:99"\n',
    "conf_types.toml": '[evidence]\nmax_mb = "many"\nmax_files = -1\n'
                       '[accounts]\nlockout_failures = "x"\n',
    "conf_paths.toml": '[evidence]\nfolder = "/dev/full"\n[notices]\noutbox = "/proc/x"\n',
    "conf_db.toml": 'db = "/dev/zero"\n',
    "conf_array.toml": 'timezone = ["a"]\n',
    "conf_table.toml": 'office = 5\n',
}
EXTENSIONS = ("xlsx", "toml", "pdf", "jsonl", "txt", "bin", "db")

# -- how a parameter is filled: a valid value for the baseline, a kind for its bad values -------

BASELINE = {
    "item_id": "28", "evidence_id": "1", "notice_id": "5", "token_id": "1", "login": "wang_f",
    "code": "JJK", "name": "测试", "text": "公开进展", "event": "progress", "title": "测试事项",
    "lead_unit": "JJK", "deadline": "2027-02-01", "period": "2026-Q4", "start": "2026-11-02",
    "day": "2026-11-02", "year": "2026", "until": "2027-01-10", "reason": "理由",
    "successor": "liu_y", "campaign": "秋季抽查", "unit_count": "1", "inspector_count": "1",
    "seed": "20261102", "item_ids": "28", "evaluators": "wang_f", "rating": "良好",
    "from_version": "1", "to_version": "1", "url": "https://example.invalid/hook",
}
BASELINE_BY_COMMAND = {
    (("unit", "add"), "code"): "NEWU", (("person", "add"), "login"): "new_p",
    (("workflow", "show"), "name"): "standard", (("workflow", "migrate"), "name"): "standard",
    (("calendar", "add"), "period"): "5 workdays", (("notices", "preview"), "notice_id"): "5",
}
KIND_BY_NAME = {
    "deadline": "duration", "until": "date", "at": "date", "start": "date", "day": "date",
    "period": "period", "event": "event", "extra_fields": "pairs", "fields": "pairs",
    "mapping": "pairs", "url": "url", "host": "host",
}
KIND_BY_COMMAND = {(("calendar", "add"), "period"): "duration", (("demo",), "demo_db"): "demo_db"}
REF_NAMES = {"login", "code", "unit", "person", "leader", "successor", "for_login", "evaluators",
             "deputy", "head", "liaison", "parent", "lead_unit", "unit_code", "co_units",
             "unit_pool", "inspector_pool", "roles", "workflow", "state", "source", "kind",
             "level", "rating", "style"}
FILE_NAMES = {"files", "attach", "out"}  # file parameters without a click.Path type
OUTPUT_NAMES = {"xlsx", "out", "to", "folder"}
EXTENSION_BY_NAME = {"xlsx": "xlsx", "attach": "pdf", "files": "pdf", "anchor_files": "jsonl",
                     "to": "jsonl"}
EXTENSION_BY_GROUP = {"import": "xlsx", "calendar": "toml", "notices": "txt", "evidence": "pdf"}
# A refusal that is also a record by design: failed sign-ins are counted and audited.
DESIGNED_WRITES = {"account": (frozenset({"sign_in_failed", "locked"}), frozenset({"account"}))}


@dataclass(frozen=True)
class Target:
    path: tuple[str, ...]
    command: click.Command

    @property
    def is_group(self) -> bool:
        return isinstance(self.command, click.Group)

    @property
    def hazard(self) -> bool:
        return self.path in HAZARDS


@dataclass(frozen=True)
class Case:
    number: int
    command: tuple[str, ...]
    label: str  # what is bad about it
    argv: tuple[Arg, ...]
    stdin: bytes = b""
    strict: bool = True  # exit 0 is a defect
    codes: frozenset[int] = REFUSALS
    files: tuple[tuple[str, bytes], ...] = ()  # made in the case's folder before it runs
    actions: frozenset[str] = frozenset()  # audit actions a refusal may append, besides refused
    tables: frozenset[str] = frozenset()  # tables a refusal may change


@dataclass
class Result:
    case: Case
    code: int | None  # None: killed at the timeout
    seconds: float
    stdout: str
    stderr: str
    problems: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.code == 0 and not self.problems


@dataclass(frozen=True)
class World:
    root: Path
    base: Path  # the demo's folders: home, data, config
    materials: Path  # hostile input files, shared and read only

    def case_dir(self, number: int) -> Path:
        return self.root / "cases" / f"{number:05d}"


def leaves(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[Target]:
    """Every group and command under ``group``: new ones are covered without a change here."""
    context = click.Context(group)  # the group's own listing: duban's loads its modules then
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        yield Target((*path, name), command)
        if isinstance(command, click.Group):
            yield from leaves(command, (*path, name))


def option_name(param: click.Parameter) -> str:
    return max((o for o in param.opts if o.startswith("--")), key=len, default=param.opts[0])


def is_flag(param: click.Parameter) -> bool:
    return isinstance(param, click.Option) and (param.is_flag or param.count)


def kind_of(target: Target, param: click.Parameter) -> str:
    kind_type = param.type
    if isinstance(kind_type, Number | click.types.IntParamType):
        return "number"
    if isinstance(kind_type, click.types.FloatParamType):
        return "float"
    if isinstance(kind_type, click.Choice):
        return "choice"
    name = param.name or ""
    if (target.path, name) in KIND_BY_COMMAND:
        return KIND_BY_COMMAND[target.path, name]
    if isinstance(kind_type, click.Path) or name in FILE_NAMES:
        if name not in OUTPUT_NAMES:
            return "infile"
        file_okay = not isinstance(kind_type, click.Path) or kind_type.file_okay
        return "outfile" if file_okay else "outfolder"
    if name in KIND_BY_NAME:
        return KIND_BY_NAME[name]
    return "ref" if name in REF_NAMES else "text"


def number_valid(kind_type: click.ParamType, value: Arg) -> bool:
    """Whether a number parameter would take ``value``: the same test as ``Number``."""
    if isinstance(value, bytes):
        return False
    text = value.strip()
    try:
        number = int(text)
    except ValueError:
        return False
    if isinstance(kind_type, Number):
        return text.lstrip("-").isdigit() and len(text) <= 25 and (
            kind_type.low <= number <= kind_type.high)
    return True


def float_valid(kind_type: click.ParamType, value: Arg) -> bool:
    if isinstance(value, bytes):
        return False
    try:
        number = float(value)
    except ValueError:
        return False
    low, high = getattr(kind_type, "min", None), getattr(kind_type, "max", None)
    return number == number and (low is None or number >= low) and (high is None
                                                                     or number <= high)


def extension(target: Target, name: str) -> str:
    return EXTENSION_BY_NAME.get(name) or EXTENSION_BY_GROUP.get(target.path[0], "bin")


# -- the generator -------------------------------------------------------------------------------

@dataclass
class Draft:
    """One invocation being built: a valid baseline, then one thing made wrong."""

    target: Target
    folder: Path
    globals_: dict[str, Arg]
    values: dict[str, list[Arg]]
    extra_globals: list[Arg] = field(default_factory=list)
    inline: set[str] = field(default_factory=set)  # options given as --name=value
    tail: list[Arg] = field(default_factory=list)  # after the positional arguments
    label: str = ""
    strict: bool = True
    codes: frozenset[int] = REFUSALS
    stdin: bytes = b""
    files: list[tuple[str, bytes]] = field(default_factory=list)

    def argv(self) -> tuple[Arg, ...]:
        out: list[Arg] = []
        for name, value in self.globals_.items():
            out += [name, value]
        out += self.extra_globals
        out += list(self.target.path)
        positionals: list[Arg] = []
        for param in self.target.command.params:
            for value in self.values.get(param.name or "", ()):
                if isinstance(param, click.Argument):
                    positionals.append(value)
                elif param.name in self.inline:
                    prefix = option_name(param) + "="
                    out.append(prefix.encode() + value if isinstance(value, bytes)
                               else prefix + value)
                else:
                    out += [option_name(param), value]
        if any(value.startswith(b"-" if isinstance(value, bytes) else "-")
               for value in positionals):
            out.append("--")  # a value starting with '-' is a value, not an option
        return (*out, *positionals, *self.tail)


class Battery:
    def __init__(self, world: World, seed: int) -> None:
        self.world, self.rng = world, random.Random(seed)
        self.targets = list(leaves(ROOT))

    def cases(self, count: int) -> list[Case]:
        """``count`` cases, every command in turn (shuffled) so that a quick set covers all."""
        order: list[Target] = []
        while len(order) < count:
            batch = self.targets[:]
            self.rng.shuffle(batch)
            order += batch
        return [self.case(number, target) for number, target in enumerate(order[:count])]

    def case(self, number: int, target: Target) -> Case:
        rng = self.rng
        folder = self.world.case_dir(number)
        db = str(folder / "data" / "duban" / "demo.db")
        draft = Draft(target, folder, {"--db": db, "--as": rng.choice(ACTORS), "--now": NOW},
                      self.baseline(target, folder))
        if target.path[0] == "account":
            draft.stdin = rng.choice(SECRETS)
        self.mutate(draft)
        actions, tables = DESIGNED_WRITES.get(target.path[0], (frozenset(), frozenset()))
        codes = draft.codes | ({6} if target.path[0] == "audit" else set())
        return Case(number, target.path, draft.label, draft.argv(), draft.stdin, draft.strict,
                    frozenset(codes), tuple(draft.files), actions, tables)

    def baseline(self, target: Target, folder: Path) -> dict[str, list[Arg]]:
        values: dict[str, list[Arg]] = {}
        for param in target.command.params:
            name = param.name or ""
            wanted = param.required or (target.path, name) in BASELINE_BY_COMMAND
            if wanted and not target.is_group:
                values[name] = [self.valid(target, param, folder)]
        return values

    def valid(self, target: Target, param: click.Parameter, folder: Path) -> Arg:
        name = param.name or ""
        if (target.path, name) in BASELINE_BY_COMMAND:
            return BASELINE_BY_COMMAND[target.path, name]
        kind = kind_of(target, param)
        if kind == "infile":
            return str(self.world.materials / f"ok.{extension(target, name)}")
        if kind in ("outfile", "outfolder"):
            return str(folder / "out" / f"result.{extension(target, name)}")
        if isinstance(param.type, click.Choice):
            return str(param.type.choices[0])
        if isinstance(param.type, Number):
            return BASELINE.get(name, str(param.type.low))
        return BASELINE.get(name, "x")

    def mutate(self, draft: Draft) -> None:
        rng, target = self.rng, draft.target
        own = [p for p in target.command.params  # the global options have cases of their own
               if not getattr(p, "hidden", False)]
        params = [p for p in own if not is_flag(p)]
        flags = [p for p in own if is_flag(p)]
        roll = rng.random()
        if target.is_group:
            self.group_case(draft)
        elif roll < 0.62 and params:
            self.bad_value(draft, rng.choice(params))
        elif roll < 0.70:
            self.unknown_option(draft)
        elif roll < 0.78 and self.missing(draft, params):
            pass
        elif roll < 0.83:
            draft.tail.append(rng.choice(["extra", "28", "-"]) if roll < 0.82 else "\x01")
            draft.label = f"an extra argument {draft.tail[-1]!r}"
        elif roll < 0.86 and flags:
            flag = rng.choice(flags)
            draft.tail.append(option_name(flag) + "=" + rng.choice(["yes", "0", "", "\xff"]))
            draft.label = f"a flag given a value: {draft.tail[-1]!r}"
        elif not target.hazard:
            self.bad_global(draft)
        else:
            self.unknown_option(draft)

    def group_case(self, draft: Draft) -> None:
        roll = self.rng.random()
        if roll < 0.4:
            draft.label = "a group without its command"
        elif roll < 0.8:
            draft.tail.append(self.rng.choice(["nosuch", "LIST", "show ", "\x1b[31m", "--"]))
            draft.label = f"an unknown command {draft.tail[-1]!r}"
        else:
            self.unknown_option(draft)

    def unknown_option(self, draft: Draft) -> None:
        known = {o for p in draft.target.command.params for o in p.opts}
        choices = [o for o in UNKNOWN_OPTIONS if o not in known]
        draft.tail.insert(0, self.rng.choice(choices))
        draft.label = f"an unknown option {draft.tail[0]!r}"

    def missing(self, draft: Draft, params: Sequence[click.Parameter]) -> bool:
        required = [p for p in params if p.required and (p.name or "") in draft.values]
        options = [p for p in params if isinstance(p, click.Option)]
        if required and (self.rng.random() < 0.6 or not options):
            gone = self.rng.choice(required)
            del draft.values[gone.name or ""]
            draft.label = f"missing {gone.human_readable_name}"
            return True
        if options:
            dangling = self.rng.choice(options)
            draft.tail.append(option_name(dangling))
            draft.label = f"{option_name(dangling)} without its value"
            return True
        return False

    def bad_value(self, draft: Draft, param: click.Parameter) -> None:
        rng, target = self.rng, draft.target
        kind = kind_of(target, param)
        value, strict, what = self.pick(kind, param, draft)
        name = param.name or ""
        multiple = getattr(param, "multiple", False) or param.nargs == -1
        if multiple and name in draft.values and rng.random() < 0.5:
            draft.values[name].append(value)
        else:
            draft.values[name] = [value]
        if isinstance(param, click.Option) and rng.random() < 0.3:
            draft.inline.add(name)
        draft.strict = strict
        draft.label = f"{param.human_readable_name}: {kind} {what}"
        if kind in ("demo_db", "host"):
            draft.codes = REFUSALS | {7}

    def pick(self, kind: str, param: click.Parameter, draft: Draft) -> tuple[Arg, bool, str]:
        """A bad value for a parameter of this kind: (value, strict, description)."""
        rng, target = self.rng, draft.target
        name = param.name or ""
        files = {"infile", "outfile", "outfolder", "demo_db", "host"}
        if kind not in files and rng.random() < 0.3:
            value = rng.choice(HOSTILE_TEXT + BAD_BYTES)
            typed = kind in ("number", "float", "choice", "event", "url", "date", "duration",
                             "period")
            return value, typed and value not in ("", " ") and not (
                kind == "number" and number_valid(param.type, value)), shown_value(value)
        if kind == "number":
            value = rng.choice(NUMBERS)
            if target.hazard:
                value = rng.choice([n for n in NUMBERS if not number_valid(param.type, n)])
            return value, not number_valid(param.type, value), repr(value)
        if kind == "float":
            value = rng.choice([f for f in FLOATS if not float_valid(param.type, f)]
                               if target.hazard else FLOATS)
            return value, not float_valid(param.type, value), repr(value)
        if kind == "choice":
            value = rng.choice(CHOICES)
            return value, value not in param.type.choices, repr(value)  # type: ignore
        if kind in ("date", "duration", "period", "event", "pairs", "url"):
            pool = {"date": DATES, "duration": DATES + DURATIONS, "period": PERIODS,
                    "event": EVENTS, "pairs": PAIRS, "url": URLS}[kind]
            value, strict = rng.choice(pool)
            return value, strict, shown_value(value)
        if kind == "host":
            value = rng.choice(HOSTS)
            return value, True, shown_value(value)
        if kind == "infile":
            what, value, strict = rng.choice(self.inputs(extension(target, name)))
            return value, strict or name == "path", what
        if kind in ("outfile", "outfolder", "demo_db"):
            ext = "db" if kind == "demo_db" else extension(target, name)
            pool = self.outputs(draft.folder, ext, folder_kind=kind == "outfolder")
            if kind == "demo_db":  # an empty value means the default demo: rebuilt, exit 0
                pool = [entry for entry in pool if entry[1] != ""]
                pool.append(("a PostgreSQL URL", "postgresql://u@127.0.0.1:1/x", True))
                pool.append(("an existing file", str(draft.folder / "plain.txt"), True))
            what, value, strict = rng.choice(pool)
            return value, strict, what
        value = rng.choice(REFS + HOSTILE_TEXT + BAD_BYTES)
        return value, False, shown_value(value)

    def bad_global(self, draft: Draft) -> None:
        rng = self.rng
        option = rng.choice(["--now", "--now", "--as", "--db", "--db", "--config", "--token"])
        draft.strict = False
        if option == "--now":
            value, draft.strict = rng.choice(DATES)
            draft.globals_["--now"] = value
        elif option in ("--as", "--token"):
            value = rng.choice(REFS + HOSTILE_TEXT + BAD_BYTES + ("dbn_" + "A" * 40,))
            if option == "--as":
                draft.globals_["--as"] = value
            else:
                draft.extra_globals += ["--token", value]
        elif option == "--db":
            what, value = rng.choice(self.databases(draft))
            draft.globals_["--db"] = value
            draft.codes = REFUSALS | {7}
            draft.label = f"--db: {what}"
            return
        else:
            pool = self.inputs("toml") + [(f"a settings file {name}", str(self.world.materials
                                                                             / name), False)
                                          for name in CONFIGS]
            what, value, _ = rng.choice(pool)
            draft.extra_globals += ["--config", value]
            draft.codes = REFUSALS | {7}
            draft.label = f"--config: {what}"
            return
        draft.label = f"{option}: {shown_value(value)}"

    def inputs(self, ext: str) -> list[tuple[str, Arg, bool]]:
        """Files to read: (what, path, invalid wherever a file is read)."""
        m = self.world.materials
        raw = os.fsencode(m)
        return [
            ("an empty file", f"{m}/empty.{ext}", False),
            ("random bytes", f"{m}/random.{ext}", False),
            ("a zip with broken XML", f"{m}/broken.xlsx", False),
            ("a truncated zip", f"{m}/truncated.xlsx", False),
            ("XML entity expansion", f"{m}/laughs.xlsx", False),
            ("deeply nested TOML", f"{m}/deep.toml", False),
            ("a directory", f"{m}/folder", True),
            ("/dev/zero", "/dev/zero", True),
            ("/dev/null", "/dev/null", False),
            ("a missing folder", f"{m}/missing/x.{ext}", True),
            ("a symlink loop", f"{m}/loop.{ext}", True),
            ("an undecodable name", raw + b"/\xff\xfe." + ext.encode(), False),
            ("an undecodable missing name", raw + b"/missing\xff." + ext.encode(), True),
            ("a name too long", f"{m}/{'n' * 300}.{ext}", True),
            ("an empty path", "", True),
        ]

    def outputs(self, folder: Path, ext: str, *, folder_kind: bool
                ) -> list[tuple[str, Arg, bool]]:
        """Places to write: (what, path, invalid). A missing folder may be made (the anchor
        file's is), and a folder output may be an empty one."""
        name = f"x.{ext}"
        return [
            ("/dev/full", "/dev/full", True),
            ("an existing directory", str(folder / "out"), not folder_kind),
            ("/proc", f"/proc/duban-battery/{name}", True),
            ("a missing folder", str(folder / "missing" / name), False),
            ("a file as a folder", str(folder / "plain.txt" / name), True),
            ("a name too long", str(folder / "out" / ("n" * 300)), True),
            ("/sys", f"/sys/duban-battery-{name}", True),
            ("an undecodable name", os.fsencode(folder / "out") + b"/\xff." + ext.encode(),
             False),
            ("an empty path", "", True),
            ("/dev/null", "/dev/null", folder_kind),
            ("a symlink loop", str(self.world.materials / f"loop.{ext}"), True),
        ]

    def databases(self, draft: Draft) -> list[tuple[str, Arg]]:
        folder = draft.folder
        picked = [
            ("/dev/full", "/dev/full"), ("/dev/zero", "/dev/zero"),
            ("a directory", str(folder / "out")), ("/proc", "/proc/duban-battery/x.db"),
            ("a missing folder", str(folder / "missing" / "x.db")),
            ("a new file name", str(folder / "work" / "fresh.db")),
            ("random bytes", str(folder / "work" / "random.db")),
            ("an empty file", str(folder / "work" / "empty.db")),
            ("an in-memory database", "sqlite:///:memory:"),
            ("an unknown driver", "mysql://u@127.0.0.1:1/x"),
            ("an unreachable PostgreSQL", "postgresql://u@127.0.0.1:1/x"),
            ("a bare scheme", "sqlite://"), ("a URL of a directory", f"sqlite:///{folder}/out"),
            ("an empty value", ""),
        ]
        picked += [(shown_value(v), v) for v in HOSTILE_TEXT[:12] + BAD_BYTES[:3]]
        draft.files += [("work/random.db", random.Random(7).randbytes(8192)),
                        ("work/empty.db", b"")]
        return picked



def shown_value(value: Arg) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}… ({len(value)} long)"


# -- the world: one demo database, copied for every case ---------------------------------------

DB_REL = os.path.join("data", "duban", "demo.db")
Digests = dict[str, str]


@dataclass(frozen=True)
class Baseline:
    world: World
    digests: dict[tuple[frozenset[str], frozenset[str]], Digests]


def clean_env(folder: Path) -> dict[str, str]:
    """Every default path (data, settings, key, temporary files) inside the case's folder."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DUBAN_", "XDG_"))}
    env.update(HOME=str(folder / "home"), XDG_DATA_HOME=str(folder / "data"),
               XDG_CONFIG_HOME=str(folder / "config"), TMPDIR=str(folder / "tmp"))
    return env


def make_materials(folder: Path) -> None:
    """The hostile input files, made once; cases only read them."""
    import openpyxl

    folder.mkdir()
    rng = random.Random(11)
    book = io.BytesIO()
    openpyxl.Workbook().save(book)
    good = {"xlsx": book.getvalue(), "toml": b"year = 2027\n",
            "pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "db": b""}
    for ext in EXTENSIONS:
        (folder / f"ok.{ext}").write_bytes(good.get(ext, b"ok\n"))
        (folder / f"empty.{ext}").write_bytes(b"")
        (folder / f"random.{ext}").write_bytes(rng.randbytes(4096))
        (folder / f"loop.{ext}").symlink_to(f"loop.{ext}")
        (Path(os.fsdecode(os.fsencode(folder) + b"/\xff\xfe." + ext.encode()))
         .write_bytes(rng.randbytes(512)))
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types")
        archive.writestr("xl/workbook.xml", "<workbook><sheets><sheet name=")
    (folder / "broken.xlsx").write_bytes(broken.getvalue())
    (folder / "truncated.xlsx").write_bytes(good["xlsx"][: len(good["xlsx"]) // 2])
    laughs = ('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
              + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'
                        for i in range(8))
              + ']><sst><si><t>&i;</t></si></sst>')
    with zipfile.ZipFile(folder / "laughs.xlsx", "w") as archive:
        with zipfile.ZipFile(io.BytesIO(good["xlsx"])) as source:
            for name in source.namelist():
                archive.writestr(name, source.read(name))
        archive.writestr("xl/sharedStrings.xml", laughs)
    (folder / "deep.toml").write_text("year = 2027\nholidays = " + "[" * 5000 + "]" * 5000)
    (folder / "folder").mkdir()
    for name, text in CONFIGS.items():
        (folder / name).write_text(text, encoding="utf-8")


def table_digests(db: Path, actions: frozenset[str], tables: frozenset[str]) -> Digests:
    """A digest of every table, leaving out the audit rows (and their checkpoints) a refusal
    appends by design, and the tables it may change."""
    skipped = ("refused", *sorted(actions))
    marks = ",".join("?" * len(skipped))
    with closing(sqlite3.connect(db)) as conn:
        names = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        seqs = {row[0] for row in conn.execute(
            f"SELECT seq FROM audit_event WHERE action IN ({marks})", skipped)}
        found = {"(schema)": _digest(conn.execute("SELECT type, name, sql FROM sqlite_master"))}
        for name in names:
            if name in tables:
                continue
            if name == "audit_event":
                rows = conn.execute(f"SELECT * FROM audit_event WHERE action NOT IN ({marks})",
                                    skipped).fetchall()
            elif name == "audit_checkpoint":  # one per sealed transaction, at its last row
                rows = [row for row in conn.execute("SELECT * FROM audit_checkpoint")
                        if row[0] not in seqs]
            else:
                rows = conn.execute(f'SELECT * FROM "{name}"').fetchall()
            found[name] = _digest(rows)
    return found


def _digest(rows: object) -> str:
    return hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()  # type: ignore


def listing(root: Path) -> dict[str, tuple[object, ...]]:
    """What is in a folder, by relative name: undecodable names too, symlinks not followed."""
    found: dict[str, tuple[object, ...]] = {}
    top = os.fsencode(root)
    for here, folders, files in os.walk(top):
        for name in folders + files:
            path = os.path.join(here, name)
            relative = os.path.relpath(path, top).decode("utf-8", "backslashreplace")
            if relative.endswith(SQLITE_AUX):
                continue
            info = os.lstat(path)
            if os.path.isdir(path) and not os.path.islink(path):
                found[relative] = ("folder",)
            elif relative == DB_REL:
                found[relative] = ("database",)  # compared by its tables
            else:
                found[relative] = (info.st_size, info.st_mtime_ns)
    return found


def prepare(world: World, case: Case) -> Path:
    folder = world.case_dir(case.number)
    for sub in ("home", "tmp", "work", "out", "config/duban", "data/duban/demo-outbox"):
        (folder / sub).mkdir(parents=True)
    data = world.base / "data" / "duban"
    shutil.copy2(data / "demo.db", folder / DB_REL)
    shutil.copytree(data / "demo-evidence", folder / "data" / "duban" / "demo-evidence")
    shutil.copy2(data / "demo-audit.key", folder / "config" / "duban" / "audit.key")
    (folder / "plain.txt").write_text("plain\n")
    for relative, content in case.files:
        (folder / relative).write_bytes(content)
    return folder


def run_case(baseline: Baseline, case: Case) -> Result:
    world = baseline.world
    folder = prepare(world, case)
    before = listing(folder)
    argv = [sys.executable, "-c", LIMITED, str(MEMORY), DUBAN, *case.argv]
    started = time.monotonic()
    # a session of its own: a runaway and any process it started are killed together
    with subprocess.Popen(argv, cwd=folder / "work", env=clean_env(folder),
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, start_new_session=True) as process:
        code: int | None
        try:
            out, err = process.communicate(case.stdin, timeout=TIMEOUT)
            code = process.returncode
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            code = None
        try:
            os.killpg(process.pid, signal.SIGKILL)  # workers left behind by a server
        except ProcessLookupError:
            pass
    result = Result(case, code, time.monotonic() - started, out.decode("utf-8", "replace"),
                    err.decode("utf-8", "replace"))
    check(baseline, result, folder, before)
    shutil.rmtree(folder, ignore_errors=True)
    return result


def check(baseline: Baseline, result: Result, folder: Path,
          before: dict[str, tuple[object, ...]]) -> None:
    case, problems = result.case, result.problems
    if result.code is None:
        problems.append(f"runaway: still running after {TIMEOUT} s")
    if "Traceback (most recent call last)" in result.stdout + result.stderr:
        problems.append("traceback")
    if result.code == 0:
        if case.strict:
            problems.append("exit 0 on an invalid value")
        return  # a valid command may write what it likes
    if result.code is not None and result.code not in case.codes:
        problems.append(f"exit {result.code}")
    try:
        after = table_digests(folder / DB_REL, case.actions, case.tables)
    except (sqlite3.Error, OSError) as err:
        problems.append(f"partial write: database unreadable ({err})")
    else:
        expected = baseline.digests[case.actions, case.tables]
        changed = sorted(name for name in expected.keys() | after.keys()
                         if expected.get(name) != after.get(name))
        if changed:
            problems.append("partial write: " + ", ".join(changed))
    now = listing(folder)
    stray = ([f"+{name}" for name in sorted(now.keys() - before.keys())]
             + [f"-{name}" for name in sorted(before.keys() - now.keys())]
             + [f"~{name}" for name in sorted(before.keys() & now.keys())
                if before[name] != now[name]])
    if stray:
        problems.append("stray files: " + ", ".join(stray[:5]))


def run_battery(baseline: Baseline, cases: Sequence[Case]) -> list[Result]:
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(lambda case: run_case(baseline, case), cases))


# -- reporting ------------------------------------------------------------------------------------

REPEAT = re.compile(r"^(.*?)(.{1,8}?)\2{49,}(.*)$", re.S)
SAFE = re.compile(r"^[\w=.:/\-\u4e00-\u9fff]*$")


def shell_word(arg: Arg) -> str:
    """One argument as a shell can type it again: $'…' for control and undecodable bytes, a
    printf for a long repetition."""
    raw = arg if isinstance(arg, bytes) else os.fsencode(arg)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and len(text) > 200:
        match = REPEAT.match(text)
        if match and all(SAFE.match(part) for part in match.groups()):
            prefix, unit, suffix = match.groups()
            count = (len(text) - len(prefix) - len(suffix)) // len(unit)
            return f"\"{prefix}$(printf '{unit}%.0s' $(seq {count})){suffix}\""
        return shlex.quote(text[:60] + "…")
    if text is not None and text.isprintable():
        return shlex.quote(text)
    return "$'" + "".join(chr(b) if 32 <= b < 127 and b not in b"'\\" else f"\\x{b:02x}"
                          for b in raw) + "'"


def command_line(case: Case) -> str:
    return " ".join(["duban", *(shell_word(arg) for arg in case.argv)])


def signature(result: Result) -> str:
    """The answer without its numbers and quoted values: one group per root cause."""
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    line = lines[-1] if lines else "(no stderr)"
    line = re.sub(r"“[^”]*”|'[^']*'|\"[^\"]*\"", "…", line)
    return re.sub(r"\d+", "N", line)[:110]


def summarise(results: Sequence[Result], seconds: float) -> dict[str, object]:
    codes = Counter("timeout" if r.code is None else str(r.code) for r in results)

    def having(prefix: str) -> int:
        return sum(any(p.startswith(prefix) for p in r.problems) for r in results)

    return {
        "tried": len(results), "exit_codes": dict(sorted(codes.items())),
        "exit_70": codes["70"], "tracebacks": having("traceback"),
        "partial_writes": having("partial write"), "stray_files": having("stray files"),
        "runaways": having("runaway"), "accepted_invalid": having("exit 0"),
        "accepted_valid": sum(r.accepted for r in results),
        "failed_cases": sum(bool(r.problems) for r in results), "seconds": round(seconds, 1),
    }


def groups(results: Sequence[Result]) -> list[dict[str, object]]:
    found: dict[tuple[str, ...], list[Result]] = {}
    for result in results:
        if result.problems:
            kinds = sorted({p.split(":")[0] for p in result.problems})
            key = (", ".join(kinds), " ".join(result.case.command), signature(result))
            found.setdefault(key, []).append(result)
    return [{"problems": key[0], "command": key[1], "answer": key[2], "cases": len(members),
             "example": command_line(members[0].case), "label": members[0].case.label,
             "detail": members[0].problems,
             "stderr_first": members[0].stderr.strip().splitlines()[:1],
             "stderr_last": members[0].stderr.strip().splitlines()[-1:]}
            for key, members in sorted(found.items(), key=lambda kv: -len(kv[1]))]


def failure_text(results: Sequence[Result], limit: int = 40) -> str:
    found = groups(results)
    lines = [f"{len(found)} kinds of failure in {sum(bool(r.problems) for r in results)} cases:"]
    for group in found[:limit]:
        lines.append(f"  {group['cases']}× [{group['problems']}] {group['command']}: "
                     f"{group['answer']}\n      {group['detail']} ({group['label']})\n"
                     f"      {group['example'][:400]}")
    return "\n".join(lines)


def write_report(results: Sequence[Result], summary: dict[str, object]) -> None:
    target = os.environ.get("DUBAN_BATTERY_REPORT")
    if not target:
        return
    report = {
        "summary": summary, "groups": groups(results),
        "failures": [{"label": r.case.label, "command": command_line(r.case), "code": r.code,
                      "seconds": round(r.seconds, 2), "problems": r.problems,
                      "stderr": r.stderr[-2000:]} for r in results if r.problems],
        "accepted": [{"label": r.case.label, "command": command_line(r.case)[:400]}
                     for r in results if r.accepted],
    }
    Path(target).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")


# -- the tests ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    """The demo's quarter, built once; its table digests for each set of designed writes."""
    root = tmp_path_factory.mktemp("battery")
    base = root / "base"
    for sub in ("home", "data", "config", "tmp"):
        (base / sub).mkdir(parents=True)
    done = subprocess.run([DUBAN, "demo"], cwd=base / "home", env=clean_env(base),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    shown = re.search(r"^演示库: (.+)$", done.stdout, re.M)
    assert shown and Path(shown[1]) == base / DB_REL, done.stdout[-500:]
    make_materials(root / "materials")
    world = World(root, base, root / "materials")
    variants = [(frozenset(), frozenset()), *DESIGNED_WRITES.values()]
    return Baseline(world, {v: table_digests(base / DB_REL, *v) for v in variants})


def battery(baseline: Baseline, seed: int, count: int) -> tuple[list[Result], dict[str, object]]:
    materials = listing(baseline.world.materials)
    started = time.monotonic()
    results = run_battery(baseline, Battery(baseline.world, seed).cases(count))
    summary = summarise(results, time.monotonic() - started)
    assert listing(baseline.world.materials) == materials, "a case wrote into its inputs"
    return results, summary


def quick_count() -> int:
    """At least one case per command and group, however many there come to be."""
    return max(QUICK[1], len(list(leaves(ROOT))))


def test_every_command_is_in_the_quick_set(baseline: Baseline) -> None:
    cases = Battery(baseline.world, QUICK[0]).cases(quick_count())
    assert {case.command for case in cases} == {t.path for t in leaves(ROOT)}


def test_quick_battery(baseline: Baseline) -> None:
    results, summary = battery(baseline, QUICK[0], quick_count())
    print("battery (quick):", json.dumps(summary, ensure_ascii=False))
    assert not any(r.problems for r in results), failure_text(results)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("DUBAN_BATTERY") != "full",
                    reason="the full battery runs with DUBAN_BATTERY=full")
def test_full_battery(baseline: Baseline) -> None:
    results, summary = battery(baseline, *FULL)
    print("battery (full):", json.dumps(summary, ensure_ascii=False))
    write_report(results, summary)
    assert not any(r.problems for r in results), failure_text(results)
