"""The tables. One place for every persisted shape; the store reads and writes them.

Instants are aware datetimes stored as naive UTC (:class:`engine.timeutil.UTCDateTime`).
Status-like values are ``str`` enums stored as readable strings.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

from duban.engine.json_text import CanonicalJSON
from duban.engine.timeutil import UTCDateTime


class Role(StrEnum):
    """What a person may be. Handler, unit head and lead leader are also relative to an item."""

    handler = "handler"  # 承办人
    unit_head = "unit_head"  # 单位负责人 (一把手)
    lead_leader = "lead_leader"  # 牵头/分管领导
    supervisor = "supervisor"  # 督查室
    admin = "admin"  # 系统管理员
    inspector = "inspector"  # 特邀督查员: reads the items assigned to them
    evaluator = "evaluator"  # 第三方评估: reads and rates the items of their evaluations
    co_unit = "co_unit"  # 协办单位的承办人或负责人: only ever relative to an item
    liaison = "liaison"  # 督查联络员 of a unit (unit.liaison_login): only relative to an item


ROLE_LABELS = {
    Role.handler: "承办人",
    Role.unit_head: "单位负责人",
    Role.lead_leader: "牵头领导",
    Role.supervisor: "督查员",
    Role.admin: "管理员",
    Role.inspector: "特邀督查员",
    Role.evaluator: "第三方评估",
    Role.co_unit: "协办单位",
    Role.liaison: "督查联络员",
}


class SourceKind(StrEnum):
    """Where an item comes from (事项来源)."""

    instruction = "instruction"  # 领导批示件
    meeting = "meeting"  # 会议议定事项
    key_task = "key_task"  # 重点工作
    proposal = "proposal"  # 建议提案
    hotline = "hotline"  # 热线/效能投诉
    inspection = "inspection"  # 巡视整改
    petition = "petition"  # 信访
    other = "other"  # 其他


SOURCE_LABELS = {
    SourceKind.instruction: "领导批示件",
    SourceKind.meeting: "会议议定事项",
    SourceKind.key_task: "重点工作",
    SourceKind.proposal: "建议提案",
    SourceKind.hotline: "热线/效能投诉",
    SourceKind.inspection: "巡视整改",
    SourceKind.petition: "信访",
    SourceKind.other: "其他",
}


class TimerStatus(StrEnum):
    """Where one step of an item's timetable stands."""

    pending = "pending"  # due at its time
    fired = "fired"  # done: its event fired, its notice written
    skipped = "skipped"  # due, but not applicable then (a reminder after the deadline)
    cancelled = "cancelled"  # no longer in the plan (the item moved on, the deadline moved)
    failed = "failed"  # raised an error; recorded with it


class DeliveryStatus(StrEnum):
    """Where a delivery stands, and a notice with it (the worst of its deliveries)."""

    pending = "pending"
    sent = "sent"
    failed = "failed"  # will be tried again
    dead = "dead"  # given up: see last_error


# Every table is a plain SQLAlchemy table: the engine reads and writes them with SQLAlchemy
# Core, and no code builds objects of them. Unit, person and item also exist as SQLModel
# classes, typed rows that Alembic compares the migrations with (engine/rows.py); importing
# SQLModel to declare them here would cost every command about 0.15 s.
# tests/engine/test_rows.py keeps the two declarations identical.
METADATA = MetaData()

