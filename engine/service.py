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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from duban.engine import (
    anchor,
    audit,
    calendar_store,
    calendar_view,
    choices,
    directory,
    idempotency,
    items,
    migrate,
    notices,
    rebuild,
    schema,
    seals,
    ticker,
    views,
    visibility,
)
from duban.engine.access import Actor
from duban.engine.errors import SetupError
from duban.engine.models import META, Role
from duban.engine.service_evidence import Attachment, EvidenceService
from duban.engine.service_people import PeopleService
from duban.engine.service_public import PublicService
from duban.engine.service_reports import ReportService
from duban.engine.sessions import ActorRef
from duban.engine.signing import ensure_key
from duban.engine.txn import Txn


@dataclass(frozen=True)
class InitResult:
    schema_before: str | None
    schema_after: str
    key_created: bool
    admin_created: str | None


class Service(PeopleService, ReportService, EvidenceService, PublicService):
    """Everything duban does, as methods. Build one per process and reuse it."""

    # -- setup ------------------------------------------------------------------------------

    def init(self, os_login: str, admin_name: str | None = None, demo: bool = False,
             supervisor: bool = False) -> InitResult:
        """Create or upgrade the schema; make the key; register the first admin if none (and,
        with ``supervisor``, as a supervisor too: one person may then assign items).

        Several users of one database share one key: a key is only made for a record nobody
        has signed yet, and a key that is not the one the record is signed with is refused."""
        admin_created = None
        self.db.create_file()
        with self.db.write() as conn:
            before, after = schema.upgrade(conn)
            key_created = self._ensure_shared_key(audit.last_key_id(conn))
            admin = Actor(os_login, admin_name or os_login, None, frozenset({Role.admin}))
            txn = self._txn(conn, admin)
            if before != after:
                txn.audit.append(at=txn.now, actor=os_login, action="schema_upgraded",
                                 payload={"from": before, "to": after})
            if before is not None and before < seals.FIRST_SEALED_REVISION:
                seals.refuse_if_sealed_before(conn)  # a schema version set back by hand
                counts = seals.seal_everything(conn, self.signer)  # first: what exists now
                txn.audit.append(at=txn.now, actor=os_login, action="sealed", payload=counts)
            if demo:
                txn.begin_directory_change()  # the flag is part of the sealed directory
                conn.execute(insert(META), {"key": "demo", "value": "true"})
            if not directory.has_people(conn):
                directory.add_person(
                    txn, directory.NewPerson(login=os_login, name=admin.name,
                                             roles=("admin", "supervisor") if supervisor
                                             else ("admin",)),
                    bootstrap=True)
                admin_created = os_login
            if demo or admin_created:
                seals.seal_directory(conn, self.signer)
            txn.audit.seal(txn.now)
        self._schema_checked = True
        return InitResult(before, after, key_created, admin_created)

    def _ensure_shared_key(self, signed_by: str | None) -> bool:
        path = self.settings.audit_key_path
        if not path.exists() and signed_by is not None:
            raise SetupError(
                f"本库的审计记录已由另一把密钥(编号 {signed_by})签名, 不能另建密钥 {path}: 请用 "
                "DUBAN_AUDIT_KEY 或配置项 audit_key 指向本库的共享密钥(见 docs/DEPLOYMENT.md)")
        created = ensure_key(path)
        if signed_by is not None and self.signer.key_id != signed_by:
            raise SetupError(
                f"密钥 {path}(编号 {self.signer.key_id})不是本库审计记录所用的密钥(编号 "
                f"{signed_by}): 请指向本库的共享密钥(见 docs/DEPLOYMENT.md)")
        return created

    def identify(self, actor: ActorRef) -> str:
        """The login a command acts as; refuses (and records) an unknown person."""
        with self.reading(actor, "identify") as txn:
            return txn.actor.login

    def me(self, actor: ActorRef) -> dict[str, Any]:
        """Who ``actor`` is: the person, their unit and roles."""
        with self.reading(actor, "me") as txn:
            person = dict(txn.directory.people[txn.actor.login])
            unit = txn.directory.units.get(person["unit_code"] or "")
            return {**person, "unit_name": unit["name"] if unit else "",
                    "office": txn.actor.has(Role.supervisor),
                    "admin": txn.actor.has(Role.admin),
                    "leader": txn.actor.has(Role.lead_leader)}

    def is_demo(self, actor: ActorRef) -> bool:
        with self.reading(actor) as txn:
            return txn.directory.demo

    # -- items --------------------------------------------------------------------------------

    def new_item(self, actor: ActorRef, spec: items.NewItem, *,
                 idempotency_key: str | None = None) -> dict[str, Any]:
        with self.transaction(actor, "item_new") as txn:
            return _once(txn, idempotency_key, "item_new", lambda: items.create(txn, spec))

    def fire(self, actor: ActorRef, item_id: int, event: str,
             values: Mapping[str, Any] | None = None,
             expected_version: int | None = None, *,
             idempotency_key: str | None = None,
             attachments: Sequence[Attachment] = ()) -> dict[str, Any]:
        """Fire an event; with an ``idempotency_key`` a repeat of the same request answers as
        the first did and changes nothing (the answer is then in its JSON form). Attached
        files are evidence of the event: all kept with it, or, refused, nothing written."""
        with self.received(attachments) as incoming, \
                self.transaction(actor, event, item_id) as txn:
            def work() -> dict[str, Any]:
                fired = items.fire(txn, item_id, event, values or {}, expected_version,
                                   evidence=incoming.files if incoming else ())
                if incoming:
                    incoming.keep()
                return fired

            return _once(txn, idempotency_key, f"fire:{item_id}:{event}", work)

    def edit_item(self, actor: ActorRef, item_id: int,
                  changes: Mapping[str, str]) -> dict[str, Any]:
        with self.transaction(actor, "edit", item_id) as txn:
            return items.edit(txn, item_id, changes)

    def item_view(self, actor: ActorRef, item_id: int) -> views.ItemView:
        """The item's 督办单: fields, allowed events, sub-items, history and notices."""
        with self.reading(actor, "item_show", item_id) as txn:
            return views.item_view(txn, item_id)

    def todo(self, actor: ActorRef) -> views.Todo:
        """What waits on ``actor`` now (待办), what they did lately (已办), counts by state."""
        with self.reading(actor, "todo") as txn:
            return views.todo(txn)

    def item(self, actor: ActorRef, item_id: int) -> dict[str, Any]:
        with self.reading(actor, "item_show", item_id) as txn:
            return items.load(txn, item_id)

    def possible_events(self, actor: ActorRef, item_id: int) -> list[tuple[str, str]]:
        """What ``actor`` may do to the item now, as (event, label)."""
        with self.reading(actor, "item_events", item_id) as txn:
            item = items.load(txn, item_id)
            workflow = txn.registry.get(item["workflow"], item["workflow_version"])
            return [(e.name, e.label) for e in items.possible_events(txn, workflow, item)]

    def event_options(self, actor: ActorRef, item_id: int) -> list[views.EventOption]:
        """What ``actor`` may do to the item now, with the inputs each event asks for."""
        with self.reading(actor, "item_events", item_id) as txn:
            item = items.load(txn, item_id)
            workflow = txn.registry.get(item["workflow"], item["workflow_version"])
            return [views.event_option(workflow, e)
                    for e in items.possible_events(txn, workflow, item)]

    def items(self, actor: ActorRef, **filters: Any) -> list[dict[str, Any]]:
        with self.reading(actor) as txn:
            if filters.get("state"):
                filters["state"] = choices.states(txn.registry, filters["state"])
            if filters.get("unit"):
                filters["unit"] = choices.unit(txn.conn, filters["unit"])
            if filters.get("workflow"):
                filters["workflow"] = choices.workflow(txn.registry, filters["workflow"])
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
            return views.item_history(txn, items.load(txn, item_id))

    def timers(self, actor: ActorRef, item_id: int) -> list[dict[str, Any]]:
        with self.reading(actor, "item_timers", item_id) as txn:
            return views.item_timers(txn, item_id)

    def notices(self, actor: ActorRef, item_id: int) -> list[dict[str, Any]]:
        with self.reading(actor, "item_notices", item_id) as txn:
            items.load(txn, item_id)
            return notices.visible_for_item(txn, item_id)

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
             keep_steps: bool = True, set_based: bool = True,
             documents: bool = True) -> ticker.TickReport:
        """Fire every timer step due at the clock's now (see :mod:`duban.engine.ticker`);
        ``documents=False`` leaves the notices' documents to the sender that follows."""
        return ticker.tick(self.system_transaction, batch_size=batch_size,
                           should_stop=should_stop, keep_steps=keep_steps,
                           set_based=set_based,
                           documents=self.make_documents if documents else None)

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

    # -- audit --------------------------------------------------------------------------------

    # The checks of the record may also run as the server's operator (``actor=None``): whoever
    # runs them there holds the database and the audit key already, as cron and the daemon do.

    def verify_audit(self, actor: ActorRef | None = None) -> audit.VerifyReport:
        with self._reading_as(actor, "audit_verify") as txn:
            visibility.require_record_keeper(txn)
            from duban.engine import audit_verify  # its worker processes: only when verifying

            report = audit_verify.verify(txn.conn, self.signer, url=self.db.url)
            report.problems.extend(seals.problems(txn.conn, self.signer))
            return report

    def reseal(self, os_login: str) -> dict[str, Any] | None:
        """The holder of the audit key accepts the directory as it now is; tokens whose seal
        is broken are revoked and broken account credentials cleared. Works when nobody can
        be identified (the directory itself is what is broken): holding the key is the
        authority. Returns what was found, or None when every seal held."""
        with self.db.write() as conn:
            self._check_schema(conn)
            if not any(seals.broken(conn, self.signer).values()):
                return None
            found = seals.reseal_all(conn, self.signer, self.clock.now())
            writer = audit.AuditWriter(conn, self.signer, serialize=self.db.is_postgres)
            now = self.clock.now()
            writer.append(at=now, actor=f"os:{os_login}"[:64], action="resealed", payload=found)
            writer.seal(now)
        return found

    def anchor_audit(self, actor: ActorRef | None = None,
                     to: Path | None = None) -> anchor.Anchored:
        """Write the signed head outside the database: to ``to``, or to the places of the
        settings' ``[audit]`` table (see :mod:`duban.engine.anchor`)."""
        places = anchor.AnchorPlaces(file=to) if to else anchor.places_from(self.settings)
        writing = (self.system_transaction() if actor is None
                   else self.transaction(actor, "audit_anchor"))
        with writing as txn:
            visibility.require_record_keeper(txn)
            return anchor.anchor_head(txn, self.signer, places)

    def verify_anchors(self, path: Path,
                       actor: ActorRef | None = None) -> anchor.AnchorReport:
        """Whether the chain still reaches every head anchored in the file at ``path``."""
        anchors = anchor.read_anchors(path)
        with self._reading_as(actor, "audit_verify") as txn:
            visibility.require_record_keeper(txn)
            return anchor.check_anchors(txn.conn, self.signer, anchors, self.tz,
                                        source=f" {path} ")

    def last_anchor(self, places: anchor.AnchorPlaces) -> anchor.Anchor | None:
        """The newest anchor recorded as written to ``places`` (the daemon's schedule)."""
        with self.system_reading() as txn:
            return anchor.last_anchor(txn.conn, places)

    def check_rebuild(self, actor: ActorRef | None = None,
                      item_id: int | None = None) -> rebuild.RebuildReport:
        with self._reading_as(actor, "audit_rebuild") as txn:
            visibility.require_record_keeper(txn)
            return rebuild.check(txn, item_id)


def _once(txn: Txn, key: str | None, operation: str, work: Callable[[], Any]) -> Any:
    """Do ``work`` once per idempotency key (no key: every time)."""
    if key is None:
        return work()
    done = idempotency.replay(txn, key, operation)
    if done is not None:
        return done
    return idempotency.remember(txn, key, operation, work())
