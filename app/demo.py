"""``duban demo``: a municipal education bureau's fourth quarter, walked through the engine.

Builds a demo database (where ``--as`` works for everyone, so one user can play the whole
office), registers the bureau's sections and schools, assigns items of every source the seeds
describe and takes them through their lives on a simulated clock with the daemon's timers:
an inspection problem list with three-party sign-offs, a key task broken into milestones,
leaders' instructions, forty hotline complaints, and a November of on-time work, a report sent
back, a misrouted complaint, an extension, an overdue item warned and summoned, an
accountability case with an error-tolerance exemption, a refused attempt (``demo_quarter``).
It ends with the ledger, the quarter's assessment, the circular and the outbox.

The demo keeps apart from the real office: beside its database it has its own audit key, its
own outbox and a settings file naming them, which the commands it suggests afterwards use
(with ``--now`` at the demo's end, so they show the figures it printed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from duban.app.assembly import build_service
from duban.app.demo_quarter import Quarter
from duban.app.story import Story
from duban.engine.clock import FixedClock
from duban.engine.directory import NewPerson
from duban.engine.errors import DubanError, SetupError
from duban.engine.periods import parse_period
from duban.engine.permissions import create_private_file, make_private_dir
from duban.engine.service import Service
from duban.engine.settings import Settings, load_settings
from duban.engine.timeutil import local_text, parse_instant, zone
from duban.engine.userfiles import resolved
from duban.engine.views import state_label

if TYPE_CHECKING:
    from rich.table import Column

ADMIN = "demo_admin"
SUPERVISOR = "zhao_m"
UNITS = (
    ("JYJ", "市教育局", None),
    ("DCS", "局督查室", "JYJ"),
    ("BGS", "局办公室", "JYJ"),
    ("JJK", "基础教育科", "JYJ"),
    ("ZCK", "职业与成人教育科", "JYJ"),
    ("AQK", "安全稳定科", "JYJ"),
    ("JCK", "计划财务科", "JYJ"),
    ("SYZ", "市第一中学", "JJK"),
    ("SXX", "市实验小学", "JJK"),
)
PEOPLE = (
    ("chen_jg", "陈建国", "JYJ", ("lead_leader",)),
    ("li_m", "李明", "JYJ", ("lead_leader",)),
    ("zhao_m", "赵敏", "DCS", ("supervisor",)),
    ("sun_l", "孙磊", "DCS", ("supervisor",)),
    ("zhou_t", "周涛", "JJK", ("unit_head",)),
    ("liu_y", "刘洋", "JJK", ()),
    ("wang_f", "王芳", "JJK", ("handler",)),
    ("wu_g", "吴刚", "AQK", ("unit_head",)),
    ("zheng_l", "郑丽", "AQK", ("handler",)),
    ("feng_w", "冯伟", "ZCK", ("unit_head",)),
    ("chen_j", "陈静", "ZCK", ("handler",)),
    ("he_p", "何平", "JCK", ("unit_head",)),
    ("xu_n", "徐娜", "JCK", ("handler",)),
    ("ma_q", "马强", "SYZ", ("unit_head",)),
    ("lin_x", "林晓", "SYZ", ("handler",)),
    ("gao_h", "高红", "SXX", ("unit_head",)),
    ("guo_l", "郭亮", "SXX", ("handler",)),
)
ACCOUNTABILITY_MARKS = {"proposed": "问责中", "exempted": "容错免责"}
NAMES = {login: name for login, name, _, _ in PEOPLE}
HEADS = {"JYJ": "chen_jg", "DCS": "zhao_m", "JJK": "zhou_t", "AQK": "wu_g", "ZCK": "feng_w",
         "JCK": "he_p", "SYZ": "ma_q", "SXX": "gao_h"}


def demo_path(db: str | None, config: str | None) -> Path:
    if db and "://" in db and not db.startswith("sqlite:///"):
        raise SetupError("演示只在 SQLite 上运行: 请用 --db 给出一个文件路径")
    if db:
        return resolved(db.removeprefix("sqlite:///"))
    default = load_settings(config_file=config).db_url.removeprefix("sqlite:///")
    return Path(default).with_name("demo.db")


# Who to try the portal as (``duban demo --serve``): a school's handler, the office, a leader.
PORTAL_PEOPLE = (("lin_x", "市第一中学承办人"), ("zhao_m", "督查室督查员"), ("chen_jg", "局领导"))
END = datetime(2027, 1, 4, 1, 0, tzinfo=UTC)  # 09:00 in Beijing, where the quarter's story ends


@dataclass(frozen=True)
class DemoResult:
    path: Path
    settings: Settings
    end: datetime  # the demo's own now: its figures are of that day
    logins: tuple[tuple[str, str, str], ...]  # (login, who, password) to sign in with
    settings_file: Path  # the demo's database, key and outbox, for the commands below
    suggestions: tuple[tuple[str, ...], ...] = ()  # commands worth trying afterwards

    @property
    def outbox(self) -> Path:
        return demo_outbox(self.path)

    def command(self, args: tuple[str, ...]) -> list[str]:
        """A ``duban`` command line against the demo database, on the demo's clock."""
        now = self.end.astimezone(zone(self.settings.timezone)).strftime("%Y-%m-%dT%H:%M")
        return [program(), "--config", str(self.settings_file), "--now", now, *args]


