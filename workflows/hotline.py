"""市长热线 / 12345 work orders (热线工单).

The rules of published hotline regulations, as settings of this workflow (docs/WORKFLOWS.md):
sign within 1 working day; a misrouted order goes back within 2 working days with a reason;
answer within the limit of its category (``LIMITS``: give it as the deadline, e.g.
``--deadline "5个工作日"``, or hours when urgent); one extension of up to 10 working days; a
follow-up call (回访) the next working day records 满意 / 基本满意 / 不满意; the first 不满意 sends
it back for one redo; repeated complaints about the same matter are linked to the first.
"""

from __future__ import annotations

from dataclasses import replace

from duban.engine.rules import (
    at_most_workdays_later,
    attr_below,
    count,
    item_exists,
    judge_on_time,
    judge_signing,
    later_than_deadline,
    later_than_now,
    record_actor,
    restart_clock,
    set_attr,
    set_deadline,
    stamp,
    value_is_not,
    within_workdays,
)
from duban.workflows.standard import WORKFLOW as STANDARD
from duban.workflows.vocabulary import (
    ANY_STATE,
    OFFICE,
    SUPERVISORS,
    TO_OWNER,
    TO_UNIT,
    UNIT_SIDE,
    Anchor,
    Event,
    FieldSpec,
    Notify,
    Recipient,
    State,
    TimerSpec,
    Workflow,
)

SIGN_WORKDAYS = 1
RETURN_WORKDAYS = 2
EXTENSIONS = 1
EXTENSION_WORKDAYS = 10
FOLLOW_UP_WORKDAYS = 1
REDOS = 1
# Answer limits by category, as offices publish them (some cities allow 13-15 for complaints).
LIMITS = {"consultation": "3个工作日", "complaint": "5个工作日", "complex": "15个工作日",
          "urgent": "24小时"}

CLOCK = ("assigned", "in_progress")
FIELDS = (FieldSpec("related", "相关工单编号", max_length=20),)


def same_matter(ctx):
    """The related order must exist and be another one."""
    text = str(ctx.values.get("related") or "").strip()
    if not text.isdigit() or int(text) == ctx.item["id"]:
        return "相关工单编号应为另一个工单的编号"
    if not item_exists(ctx, int(text)):
        return f"没有编号为 {text} 的工单"
    return None


def _standard(name: str) -> Event:
    event = STANDARD.event(name)
    assert event is not None
    return event


TIMERS = (
    TimerSpec("sign_due", f"派单{SIGN_WORKDAYS}个工作日未签收", states=("assigned",),
              anchor=Anchor.entered, workdays=SIGN_WORKDAYS, notice="sign_overdue",
              to=(Recipient.handlers, Recipient.unit_head)),
    TimerSpec("remind_1", "期限前1个工作日提醒", states=CLOCK, workdays=-1,
              notice="reminder", skip_after_deadline=True),
    TimerSpec("red", "工单超时: 红色预警", states=CLOCK, fire="warn",
              values={"level": "red", "reason": "热线工单超过办理时限"},
              notice="warning", to=TO_UNIT, cc=SUPERVISORS),
    TimerSpec("follow_up", "办结次日回访", states=("reported",), anchor=Anchor.entered,
              workdays=FOLLOW_UP_WORKDAYS, notice="follow_up_due", to=SUPERVISORS),
)

WORKFLOW = Workflow(
    name="hotline",
    version=1,
    label="热线工单",
    description="12345/市长热线工单: 1个工作日内签收, 2个工作日内可退回, 延期一次不超过10个工作日, "
                "办结次日回访, 不满意重办一次。",
    states=(
        State("assigned", "已派单"),
        State("in_progress", "办理中"),
        State("returned", "已退回"),
        State("extension_requested", "延期待批", waiting_on="督查室"),
        State("reported", "已办结待回访", waiting_on="督查室"),
        State("closed", "已回访办结", final=True),
    ),
    initial="assigned",
    fields=FIELDS,
    timers=TIMERS,
    on_create=STANDARD.on_create,
    yellow_workdays=1,
    events=(
        Event("sign", "签收", source=("assigned",), dest="in_progress", roles=UNIT_SIDE,
              effects=(record_actor("owner"), judge_signing(workdays=SIGN_WORKDAYS))),
        Event("return_order", "退回(非本单位职责)", source=("assigned",), dest="returned",
              roles=UNIT_SIDE, requires=("reason",),
              guards=(within_workdays(RETURN_WORKDAYS, "退回"),),
              description=f"派单有误的, {RETURN_WORKDAYS}个工作日内说明理由退回。"),
        replace(_standard("transfer"), source=("assigned", "returned")),
        _standard("progress"),
        Event("request_extension", "申请延期", source=("in_progress",),
              dest="extension_requested", roles=UNIT_SIDE, requires=("reason", "deadline"),
              guards=(later_than_deadline("deadline"),
                      attr_below("extensions", EXTENSIONS, f"热线工单只能延期{EXTENSIONS}次"),
                      at_most_workdays_later("deadline", EXTENSION_WORKDAYS)),
              effects=(set_attr("requested_deadline", from_field="deadline"),)),
        _standard("approve_extension"),
        _standard("deny_extension"),
        Event("report", "办结", source=("in_progress", "extension_requested"), dest="reported",
              roles=UNIT_SIDE, requires=("report",),
              effects=(set_attr("requested_deadline"), stamp("reported_at"))),
        Event("visit", "回访", source=("reported",), dest="closed", roles=OFFICE,
              requires=("satisfaction",), accepts=("note",),
              guards=(value_is_not("satisfaction", "不满意", "redos",
                                   "首次回访不满意应退回重办(visit_redo)"),),
              effects=(set_attr("satisfaction", from_field="satisfaction"),
                       set_attr("verification", from_field="note"), judge_on_time(),
                       stamp("verified_at")),
              notices=(Notify("closed", to=TO_OWNER),)),
        # The figures count it as a redo and as a 不满意 rating, like a visit rated 不满意.
        Event("visit_redo", "回访不满意, 重办", source=("reported",), dest="in_progress",
              roles=OFFICE, requires=("reason", "deadline"), counts_as="reject", rating="不满意",
              guards=(attr_below("redos", REDOS, f"已重办{REDOS}次: 请回访并如实记录满意度"),
                      later_than_now("deadline")),
              effects=(set_attr("first_satisfaction", "不满意"),
                       set_deadline("deadline", "回访不满意重办"), count("redos"),
                       restart_clock()),
              notices=(Notify("redo", to=TO_UNIT),)),
        Event("link", "关联重复投诉", source=(ANY_STATE,), dest=None, roles=OFFICE,
              requires=("related",), guards=(same_matter,),
              effects=(set_attr("repeat_of", from_field="related"),)),
        _standard("warn"),
        _standard("summon"),
    ),
)
