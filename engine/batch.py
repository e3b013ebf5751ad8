"""A batch of timer firings decided in Python and written in one statement per table.

The ticker reads a batch's items and their timer rows once (:meth:`Batch.load`); each step is
then decided through the same code as a single firing (machines, guards, effects, timer plans,
notices), which asks the batch instead of the database for these rows and hands it the writes
instead of executing them. Each step can be undone in Python (:meth:`mark` / :meth:`undo`):
no savepoint per step. :meth:`flush` writes everything held, in one executemany per table,
with the items' versions checked; the ticker falls back to firing step by step when it fails.

Only the rows a timer batch changes are held here: items, their co-unit index, timers and
notices. Guards and effects that read other items are given the batch's writes first
(:func:`needs_flush`); those marked :func:`reads_no_items` are not.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from duban.engine.models import ITEM, ITEM_CO_UNIT, NOTICE, TIMER
from duban.engine.prepared import Prepared

FIXED_COLUMNS = frozenset(("id", "created_at", "created_by"))  # never updated
# Every changeable column: one statement serves every item of a batch, whatever changed.
UPDATE_ITEM = (
    update(ITEM)
    .where(ITEM.c.id == bindparam("_id"), ITEM.c.version == bindparam("_version"))
    .values({c.name: bindparam(c.name) for c in ITEM.columns if c.name not in FIXED_COLUMNS})
)
TIMER_COLUMNS = (TIMER.c.id, TIMER.c.item_id, TIMER.c.step, TIMER.c.deadline_version,
                 TIMER.c.status, TIMER.c.due_at)
SET_STATUS = (update(TIMER).where(TIMER.c.id == bindparam("_id"))
              .values(status=bindparam("status"), due_at=bindparam("due_at")))
FINISH = update(TIMER).where(TIMER.c.id == bindparam("_id")).values(
    status=bindparam("status"), fired_at=bindparam("fired_at"),
    late_seconds=bindparam("late_seconds"), outcome=bindparam("outcome"),
)
WRITE_ITEMS = Prepared(UPDATE_ITEM)
CHANGE_STATUS, FINISH_STEP = Prepared(SET_STATUS), Prepared(FINISH)
UNINDEX_CO_UNITS = delete(ITEM_CO_UNIT).where(ITEM_CO_UNIT.c.item_id == bindparam("_id"))


class BatchWriteFailed(Exception):
    """A bulk write of the batch did not do what was decided (a row changed meanwhile)."""


def reads_no_items(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a guard or effect that reads nothing a timer batch writes (items, timers,
    notices): the batch need not write its decisions before calling it."""
    callback.reads_no_items = True  # type: ignore[attr-defined]
    return callback


def needs_flush(callbacks: Iterable[Callable[..., Any]]) -> bool:
    return any(not getattr(callback, "reads_no_items", False) for callback in callbacks)


class BatchMark(NamedTuple):
    generation: int
    item_id: int
    item: dict[str, Any] | None  # the held values, never changed in place
    timers: list[tuple[dict[str, Any], str, Any]]  # each held row with its status and due
    updated: dict[str, Any] | None
    lengths: tuple[int, int, int, int, int]


