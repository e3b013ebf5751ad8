"""Ready-made guards and effects that workflows compose.

Each factory returns a small function the engine calls while firing an event: a guard returns
a one-line refusal or ``None``; an effect changes the draft item. Keeping them here lets
workflow modules stay declarations. All but :func:`children_in` read only the item, the inputs
and the directory (:func:`duban.engine.batch.reads_no_items`): a batch of timer firings need
not write its decisions before calling them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from duban.engine.batch import reads_no_items
from duban.engine.models import ITEM, PERSON, UNIT, Role
from duban.engine.timeutil import local_text
from duban.engine.workflow import Draft, Effect, EventContext, Guard


def later_than_now(field_name: str) -> Guard:
    """The given instant must lie in the future."""

    @reads_no_items
    def guard(ctx: EventContext) -> str | None:
        value = ctx.values.get(field_name)
        if value is not None and value <= ctx.now:
            return f"新期限 {local_text(value, ctx.tz)} 已经过去, 请给出今后的日期"
        return None

    return guard


def later_than_deadline(field_name: str) -> Guard:
    """The given instant must lie after the item's current deadline (an extension extends)."""

    @reads_no_items
    def guard(ctx: EventContext) -> str | None:
        value = ctx.values.get(field_name)
        current = ctx.item["current_deadline"]
        if value is not None and value <= current:
            return (
                f"申请的期限 {local_text(value, ctx.tz)} 不晚于现期限 "
                f"{local_text(current, ctx.tz)}, 无需延期"
            )
        return None

    return guard


def other_unit(field_name: str) -> Guard:
    """A transfer must go to a different unit, or the item would come straight back."""

    @reads_no_items
    def guard(ctx: EventContext) -> str | None:
        if ctx.values.get(field_name) == ctx.item["lead_unit"]:
            return "转办的目标单位与现承办单位相同"
        return None

    return guard


def attr_is(key: str, expected: Any, message: str) -> Guard:
    @reads_no_items
    def guard(ctx: EventContext) -> str | None:
        return None if ctx.item["attrs"].get(key) == expected else message

    return guard


def attr_is_not(key: str, unwanted: Any, message: str) -> Guard:
    @reads_no_items
    def guard(ctx: EventContext) -> str | None:
        return message if ctx.item["attrs"].get(key) == unwanted else None

    return guard


def set_deadline(field_name: str, why: str) -> Effect:
    """Move the current deadline; the original deadline never changes."""

    @reads_no_items
    def effect(ctx: EventContext, draft: Draft) -> None:
        draft.set("current_deadline", ctx.values[field_name])
        draft.set("deadline_reason", why)

    return effect


def set_deadline_from_attr(key: str, override_field: str, why: str) -> Effect:
    """Grant a deadline asked for earlier (stored in attrs), unless a new one is given now."""

    @reads_no_items
    def effect(ctx: EventContext, draft: Draft) -> None:
        deadline = ctx.values.get(override_field) or _instant_attr(draft, key)
        if deadline is not None:
            draft.set("current_deadline", deadline)
            draft.set("deadline_reason", why)

    return effect


def move_to_unit(field_name: str) -> Effect:
    @reads_no_items
    def effect(ctx: EventContext, draft: Draft) -> None:
        draft.set("lead_unit", ctx.values[field_name])

    return effect


def set_attr(key: str, value: Any = None, *, from_field: str | None = None) -> Effect:
    """Set (or with ``None``, clear) a workflow attribute, from a constant or a field."""

    @reads_no_items
    def effect(ctx: EventContext, draft: Draft) -> None:
        new = ctx.values.get(from_field) if from_field else value
        if hasattr(new, "isoformat"):
            new = new.isoformat()
        draft.set_attr(key, new)

    return effect


def count(key: str) -> Effect:
    """Count occurrences, e.g. warnings or interviews, for the ledger and the assessment."""

    @reads_no_items
    def effect(ctx: EventContext, draft: Draft) -> None:
        draft.set_attr(key, int(draft.attr(key, 0)) + 1)

    return effect


def record_actor(key: str) -> Effect:
    """Remember who did this, e.g. who signed for the item first (首问责任制)."""

    @reads_no_items
    def effect(ctx: EventContext, draft: Draft) -> None:
        if draft.attr(key) is None:
            draft.set_attr(key, ctx.actor.login)

    return effect


def name_unit_head(note: str = "unit_head") -> Effect:
    """Name the lead unit's head in the event (who is summoned, who answers for the unit)."""

    @reads_no_items
    def effect(ctx: EventContext, draft: Draft) -> None:
        draft.notes[note] = _unit_head(ctx, draft["lead_unit"])

    return effect


def name_one_level_up(note: str = "one_level_up") -> Effect:
    """上查一级: name the lead leader, or failing that the head of the unit above."""

    @reads_no_items
    def effect(ctx: EventContext, draft: Draft) -> None:
        leader = draft["lead_leader"]
        if leader is None:
            parent = ctx.conn.execute(
                select(UNIT.c.parent_code).where(UNIT.c.code == draft["lead_unit"])
            ).scalar()
            leader = _unit_head(ctx, parent) if parent else None
        draft.notes[note] = leader

    return effect


def _unit_head(ctx: EventContext, unit_code: str) -> str | None:
    """The unit's registered head, or else a person of the unit holding the unit-head role."""
    head = ctx.conn.execute(select(UNIT.c.head_login).where(UNIT.c.code == unit_code)).scalar()
    if head is not None:
        return head
    members = ctx.conn.execute(
        select(PERSON.c.login, PERSON.c.roles)
        .where(PERSON.c.unit_code == unit_code, PERSON.c.active)
        .order_by(PERSON.c.login)
    )
    return next((row.login for row in members if Role.unit_head in row.roles), None)