def program() -> str:
    """How the user reaches ``duban``: its name when it is on the PATH, else the path it was
    run by (``.venv/bin/duban`` right after the README's first command)."""
    import shutil
    import sys

    ran = Path(sys.argv[0])
    if shutil.which("duban") or ran.name != "duban":
        return "duban"
    return str(ran) if ran.is_absolute() or "/" in sys.argv[0] else "duban"


def run_demo(db: str | None, *, config: str | None = None, echo: Callable[[str], None],
             accounts: bool = False) -> DemoResult:
    path = demo_path(db, config)
    settings_file = demo_settings_file(path)
    _refuse_foreign_settings_file(settings_file)
    _clear_old_demo(path)
    base = load_settings(config_file=config)
    # The demo's notices go to its own outbox folder only, never to a real mail server, and
    # its audit key is its own: the real office's key is made by ``duban init``, not here.
    tables = {"office": DEMO_OFFICE, "notices": {"outbox": str(demo_outbox(path))}}
    settings = replace(base, db_url=f"sqlite:///{path}", audit_key_path=demo_key(path),
                       tables=tables)
    make_private_dir(path.parent)
    create_private_file(settings_file)
    settings_file.write_text(settings_text(settings), encoding="utf-8")
    clock = FixedClock(datetime(2026, 10, 9, 0, 30, tzinfo=UTC))  # 08:30 in Beijing
    service = build_service(settings, clock)
    story = DemoStory(service, clock, echo, NAMES)
    logins: tuple[tuple[str, str, str], ...] = ()
    try:
        story.tell()
        if accounts:
            logins = tuple(_portal_account(service, login, who) for login, who in PORTAL_PEOPLE)
    finally:
        service.close()
    shown, history = story.highlights
    suggestions = (("--as", "wang_f", "item", "show", str(shown)),
                   ("--as", "zhao_m", "item", "history", str(history)),
                   ("--as", "zhao_m", "ledger", "--zero"),
                   ("--as", "zhao_m", "assess", "--period", "2026-Q4"))
    return DemoResult(path, settings, END, logins, settings_file, suggestions)


SETTINGS_MARK = "# duban demo: 演示库的设置, 每次运行 duban demo 时重写"


def demo_settings_file(path: Path) -> Path:
    return path.with_name(path.stem + ".toml")


def demo_key(path: Path) -> Path:
    return path.with_name(path.stem + "-audit.key")