# A unit: a section of the bureau, a school, the supervision office (承办单位).
UNIT = Table(
    "unit", METADATA,
    Column("code", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("parent_code", String(32), ForeignKey("unit.code"), nullable=True),
    Column("head_login", String(64), nullable=True),
    Column("liaison_login", String(64), nullable=True),  # 督查联络员, one per unit
    Column("webhook", String(500), nullable=True),  # the unit's group robot
    Column("webhook_style", String(16), nullable=True),  # json / wecom / dingtalk
    Column("created_at", UTCDateTime(), nullable=False),
)

# A person who acts: logins map operating-system users to people.
PERSON = Table(
    "person", METADATA,
    Column("login", String(64), primary_key=True),
    Column("name", String(50), nullable=False),
    Column("unit_code", String(32), ForeignKey("unit.code"), nullable=True, index=True),
    Column("roles", JSON, nullable=False),
    Column("deputy_login", String(64), nullable=True),  # AB岗: B acts when A is away
    Column("away_until", UTCDateTime(), nullable=True),
    Column("email", String(200), nullable=True),
    Column("phone", String(40), nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

# A supervision item (督办事项) and where it stands in its workflow.
ITEM = Table(
    "item", METADATA,
    Column("id", Integer, primary_key=True),
    Column("workflow", String(64), nullable=False),
    Column("workflow_version", Integer, nullable=False),
    Column("state", String(64), nullable=False, index=True),
    Column("title", String(200), nullable=False),
    Column("goal", Text, nullable=False),
    Column("measures", Text, nullable=False),
    Column("source", String(32), nullable=False, default=SourceKind.other.value),
    Column("lead_leader", String(64), nullable=True),
    Column("lead_unit", String(32), ForeignKey("unit.code"), nullable=False),
    Column("co_units", JSON, nullable=False),
    Column("original_deadline", UTCDateTime(), nullable=False),
    Column("current_deadline", UTCDateTime(), nullable=False),
    Column("deadline_reason", String(200), nullable=True),
    # rests on a year not yet published
    Column("deadline_provisional", Boolean, nullable=False, default=False),
    Column("deadline_basis", JSON, nullable=True),
    # moves with the deadline; keys the timer steps
    Column("deadline_version", Integer, nullable=False, default=1),
    Column("state_since", UTCDateTime(), nullable=False),
    Column("clock_start", UTCDateTime(), nullable=False),  # the unit's clock: assignment, redo
    Column("public", Boolean, nullable=False, default=False),
    Column("parent_id", Integer, ForeignKey("item.id"), nullable=True, index=True),
    Column("attrs", JSON, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Index("ix_item_unit_state", "lead_unit", "state"),
    Index("ix_item_current_deadline", "current_deadline"),
    Index("ix_item_created_at", "created_at"),
    # the ledger: open items by state, per unit in deadline order
    Index("ix_item_state_unit_deadline", "state", "lead_unit", "current_deadline"),
    Index("ix_item_unit_deadline", "lead_unit", "current_deadline"),
    # a leader's own items, in deadline order (what each may see, engine/visibility.py)
    Index("ix_item_leader_deadline", "lead_leader", "current_deadline"),
)

META = Table(
    "meta", METADATA,
    Column("key", String(64), primary_key=True),
    Column("value", String(400), nullable=False),
)

# One link of the audit chain. Appended, never updated, never deleted.
AUDIT_EVENT = Table(
    "audit_event", METADATA,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("item_id", Integer, nullable=True, index=True),
    Column("action", String(40), nullable=False),
    Column("event", String(64), nullable=True),
    Column("from_state", String(64), nullable=True),
    Column("to_state", String(64), nullable=True),
    Column("reason", Text, nullable=True),
    Column("payload", CanonicalJSON(), nullable=False),  # stored as hashed (engine/audit.py)
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("hash_version", SmallInteger, nullable=False),  # its hash's scheme: 1 before 0010
    # the period figures count events by instant: covering, so the table is not read
    Index("ix_audit_event_at", "at", "action", "event", "item_id"),
)

# "The chain had this head at this sequence", signed with a key kept outside the database.
AUDIT_CHECKPOINT = Table(
    "audit_checkpoint", METADATA,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("head_hash", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("signature", String(64), nullable=False),
)

# A year's holiday arrangement loaded by an admin; it overrides the packaged data.
CALENDAR_YEAR = Table(
    "calendar_year", METADATA,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("status", String(16), nullable=False),
    Column("source", String(400), nullable=False),
    Column("holidays", JSON, nullable=False),
    Column("workdays", JSON, nullable=False),
    Column("working_days", Integer, nullable=False),
    Column("loaded_at", UTCDateTime(), nullable=False),
    Column("loaded_by", String(64), nullable=False),
)

# One step of an item's timetable. A step fires at most once per deadline version.
TIMER = Table(
    "timer", METADATA,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("item.id"), nullable=False),
    Column("step", String(80), nullable=False),
    Column("deadline_version", Integer, nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),  # TimerStatus
    Column("created_at", UTCDateTime(), nullable=False),
    Column("fired_at", UTCDateTime(), nullable=True),
    Column("late_seconds", Integer, nullable=True),
    Column("outcome", String(400), nullable=True),
    Index("ix_timer_status_due", "status", "due_at"),
    Index("ux_timer_step", "item_id", "step", "deadline_version", unique=True),
)

# A notice: requested by an event or a timer step in the same transaction, rendered into an
# official document (``document`` holds its parts, the bodies its renderings), then delivered.
# Its status (DeliveryStatus) follows its deliveries.
NOTICE = Table(
    "notice", METADATA,
    Column("id", Integer, primary_key=True),
    Column("key", String(160), nullable=False, unique=True),
    Column("item_id", Integer, ForeignKey("item.id"), nullable=True, index=True),
    Column("kind", String(40), nullable=False),
    Column("recipients", JSON, nullable=False),
    Column("cc", JSON, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("doc_number", String(40), nullable=True),
    Column("title", String(400), nullable=True),
    Column("document", JSON, nullable=True),
    Column("body_text", Text, nullable=True),
    Column("body_markdown", Text, nullable=True),
    Column("body_html", Text, nullable=True),
    Column("last_error", String(800), nullable=True),
    # the item as the event or step left it (JSON, instants as ISO text): rendered from this
    Column("item_state", JSON, nullable=True),
    Index("ix_notice_status", "status"),
)

# One notice to one channel and address. ``key`` is what the receiving end deduplicates on
# (the outbox file name, the Message-ID, the Idempotency-Key).
DELIVERY = Table(
    "delivery", METADATA,
    Column("id", Integer, primary_key=True),
    Column("notice_id", Integer, ForeignKey("notice.id"), nullable=False, index=True),
    Column("channel", String(16), nullable=False),  # file / smtp / webhook
    Column("target", String(500), nullable=False),  # address or URL; "" for the outbox
    Column("style", String(16), nullable=True),  # webhook body: json / wecom / dingtalk
    Column("key", String(240), nullable=False, unique=True),
    Column("status", String(16), nullable=False),  # DeliveryStatus
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("last_error", String(800), nullable=True),
    Column("sent_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_delivery_status_next", "status", "next_attempt_at"),
)

# The yearly sequence of document numbers per prefix: 督办〔2026〕1号, 2号 … never a gap.
DOC_SEQUENCE = Table(
    "doc_sequence", METADATA,
    Column("prefix", String(20), primary_key=True),
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("last", Integer, nullable=False),
)

# Each workflow version's fingerprint, recorded when first used (engine/fingerprint.py).
WORKFLOW_VERSION = Table(
    "workflow_version", METADATA,
    Column("name", String(64), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("fingerprint", String(64), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
)

# Which units help with an item (协办), one row each, with the item's lead unit, state and
# deadline beside it: a unit's page of the ledger is then read from one index. Kept with the
# item in the transaction that changes any of them (engine/items.py).
ITEM_CO_UNIT = Table(
    "item_co_unit", METADATA,
    Column("item_id", Integer, ForeignKey("item.id"), primary_key=True),
    Column("unit_code", String(32), primary_key=True),
    Column("lead_unit", String(32), nullable=False),
    Column("state", String(64), nullable=False),
    Column("current_deadline", UTCDateTime(), nullable=False),
    Index("ix_item_co_unit_unit", "unit_code", "state", "current_deadline", "item_id",
          "lead_unit"),
)

# How a person signs in where no operating-system login vouches for them (the web, the API).
ACCOUNT = Table(
    "account", METADATA,
    Column("login", String(64), ForeignKey("person.login"), primary_key=True),
    Column("password_hash", String(200), nullable=True),  # argon2id
    Column("must_change", Boolean, nullable=False),  # a temporary password
    Column("setup_code_hash", String(64), nullable=True),  # SHA-256 of a one-time code
    Column("setup_expires_at", UTCDateTime(), nullable=True),
    Column("failures", Integer, nullable=False),  # failed sign-ins in the current window
    Column("first_failure_at", UTCDateTime(), nullable=True),
    Column("retry_after", UTCDateTime(), nullable=True),  # slowed down until then
    Column("locked_until", UTCDateTime(), nullable=True),
    Column("changed_at", UTCDateTime(), nullable=True),
    Column("seal", String(64), nullable=True),  # over the credentials: duban.engine.seals
)

# API and session tokens: random, shown once, kept only as their SHA-256.
TOKEN = Table(
    "token", METADATA,
    Column("id", Integer, primary_key=True),
    Column("login", String(64), ForeignKey("person.login"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # api / session
    Column("name", String(80), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Column("prefix", String(12), nullable=False),  # what lists show of it
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("seal", String(64), nullable=True),  # duban.engine.seals
)

# Items a part-time inspector (特邀督查员) is assigned to inspect.
INSPECTION = Table(
    "inspection", METADATA,
    Column("item_id", Integer, ForeignKey("item.id"), primary_key=True),
    Column("login", String(64), ForeignKey("person.login"), primary_key=True),
    Column("assigned_at", UTCDateTime(), nullable=False),
    Column("assigned_by", String(64), nullable=False),
    Index("ix_inspection_login", "login", "item_id"),
)

# A third-party evaluation (第三方评估): its items, its evaluators, their ratings.
EVALUATION = Table(
    "evaluation", METADATA,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(64), nullable=False),
)
EVALUATION_ITEM = Table(
    "evaluation_item", METADATA,
    Column("evaluation_id", Integer, ForeignKey("evaluation.id"), primary_key=True),
    Column("item_id", Integer, ForeignKey("item.id"), primary_key=True),
)
EVALUATION_MEMBER = Table(
    "evaluation_member", METADATA,
    Column("evaluation_id", Integer, ForeignKey("evaluation.id"), primary_key=True),
    Column("login", String(64), ForeignKey("person.login"), primary_key=True),
    Index("ix_evaluation_member_login", "login", "evaluation_id"),
)
EVALUATION_RATING = Table(
    "evaluation_rating", METADATA,
    Column("evaluation_id", Integer, ForeignKey("evaluation.id"), primary_key=True),
    Column("item_id", Integer, ForeignKey("item.id"), primary_key=True),
    Column("login", String(64), ForeignKey("person.login"), primary_key=True),
    Column("rating", String(16), nullable=False),
    Column("note", Text, nullable=True),
    Column("rated_at", UTCDateTime(), nullable=False),
)

# The answer to a write sent with an ``Idempotency-Key``: the same key from the same person
# gets this answer again and changes nothing twice. Stored in the write's own transaction.
IDEMPOTENCY = Table(
    "idempotency", METADATA,
    Column("login", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("operation", String(80), nullable=False),
    Column("result", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# One row whose value the database bumps (triggers of migration 0007) whenever a unit or a
# person changes: a process keeps the directory while the value it read it at stays.
DIRECTORY_GENERATION = Table(
    "directory_generation", METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("value", BigInteger, nullable=False),
)

# A file cited by an item's record (佐证材料): kept in the evidence store by its hash, cited
# by the audit event that brought it. Withdrawing hides it from views; the row, the event and
# the file stay.
EVIDENCE = Table(
    "evidence", METADATA,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("item.id"), nullable=False, index=True),
    Column("sha256", String(64), nullable=False, index=True),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(120), nullable=False),
    Column("name", String(200), nullable=False),
    Column("event", String(40), nullable=True),  # the event it came with; None: 补充材料
    Column("item_version", Integer, nullable=False),
    Column("note", String(400), nullable=True),
    Column("public", Boolean, nullable=False, default=False),
    Column("attached_by", String(64), nullable=False),
    Column("attached_at", UTCDateTime(), nullable=False),
    Column("withdrawn_by", String(64), nullable=True),
    Column("withdrawn_at", UTCDateTime(), nullable=True),
    Column("withdrawn_reason", String(400), nullable=True),
)