def _instant_attr(draft: Draft, key: str) -> Any:
    raw = draft.attr(key)
    return datetime.fromisoformat(raw) if raw else None


def stamp(key: str) -> Effect:
    """Record when this happened, e.g. when the report that may be accepted was sent."""

    @reads_no_items
    def effect(ctx: EventContext, draft: Draft) -> None:
        draft.set_attr(key, ctx.now.isoformat())

    return effect


def judge_on_time(reported_key: str = "reported_at") -> Effect:
    """On time means: the report finally accepted came before the current deadline."""

    @reads_no_items
    def effect(ctx: EventContext, draft: Draft) -> None:
        reported = _instant_attr(draft, reported_key) or ctx.now
        draft.set_attr("on_time", reported <= draft["current_deadline"])

    return effect


def restart_clock() -> Effect:
    """A redo starts the unit's clock again, against the redo deadline."""

    @reads_no_items
    def effect(ctx: EventContext, draft: Draft) -> None:
        draft.set("clock_start", ctx.now)

    return effect


def judge_signing(workdays: int = 1, stamp_key: str = "signed_at") -> Effect:
    """Signed in time means: within ``workdays`` working days of assignment (or transfer),
    counted from receipt as every limit is (:meth:`WorkCalendar.workday_limit`)."""

    @reads_no_items
    def effect(ctx: EventContext, draft: Draft) -> None:
        draft.set_attr(stamp_key, ctx.now.isoformat())
        assigned = draft["state_since"].astimezone(ctx.tz).date()
        limit = ctx.calendar.workday_limit(assigned, workdays)
        draft.set_attr("signed_on_time", ctx.now.astimezone(ctx.tz).date() <= limit)

    return effect


def within_workdays(workdays: int, what: str) -> Guard:
    """Only within ``workdays`` working days of entering the current state (e.g. a misrouted
    order goes back within 2 working days of its assignment)."""

    @reads_no_items
    def guard(ctx: EventContext) -> str | None:
        if ctx.calendar is None:
            return None
        entered = ctx.item["state_since"].astimezone(ctx.tz).date()
        limit = ctx.calendar.workday_limit(entered, workdays)
        if ctx.now.astimezone(ctx.tz).date() > limit:
            return f"{what}须在{workdays}个工作日内(截至 {limit.isoformat()}), 已超过"
        return None

    return guard


def attr_below(key: str, limit: int, message: str) -> Guard:
    """Refused once a counted attribute reached ``limit`` (one extension, one redo)."""

    @reads_no_items
    def guard(ctx: EventContext) -> str | None:
        return message if (ctx.item["attrs"].get(key) or 0) >= limit else None

    return guard


def at_most_workdays_later(field_name: str, workdays: int) -> Guard:
    """A requested deadline no more than ``workdays`` working days after the current one."""

    @reads_no_items
    def guard(ctx: EventContext) -> str | None:
        value = ctx.values.get(field_name)
        if value is None or ctx.calendar is None:
            return None
        current = ctx.item["current_deadline"].astimezone(ctx.tz).date()
        limit = ctx.calendar.add_workdays(current, workdays)
        if value.astimezone(ctx.tz).date() > limit:
            return f"最多延长{workdays}个工作日(至 {limit.isoformat()})"
        return None

    return guard


def value_is_not(field_name: str, unwanted: Any, unless_attr: str, message: str) -> Guard:
    """Refuse a value (e.g. 不满意) unless a counted attribute is already set (redone once)."""

    @reads_no_items
    def guard(ctx: EventContext) -> str | None:
        if ctx.values.get(field_name) == unwanted and not ctx.item["attrs"].get(unless_attr):
            return message
        return None

    return guard


def children_in(states: tuple[str, ...], what: str) -> Guard:
    """A parent (a broken-down key task) moves on only when every sub-item is in ``states``."""

    def guard(ctx: EventContext) -> str | None:
        from sqlalchemy import func

        waiting = ctx.conn.execute(
            select(func.count()).select_from(ITEM)
            .where(ITEM.c.parent_id == ctx.item["id"], ITEM.c.state.not_in(states))
        ).scalar_one()
        return f"尚有 {waiting} 项子任务未办结, 不能{what}" if waiting else None

    return guard


def actor_in_unit(unit_code: str, inside: bool, message: str) -> Guard:
    """Only people of (or not of) a unit: the inspection group confirms for the group."""

    @reads_no_items
    def guard(ctx: EventContext) -> str | None:
        return None if (ctx.actor.unit_code == unit_code) == inside else message

    return guard


def attrs_set(keys: tuple[str, ...], labels: tuple[str, ...], what: str) -> Guard:
    """Every one of ``keys`` recorded first, e.g. the three sign-offs before closing."""

    @reads_no_items
    def guard(ctx: EventContext) -> str | None:
        missing = [label for key, label in zip(keys, labels, strict=True)
                   if not ctx.item["attrs"].get(key)]
        return f"{what}还需: {'、'.join(missing)}" if missing else None

    return guard


def item_exists(ctx: EventContext, item_id: int) -> bool:
    """Whether an item with this number exists: for rules that name another item."""
    return ctx.conn.execute(select(ITEM.c.id).where(ITEM.c.id == item_id)).first() is not None