def settings_text(settings: Settings) -> str:
    """The demo's settings as a settings file (``duban --config``)."""
    def value(text: object) -> str:
        return json.dumps(str(text), ensure_ascii=False)  # a JSON string is a TOML string

    lines = [SETTINGS_MARK, f"db = {value(settings.db_url.removeprefix('sqlite:///'))}",
             f"audit_key = {value(settings.audit_key_path)}",
             f"timezone = {value(settings.timezone)}"]
    if settings.closing_time is not None:
        lines.append(f"closing_time = {value(settings.closing_time.strftime('%H:%M'))}")
    if settings.workflows_dir is not None:
        lines.append(f"workflows_dir = {value(settings.workflows_dir)}")
    for table, entries in settings.tables.items():
        lines += ["", f"[{table}]", *(f"{key} = {value(text)}" for key, text in entries.items())]
    return "\n".join(lines) + "\n"


def _refuse_foreign_settings_file(path: Path) -> None:
    """The demo rewrites its own settings file, never one it did not write."""
    try:
        with path.open(encoding="utf-8") as handle:
            first = handle.readline().rstrip("\n")
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError):
        first = ""
    if first != SETTINGS_MARK:
        raise SetupError(f"{path} 已存在且不是演示库的设置文件, 演示不会覆盖它: "
                         "请用 --db 指定另一个路径")


def _portal_account(service: Service, login: str, who: str) -> tuple[str, str, str]:
    """An account with a password of its own, as after the person's first sign-in."""
    import secrets

    temporary = service.issue_setup(ADMIN, login, temporary=True)["secret"]
    password = "demo-" + secrets.token_urlsafe(6)
    service.change_password(login, temporary, password)
    return login, f"{NAMES[login]}({who})", password


DEMO_OFFICE = {"name": "市教育局督查室", "contact": "赵敏", "phone": "0571-87000000",
               "accountability_to": "市教育局党组、市人民政府",
               "circular_to": "局机关各科室、直属各学校"}


def demo_outbox(path: Path) -> Path:
    return path.with_name(path.stem + "-outbox")


def _clear_old_demo(path: Path) -> None:
    """Replace a previous demo database, but never a real one."""
    if not path.exists():
        return
    import sqlite3

    try:
        with sqlite3.connect(path) as conn:
            flag = conn.execute("SELECT value FROM meta WHERE key = 'demo'").fetchone()
    except sqlite3.Error:
        flag = None
    if flag != ("true",):
        raise SetupError(f"{path} 已存在且不是演示库, 演示不会覆盖它: 请用 --db 指定另一个路径")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    import shutil

    shutil.rmtree(demo_outbox(path), ignore_errors=True)


def _columns(*headers: str) -> list[Column]:
    """Columns that fold their text onto more lines when the terminal is narrow: the tables
    take the terminal's width (rich detects it, or reads ``COLUMNS``)."""
    from rich.table import Column

    return [Column(header, overflow="fold") for header in headers]


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