@dataclass(eq=False)
class Batch:
    """The items and timer rows of one batch, and the writes decided for them."""

    items: dict[int, dict[str, Any]] = field(default_factory=dict)
    timers: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # by item
    stored_versions: dict[int, int] = field(default_factory=dict)
    updated: dict[int, dict[str, Any]] = field(default_factory=dict)  # final values by item
    reindexed: list[dict[str, Any]] = field(default_factory=list)  # items whose co-units moved
    status_changes: list[dict[str, Any]] = field(default_factory=list)
    new_timers: list[dict[str, Any]] = field(default_factory=list)
    finished: list[dict[str, Any]] = field(default_factory=list)
    notices: list[tuple[dict[str, Any], dict[str, Any] | None]] = field(default_factory=list)
    # the notices written so far (the others existed already), in the order they were decided
    written: list[tuple[dict[str, Any], dict[str, Any] | None]] = field(default_factory=list)
    generation: int = 0  # how many flushes: a mark from before one has nothing left to undo

    @classmethod
    def load(cls, conn: Connection, item_ids: Iterable[int]) -> Batch:
        """The batch's items and all their timer rows, in two statements."""
        ids = sorted(set(item_ids))
        batch = cls()
        for row in _dicts(conn.execute(select(ITEM).where(ITEM.c.id.in_(ids)))):
            batch.items[row["id"]] = row
            batch.stored_versions[row["id"]] = row["version"]
        for item_id in ids:
            batch.timers[item_id] = []
        for row in _dicts(conn.execute(select(*TIMER_COLUMNS).where(TIMER.c.item_id.in_(ids))
                                       .order_by(TIMER.c.id))):
            batch.timers[row["item_id"]].append(row)
        return batch

    def holds(self, item_id: int) -> bool:
        return item_id in self.items

    # -- what a step reads -----------------------------------------------------------------

    def item(self, item_id: int) -> dict[str, Any]:
        return _copy(self.items[item_id])

    def timer_rows(self, item_id: int) -> list[dict[str, Any]]:
        return self.timers[item_id]

    def timer_status(self, item_id: int, timer_id: int) -> str | None:
        return next((row["status"] for row in self.timers[item_id] if row["id"] == timer_id),
                    None)

    # -- what a step writes ----------------------------------------------------------------

    def save_item(self, values: dict[str, Any], co_units_moved: bool) -> None:
        item_id = values["id"]
        self.items[item_id] = _copy(values)  # replaced, never changed in place
        self.updated[item_id] = self.items[item_id]
        if co_units_moved:
            self.reindexed.append(self.items[item_id])

    def set_timer(self, row: dict[str, Any], status: str, due_at: Any) -> None:
        """A held timer row changed: re-armed, cancelled or moved."""
        row["status"], row["due_at"] = status, due_at
        if row["id"] is not None:
            self.status_changes.append({"_id": row["id"], "status": status, "due_at": due_at})
        # a row not yet inserted is its own pending insert: changed in place

    def add_timers(self, rows: list[dict[str, Any]]) -> None:
        """New timer rows: each held row is its own pending insert until the flush."""
        for row in rows:
            held = {**row, "id": None}
            self.new_timers.append(held)
            self.timers[row["item_id"]].append(held)

    def finish(self, item_id: int, params: dict[str, Any]) -> None:
        for row in self.timers[item_id]:
            if row["id"] == params["_id"]:
                row["status"] = params["status"]
        self.finished.append(params)

    def add_notice(self, row: dict[str, Any], item: dict[str, Any] | None) -> None:
        self.notices.append((row, item))

    # -- undo ------------------------------------------------------------------------------

    def mark(self, item_id: int) -> BatchMark:
        rows = self.timers.get(item_id, [])
        return BatchMark(
            self.generation, item_id, self.items.get(item_id),
            [(row, row["status"], row["due_at"]) for row in rows], self.updated.get(item_id),
            (len(self.reindexed), len(self.status_changes), len(self.new_timers),
             len(self.finished), len(self.notices)))

    def undo(self, mark: BatchMark) -> None:
        """Forget what a failed step decided. A flush only happens before a step has written
        anything (before its guards and effects), so what is held since a flush is its own."""
        same = mark.generation == self.generation
        lengths = mark.lengths if same else (0, 0, 0, 0, 0)
        for held, length in zip((self.reindexed, self.status_changes, self.new_timers,
                                 self.finished, self.notices), lengths, strict=True):
            del held[length:]
        if mark.item is None:
            return
        self.items[mark.item_id] = mark.item
        for row, status, due_at in mark.timers:
            row["status"], row["due_at"] = status, due_at
        self.timers[mark.item_id] = [row for row, _, _ in mark.timers]
        if same and mark.updated is not None:
            self.updated[mark.item_id] = mark.updated
        else:
            self.updated.pop(mark.item_id, None)

    # -- writing ---------------------------------------------------------------------------

    def flush(self, conn: Connection) -> None:
        """Write everything held. Raises :class:`BatchWriteFailed` when an item changed since
        it was read."""
        if self.updated:
            params = [{**{name: value for name, value in values.items()
                          if name not in FIXED_COLUMNS},
                       "_id": item_id, "_version": self.stored_versions[item_id]}
                      for item_id, values in self.updated.items()]
            if WRITE_ITEMS.execute_many(conn, params) != len(params):
                raise BatchWriteFailed("事项在本批处理期间被改动")
            for item_id, values in self.updated.items():
                self.stored_versions[item_id] = values["version"]
        if self.reindexed:
            conn.execute(UNINDEX_CO_UNITS, [{"_id": row["id"]} for row in self.reindexed])
            pairs = [{"item_id": row["id"], "unit_code": code, "lead_unit": row["lead_unit"],
                      "state": row["state"], "current_deadline": row["current_deadline"]}
                     for row in _latest(self.reindexed) for code in row["co_units"]]
            if pairs:
                conn.execute(insert(ITEM_CO_UNIT), pairs)
        if self.status_changes:
            CHANGE_STATUS.execute_many(conn, self.status_changes)
        if self.new_timers:
            ids = conn.execute(
                insert(TIMER).returning(TIMER.c.id, sort_by_parameter_order=True),
                [{name: value for name, value in row.items() if name != "id"}
                 for row in self.new_timers]).scalars().all()
            for row, new_id in zip(self.new_timers, ids, strict=True):
                row["id"] = new_id
        if self.finished:
            FINISH_STEP.execute_many(conn, self.finished)
        self.written.extend(self._write_notices(conn))
        self.updated, self.reindexed = {}, []
        self.status_changes, self.new_timers, self.finished, self.notices = [], [], [], []
        self.generation += 1

    def _write_notices(self, conn: Connection) -> list[tuple[dict[str, Any],
                                                             dict[str, Any] | None]]:
        if not self.notices:
            return []
        keys = [row["key"] for row, _ in self.notices]
        existing = set(conn.execute(select(NOTICE.c.key).where(NOTICE.c.key.in_(keys)))
                       .scalars())
        fresh, seen = [], set(existing)
        for row, item in self.notices:
            if row["key"] not in seen:  # the same step never notifies twice
                seen.add(row["key"])
                fresh.append((row, item))
        if fresh:
            ids = conn.execute(insert(NOTICE).returning(NOTICE.c.id, sort_by_parameter_order=True),
                               [row for row, _ in fresh]).scalars().all()
            fresh = [({**row, "id": notice_id}, item)
                     for (row, item), notice_id in zip(fresh, ids, strict=True)]
        return fresh


def _dicts(result: Any) -> list[dict[str, Any]]:
    """Rows as dicts, the names read once (a mapping per row looks them up every time)."""
    names = list(result.keys())
    return [dict(zip(names, row, strict=True)) for row in result]


def _copy(item: dict[str, Any]) -> dict[str, Any]:
    """An item's values apart from the held ones: its containers (attrs, co-units, the
    deadline's basis) are what an event changes in place, one level deep (see Draft)."""
    return {name: copy.copy(value) if isinstance(value, (dict, list)) else value
            for name, value in item.items()}


def _latest(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each item once, as it was last decided."""
    return list({row["id"]: row for row in rows}.values())
