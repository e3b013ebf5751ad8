"""建议提案: NPC suggestions and CPPCC proposals (人大建议、政协提案).

The lead unit (主办) answers; co-units (协办) send their views to it within a month; the lead
unit contacts the proposer within 15 working days (面商); the answer is due within 3 calendar
months (``--deadline "3个月"``) and is graded A (solved) / B (being solved) / C (later) / D
(for reference); the proposer rates it; an unsatisfied proposer gets a new answer, once, within
another 3 months. The figures are this workflow's settings.
"""

from __future__ import annotations

from dataclasses import replace

from duban.engine.rules import (
    attr_below,
    count,
    judge_on_time,
    later_than_now,
    record_actor,
    restart_clock,
    set_attr,
    set_deadline,
    stamp,
    value_is_not,
)
from duban.workflows.standard import WORKFLOW as STANDARD
from duban.workflows.vocabulary import (
    CO_UNITS,
    OFFICE,
    TO_UNIT,
    UNIT_SIDE,
    Anchor,
    Event,
    FieldKind,
    FieldSpec,
    Notify,
    Role,
    State,
    TimerSpec,
    Workflow,
)

CO_VIEW_MONTHS = 1
CONTACT_WORKDAYS = 15
ANSWER_AGAIN = "3个月"  # documented limit of a new answer; given as the redo's deadline
GRADES = {"A": "A类(已解决或基本解决)", "B": "B类(正在解决或列入计划解决)",
          "C": "C类(因条件限制留作参考)", "D": "D类(留作参考)"}
WORKING = ("assigned", "handling", "contacted")


def co_view(ctx, draft) -> None:
    """Keep each co-unit's view under its unit code."""
    views = dict(draft.attr("co_views") or {})
    views[ctx.actor.unit_code] = ctx.values["note"]
    draft.set_attr("co_views", views)


def co_views_in(ctx) -> str | None:
    missing = sorted(set(ctx.item["co_units"] or ()) - set(ctx.item["attrs"].get("co_views", {})))
    return f"协办单位 {'、'.join(missing)} 尚未提出协办意见" if missing else None


WORKFLOW = Workflow(
    name="proposal",
    version=1,
    label="建议提案",
    description="人大建议、政协提案: 协办意见1个月内, 15个工作日内面商, 3个月内答复并分类, "
                "提案人评价, 不满意的重新答复一次。",
    states=(
        State("assigned", "已交办"),
        State("handling", "办理中"),
        State("contacted", "已面商"),
        State("answered", "已答复待评价", waiting_on="提案人/督查室"),
        State("closed", "已办结", final=True),
    ),
    initial="assigned",
    fields=(FieldSpec("grade", "答复分类", FieldKind.choice, choices=GRADES),),
    on_create=(*STANDARD.on_create, Notify("assignment", to=CO_UNITS)),
    timers=(
        TimerSpec("co_views_due", f"交办{CO_VIEW_MONTHS}个月: 协办意见到期", states=WORKING,
                  anchor=Anchor.assigned, months=CO_VIEW_MONTHS, notice="reminder",
                  to=CO_UNITS),
        TimerSpec("contact_due", f"交办{CONTACT_WORKDAYS}个工作日: 应已面商提案人",
                  states=("assigned", "handling"), anchor=Anchor.assigned,
                  workdays=CONTACT_WORKDAYS, notice="reminder"),
        TimerSpec("remind", "答复期限前5个工作日提醒", states=WORKING, workdays=-5,
                  notice="reminder", skip_after_deadline=True),
        TimerSpec("red", "超过答复期限: 红色预警", states=WORKING, fire="warn",
                  values={"level": "red", "reason": "建议提案超过答复期限"}, notice="warning",
                  to=TO_UNIT),
    ),
    events=(
        Event("sign", "签收", source=("assigned",), dest="handling", roles=UNIT_SIDE,
              effects=(record_actor("owner"),)),
        Event("co_view", "提出协办意见", source=WORKING, dest=None, roles=(Role.co_unit,),
              requires=("note",), effects=(co_view,),
              description="协办单位在1个月内向主办单位提出协办意见。"),
        Event("contact", "与提案人面商", source=("handling",), dest="contacted", roles=UNIT_SIDE,
              requires=("note",), effects=(set_attr("contact", from_field="note"),
                                           stamp("contacted_at"))),
        Event("answer", "答复提案人", source=("contacted",), dest="answered", roles=UNIT_SIDE,
              requires=("report", "grade"), guards=(co_views_in,),
              effects=(set_attr("grade", from_field="grade"), stamp("reported_at"))),
        Event("rate", "提案人评价", source=("answered",), dest="closed", roles=OFFICE,
              requires=("satisfaction",),
              guards=(value_is_not("satisfaction", "不满意", "redos",
                                   "提案人不满意的, 应重新答复(answer_again)"),),
              effects=(set_attr("satisfaction", from_field="satisfaction"), judge_on_time(),
                       stamp("verified_at"))),
        # The figures count it as a redo and as a 不满意 rating, like a rating given in `rate`.
        Event("answer_again", "不满意, 重新答复", source=("answered",), dest="contacted",
              roles=OFFICE,
              requires=("reason", "deadline"), counts_as="reject", rating="不满意",
              guards=(attr_below("redos", 1, "已重新答复过一次: 请如实记录评价"),
                      later_than_now("deadline")),
              effects=(set_attr("first_satisfaction", "不满意"),
                       set_deadline("deadline", "提案人不满意, 重新答复"), count("redos"),
                       restart_clock()),
              notices=(Notify("redo", to=TO_UNIT),)),
        replace(STANDARD.event("warn"), source=WORKING),
    ),
)