class DemoStory(Story):
    """The quarter, told."""

    def tell(self) -> None:
        service = self.service
        quarter = Quarter(self)
        self.echo("== 市教育局 2026 年第四季度督查督办演示 ==")
        service.init(ADMIN, "系统管理员", demo=True)
        for code, name, parent in UNITS:
            service.add_unit(ADMIN, code, name, parent)
        for login, name, unit, roles in PEOPLE:
            service.add_person(ADMIN, NewPerson(login, name, unit, roles))
        for code, head in HEADS.items():
            service.set_unit_head(ADMIN, code, head)
        service.set_away(ADMIN, "wang_f", None, deputy="liu_y")
        self.say(f"登记 {len(UNITS)} 个单位、{len(PEOPLE)} 名人员; 王芳的 B 岗为刘洋")
        quarter.people()
        quarter.october()
        self.at("2026-11-02 08:30")

        safety = self.new("落实局长批示: 开展冬季校园安全隐患大排查", "AQK", "2026-11-20",
                          source="instruction", lead_leader="chen_jg",
                          goal="全市中小学安全隐患排查全覆盖、整改清零",
                          measures="分片包干, 逐校排查燃气、消防、校舍")
        books = self.new("巡视反馈问题整改: 教辅材料征订管理不规范", "JJK", "2026-11-30",
                         source="inspection", lead_leader="li_m", co_units=("JCK",))
        community = self.new("推进城乡学校共同体建设", "JJK", "2026-12-18",
                             source="key_task", lead_leader="li_m")
        hotline = self.new("市长热线投诉: 市实验小学课后服务收费问题", "ZCK", "2026-11-13",
                           source="hotline")
        training = self.new("职业院校实训基地建设方案", "ZCK", "2026-11-27",
                            source="meeting", lead_leader="li_m")
        canteen = self.new("市第一中学食堂改造工程", "SYZ", "2026-11-13", source="key_task",
                           lead_leader="li_m")
        grants = self.new("学生资助资金按时足额发放", "JCK", "2026-11-16", source="key_task",
                          lead_leader="chen_jg")

        self.at("2026-11-03 09:10")
        self.act("zheng_l", safety, "sign")
        self.act("wang_f", books, "sign")
        self.act("chen_j", hotline, "decline",
                 reason="课后服务收费属学校管理事项, 非职成科职责")
        self.act("zhao_m", hotline, "transfer", unit="SXX", reason="按职责转市实验小学办理")
        self.act("guo_l", hotline, "sign")
        self.act("chen_j", training, "sign")
        self.act("lin_x", canteen, "sign")
        try:
            service.fire("zheng_l", books, "report", {"report": "越权报结"})
        except DubanError as err:
            self.say(f"郑丽试图报结他科事项被拒绝并留痕: {err.message}")

        self.at("2026-11-06 16:00")
        self.act("guo_l", hotline, "report",
                 report="已核实并退还多收费用, 向家长说明收费依据, 家长表示满意")
        self.act("sun_l", hotline, "verify", note="电话回访, 投诉人满意")
        self.act("sun_l", hotline, "close")

        quarter.november_hotline()
        self.at("2026-11-09 10:00")
        service.set_away(ADMIN, "wang_f", parse_instant("2026-11-13", self.tz, end_of_day=True))
        self.say("王芳外出学习至 11-13, 由 B 岗刘洋代为办理")
        self.act("liu_y", community, "sign")
        self.act("chen_j", training, "request_extension",
                 reason="实训设备招标流标, 需重新招标", deadline="2026-12-11")
        self.act("zhao_m", training, "approve_extension", reason="情况属实, 同意延期")

        self.at("2026-11-16 09:00")
        self.act("wang_f", books, "report", report="已下发通知规范征订, 完成自查")
        self.act("zhao_m", grants, "warn", level="red", reason="逾期且未签收, 无人办理")

        self.at("2026-11-17 15:00")
        self.act("sun_l", books, "reject", reason="抽查发现两所学校仍违规征订, 整改不到位",
                 deadline="2026-11-27")
        self.at("2026-11-18 11:00")
        self.act("zheng_l", safety, "report",
                 report="排查学校 126 所, 发现隐患 37 处, 已整改 37 处")
        self.act("zhao_m", safety, "verify", note="抽查 10 校, 整改属实")
        self.act("zhao_m", safety, "close")

        self.at("2026-11-19 09:30")
        self.act("zhao_m", canteen, "warn", level="red", reason="逾期 4 个工作日仍未完成")
        self.act("zhao_m", canteen, "summon", reason="食堂改造严重滞后",
                 at="2026-11-20 15:00", place="局三楼会议室")
        self.act("zhao_m", grants, "hold_accountable", reason="资助资金逾期未发放, 且未签收办理")
        quarter.second_milestone()

        self.at("2026-11-23 10:00")
        self.act("zhao_m", grants, "exempt",
                 reason="经核查系上级资金拨付延迟所致, 已积极协调, 符合容错情形")
        self.act("xu_n", grants, "sign")
        self.act("lin_x", canteen, "report", report="食堂改造已完工并通过验收")
        self.act("wang_f", books, "report", report="两所学校已退还征订费用, 全市复查无违规")

        self.at("2026-11-25 09:00")
        self.act("sun_l", books, "verify", note="复查属实")
        self.act("sun_l", canteen, "verify", note="现场查看, 已投入使用")
        self.act("sun_l", canteen, "close")
        self.act("wang_f", community, "progress", note="已组建 12 个城乡学校共同体")
        quarter.december()
        self.highlights = (community, grants)

        self.echo("")
        self.ledger()
        self.echo("")
        self.assessment()
        self.echo("")
        self.circular()
        self.deliver()
        report = service.verify_audit(ADMIN)
        rebuild = service.check_rebuild(ADMIN)
        self.echo("")
        chain = "完整" if report.ok else "发现问题"
        replay = "与现状一致" if rebuild.ok else "不一致"
        self.echo(
            f"审计链: {report.rows_checked} 条事件, {report.checkpoints_checked} 个签名检查点, "
            f"{chain}; 由事件重建 {rebuild.items_checked} 个事项, {replay}"
        )
        self.echo(f"定时步骤(提醒、预警、催办、调度)自动触发 {self.timer_steps} 次")
        self.echo(f"通知 {self.delivered} 份(交办通知、提醒函、督办函、预警通知、约谈通知书、"
                  "问责建议、通报等)已编号并写入发件箱")

    def assessment(self) -> None:
        """The quarter's figures and ranking, as ``duban assess --period 2026-Q4`` shows."""
        from rich.console import Console
        from rich.table import Table

        result = self.service.assess(SUPERVISOR, parse_period("2026-Q4"))
        table = Table(*_columns("排名", "单位", "到期", "按期办结率", "按时签收率", "逾期", "预警",
                                "约谈", "满意率", "得分"), title="2026年第四季度 考核")
        for s in result.standings:
            f = s.figures
            table.add_row(str(s.rank), f.name, str(f.items), _rate(f.on_time_rate),
                          _rate(f.signing_rate), str(f.overdue),
                          str(f.count("warn:yellow") + f.count("warn:red")),
                          str(f.count("summon")), _rate(f.satisfaction_rate), f"{s.score:.1f}")
        Console().print(table)
        total = result.total
        self.echo(f"全局到期 {total.items} 件, 按期办结率 {_rate(total.on_time_rate)}; 领导批示件"
                  f"按期办结率 {_rate(total.instruction_rate)}; 热线等回访满意率 "
                  f"{_rate(total.satisfaction_rate)}")

    def circular(self) -> None:
        written = self.service.circular(SUPERVISOR, parse_period("2026-Q4"))
        self.echo(self.service.notice(SUPERVISOR, written["notice"])["body_text"].rstrip())

    def show_interview(self) -> None:
        """One of the documents, as the unit head received it."""
        found = self.service.notice_list(SUPERVISOR, kind="interview", limit=1)
        text = self.service.notice(SUPERVISOR, found[0]["id"])["body_text"] if found else None
        if text:
            self.echo("")
            self.echo(text.rstrip())

    def ledger(self) -> None:
        from rich.console import Console
        from rich.table import Table

        service = self.service
        now = self.clock.now()
        table = Table(*_columns("编号", "事项", "承办", "状态", "期限", "情况"),
                      title="督办台账(2027-01-04; 已回访办结的热线工单另计)")
        for item in service.items(SUPERVISOR):
            if item["workflow"] == "hotline" and item["state"] == "closed":
                continue
            attrs = item["attrs"]
            marks = []
            if attrs.get("warning"):
                marks.append({"yellow": "黄牌", "red": "红牌"}[attrs["warning"]])
            if attrs.get("interviews"):
                marks.append("已约谈")
            if attrs.get("accountability"):
                marks.append(ACCOUNTABILITY_MARKS[attrs["accountability"]])
            if attrs.get("extensions"):
                marks.append("已延期")
            if attrs.get("redos"):
                marks.append("退回重办")
            closed = item["state"] in ("closed", "verified")
            if not closed and item["current_deadline"] < now:
                marks.append("逾期")
            table.add_row(str(item["id"]), item["title"], item["lead_unit"],
                          state_label(service.registry, item),
                          local_text(item["current_deadline"], self.tz)[:10], " ".join(marks))
        Console().print(table)

