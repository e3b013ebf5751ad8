"""The service every client calls: the CLI, the web, the daemon, the demo and the tests.

Each method takes the acting person first and runs in one transaction of its own
(:mod:`duban.engine.sessions`): a write commits its change, audit events, timers and notices
together or not at all; a read sees one snapshot. Who may see or do what is decided inside,
never by a client; what comes back is plain data (rows, reports and the views of
:mod:`duban.engine.views`) for the client to format.

Build one with :func:`duban.app.build_service`, which hands it the packaged workflows and
the notifiers; the engine itself knows neither.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from duban.engine import (
    access,
    audit,
    calendar_store,
    calendar_view,
    directory,
    items,
    migrate,
    notices,
    rebuild,
    reports,
    schema,
    ticker,
    timer_store,
    views,
)
from duban.engine.access import Actor
from duban.engine.assessment import Assessment, Weights, weights_from
from duban.engine.excel import TaskList
from duban.engine.figures import Figures
from duban.engine.ledger import LedgerFilter
from duban.engine.models import META, Role
from duban.engine.periods import Period
from duban.engine.sessions import ActorRef, Sessions
from duban.engine.signing import ensure_key

NO_PROGRESS: reports.Progress = lambda stage, done, total: None  # noqa: E731


@dataclass(frozen=True)
class InitResult:
    schema_before: str | None
    schema_after: str
    key_created: bool
    admin_created: str | None


class Service(Sessions):
    """Everything duban does, as methods. Build one per process and reuse it."""

    # -- setup ------------------------------------------------------------------------------

    def init(self, os_login: str, admin_name: str | None = None, demo: bool = False) -> InitResult:
        """Create or upgrade the schema; make the key; register the first admin if none."""
        key_created = ensure_key(self.settings.audit_key_path)
        admin_created = None
        with self.db.write() as conn:
            before, after = schema.upgrade(conn)
            admin = Actor(os_login, admin_name or os_login, None, frozenset({Role.admin}))
            txn = self._txn(conn, admin)
            if before != after:
                txn.audit.append(at=txn.now, actor=os_login, action="schema_upgraded",
                                 payload={"from": before, "to": after})
            if demo:
                conn.execute(insert(META), {"key": "demo", "value": "true"})
            if not directory.has_people(conn):
                directory.add_person(
                    txn, directory.NewPerson(login=os_login, name=admin.name, roles=("admin",)),
                    bootstrap=True)
                admin_created = os_login
            txn.audit.seal(txn.now)
        self._schema_checked = True
        return InitResult(before, after, key_created, admin_created)

    def identify(self, actor: ActorRef) -> str:
        """The login a command acts as; refuses (and records) an unknown person."""
        with self.reading(actor, "identify") as txn:
            return txn.actor.login

    def is_demo(self, actor: ActorRef) -> bool:
        with self.reading(actor) as txn:
            return access.is_demo(txn.conn)

    # -- directory ----------------------------------------------------------------------------

    def add_unit(self, actor: ActorRef, code: str, name: str, parent: str | None = None,
                 head: str | None = None) -> dict[str, Any]:
        with self.transaction(actor, "unit_add") as txn:
            return directory.add_unit(txn, code, name, parent, head)

    def set_unit_head(self, actor: ActorRef, code: str, head: str) -> dict[str, Any]:
        with self.transaction(actor, "unit_head") as txn:
            return directory.set_unit_head(txn, code, head)

    def set_unit_webhook(self, actor: ActorRef, code: str, url: str | None,
                         style: str = "json") -> dict[str, Any]:
        with self.transaction(actor, "unit_webhook") as txn:
            return directory.set_unit_webhook(txn, code, url, style)

    def add_person(self, actor: ActorRef, spec: directory.NewPerson) -> dict[str, Any]:
        with self.transaction(actor, "person_add") as txn:
            return directory.add_person(txn, spec)

    def set_away(self, actor: ActorRef, login: str, until: datetime | None,
                 deputy: str | None = None) -> dict[str, Any]:
        with self.transaction(actor, "person_away") as txn:
            return directory.set_away(txn, login, until, deputy)

    def units(self, actor: ActorRef) -> list[dict[str, Any]]:
        with self.reading(actor) as txn:
            return directory.list_units(txn)

    def people(self, actor: ActorRef, unit: str | None = None) -> list[dict[str, Any]]:
        with self.reading(actor) as txn:
            return directory.list_people(txn, unit)

    # -- items --------------------------------------------------------------------------------

    def new_item(self, actor: ActorRef, spec: items.NewItem) -> dict[str, Any]:
        with self.transaction(actor, "item_new") as txn:
            return items.create(txn, spec)

    def fire(self, actor: ActorRef, item_id: int, event: str,
             values: Mapping[str, Any] | None = None,
             expected_version: int | None = None) -> dict[str, Any]:
        with self.transaction(actor, event, item_id) as txn:
            return items.fire(txn, item_id, event, values or {}, expected_version)

    def edit_item(self, actor: ActorRef, item_id: int,
                  changes: Mapping[str, str]) -> dict[str, Any]:
        with self.transaction(actor, "edit", item_id) as txn:
            return items.edit(txn, item_id, changes)

    def item_view(self, actor: ActorRef, item_id: int) -> views.ItemView:
        """The item's 督办单: fields, allowed events, sub-items, history and notices."""
        with self.reading(actor, "item_show", item_id) as txn:
            return views.item_view(txn, item_id)

    def item(self, actor: ActorRef, item_id: int) -> dict[str, Any]:
        with self.reading(actor, "item_show", item_id) as txn:
            return items.load(txn, item_id)

    def possible_events(self, actor: ActorRef, item_id: int) -> list[tuple[str, str]]:
        """What ``actor`` may do to the item now, as (event, label)."""
        with self.reading(actor, "item_events", item_id) as txn:
            item = items.load(txn, item_id)
            workflow = txn.registry.get(item["workflow"], item["workflow_version"])
            return [(e.name, e.label) for e in items.possible_events(txn, workflow, item)]

    def items(self, actor: ActorRef, **filters: Any) -> list[dict[str, Any]]:
        with self.reading(actor) as txn:
            finals = {wf.name: {s.name for s in wf.states if s.final}
                      for wf in txn.registry.all_latest()}
            return items.list_items(txn, final_states=finals, **filters)

    def children(self, actor: ActorRef, item_id: int) -> dict[str, Any] | None:
        """The roll-up of an item's sub-items, or None when it has none."""
        with self.reading(actor, "item_show", item_id) as txn:
            items.load(txn, item_id)
            return items.children(txn.conn, [item_id]).get(item_id)

    def history(self, actor: ActorRef, item_id: int) -> list[dict[str, Any]]:
        with self.reading(actor, "item_history", item_id) as txn:
            items.load(txn, item_id)
            return audit.item_history(txn.conn, item_id)

    def timers(self, actor: ActorRef, item_id: int) -> list[dict[str, Any]]:
        with self.reading(actor, "item_timers", item_id) as txn:
            items.load(txn, item_id)
            return timer_store.item_timers(txn, item_id)

    def notices(self, actor: ActorRef, item_id: int) -> list[dict[str, Any]]:
        with self.reading(actor, "item_notices", item_id) as txn:
            return notices.for_item(txn, item_id)

    # -- workflows ----------------------------------------------------------------------------

    # Workflow definitions are the office's published rules, the same for everyone and held in
    # code: anyone may read them, before ``init`` too.

    def workflow_list(self) -> list[dict[str, Any]]:
        return views.workflow_list(self.registry)

    def workflow_view(self, name: str) -> dict[str, Any]:
        return views.workflow_view(self.registry, name)

    def migrate_workflow(self, actor: ActorRef, name: str, from_version: int, to_version: int,
                         mapping: Mapping[str, str],
                         item_ids: list[int] | None = None) -> migrate.MigrationPlan:
        with self.transaction(actor, "workflow_migrate") as txn:
            return migrate.migrate(txn, name, from_version, to_version, mapping, item_ids)

    def migration_plan(self, actor: ActorRef, name: str, from_version: int, to_version: int,
                       mapping: Mapping[str, str],
                       item_ids: list[int] | None = None) -> migrate.MigrationPlan:
        with self.reading(actor) as txn:
            return migrate.plan(txn, txn.registry.get(name, from_version),
                                txn.registry.get(name, to_version), mapping, item_ids)

    # -- timers -------------------------------------------------------------------------------

    def tick(self, batch_size: int = ticker.DEFAULT_BATCH,
             should_stop: Callable[[], bool] = lambda: False,
             keep_steps: bool = True) -> ticker.TickReport:
        """Fire every timer step due at the clock's now (see :mod:`duban.engine.ticker`)."""
        return ticker.tick(self.system_transaction, batch_size=batch_size,
                           should_stop=should_stop, keep_steps=keep_steps)

    # -- calendar -----------------------------------------------------------------------------

    def load_calendar_year(self, actor: ActorRef, path: Path) -> dict[str, Any]:
        arrangement = calendar_store.read_year_file(path)
        with self.transaction(actor, "calendar_load") as txn:
            result = calendar_store.load_year(txn, arrangement)
        self.forget_calendar()
        return result

    def calendar_year(self, actor: ActorRef, year: int) -> dict[str, Any]:
        """A year's holiday arrangement and its working days."""
        with self.reading(actor) as txn:
            return calendar_view.year_summary(txn.calendar, year)

    def is_workday(self, actor: ActorRef, day: str) -> dict[str, Any]:
        with self.reading(actor) as txn:
            return calendar_view.day_answer(txn.calendar, day)

    def deadline_from(self, actor: ActorRef, start: str, period: str) -> dict[str, Any]:
        """The deadline of a period ("5 workdays", "3个月") counted from ``start``."""
        with self.reading(actor) as txn:
            return calendar_view.deadline_answer(txn.calendar, txn.tz, start, period,
                                                 txn.closing)

    # -- the office's reports -----------------------------------------------------------------

    def ledger_page(self, actor: ActorRef, flt: LedgerFilter, *, limit: int | None = 200,
                    offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        with self.reading(actor, "ledger") as txn:
            return reports.ledger_page(txn, flt, limit=limit, offset=offset)

    def clear_to_zero(self, actor: ActorRef, per_unit: int = 5) -> list[dict[str, Any]]:
        with self.reading(actor, "ledger") as txn:
            return reports.clear_to_zero(txn, per_unit)

    def export_ledger(self, actor: ActorRef, flt: LedgerFilter, path: Path) -> int:
        with self.reading(actor, "ledger_export") as txn:
            return reports.export_ledger(txn, flt, path)

    def period_figures(self, actor: ActorRef, period: Period,
                       by: str = "unit") -> list[Figures]:
        with self.reading(actor, "figures") as txn:
            return reports.period_figures(txn, period, by)

    def assess(self, actor: ActorRef, period: Period) -> Assessment:
        weights = self.weights()
        with self.reading(actor, "assess") as txn:
            return reports.assess(txn, period, weights)

    def circular(self, actor: ActorRef, period: Period) -> dict[str, Any]:
        weights = self.weights()
        with self.transaction(actor, "circular") as txn:
            return reports.circular(txn, period, weights)

    def import_task_list(self, actor: ActorRef, path: Path, *, workflow: str = "standard",
                         progress: reports.Progress = NO_PROGRESS) -> list[int]:
        """Check the whole workbook, then create every item in one transaction, or none."""
        with self.reading(actor, "import") as txn:
            txn.registry.latest(workflow)
            found: TaskList = reports.check_task_list(txn, path, progress)
        with self.transaction(actor, "import") as txn:
            return reports.create_task_list(txn, found, workflow, path.stem, progress)

    def weights(self) -> Weights:
        """The assessment's weights from the settings file's ``[assessment]`` table."""
        return weights_from(self.settings.tables.get("assessment", {}))

    # -- notices ------------------------------------------------------------------------------

    def notice_list(self, actor: ActorRef, *, status: str | None = None,
                    item_id: int | None = None, kind: str | None = None, limit: int = 200,
                    offset: int = 0) -> list[dict[str, Any]]:
        with self.reading(actor, "notices") as txn:
            return notices.list_notices(txn, status=status, item_id=item_id, kind=kind,
                                        limit=limit, offset=offset)

    def notice_counts(self, actor: ActorRef) -> dict[str, int]:
        with self.reading(actor, "notices") as txn:
            return notices.counts(txn)

    def notice(self, actor: ActorRef, notice_id: int) -> dict[str, Any]:
        """One notice with its deliveries."""
        with self.reading(actor, "notice_show") as txn:
            return notices.notice(txn, notice_id)

    # -- audit --------------------------------------------------------------------------------

    # The checks of the record may also run as the server's operator (``actor=None``): whoever
    # runs them there holds the database and the audit key already, as cron and the daemon do.

    def verify_audit(self, actor: ActorRef | None = None) -> audit.VerifyReport:
        with self._reading_as(actor, "audit_verify") as txn:
            return audit.verify(txn.conn, self.signer)

    def check_rebuild(self, actor: ActorRef | None = None,
                      item_id: int | None = None) -> rebuild.RebuildReport:
        with self._reading_as(actor, "audit_rebuild") as txn:
            return rebuild.check(txn, item_id)
