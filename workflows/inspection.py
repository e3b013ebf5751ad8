"""巡视整改: findings of an inspection become rectification items (问题清单).

Each problem carries its category (the problem library, 问题库), measures, a responsible unit
and person and a limit; some are fixed at once (立行立改), others long term. Colour warnings
before the limit (green, yellow copied to the leader in charge, red when overdue to the unit and
its head), and closing (销号) needs three sign-offs: the unit, the inspection group, the
supervision office. Statistics by category and unit: ``duban assess --period 2026 --by
category``. The figures below are this workflow's settings.
"""

from __future__ import annotations

from dataclasses import replace

from duban.engine.rules import (
    actor_in_unit,
    attr_is_not,
    attrs_set,
    count,
    judge_on_time,
    later_than_now,
    record_actor,
    restart_clock,
    set_attr,
    set_deadline,
    stamp,
)
from duban.workflows.standard import WORKFLOW as STANDARD
from duban.workflows.vocabulary import (
    HEAD,
    LEADER,
    OFFICE,
    TO_OWNER,
    TO_UNIT,
    UNIT_SIDE,
    Event,
    FieldKind,
    FieldSpec,
    Notify,
    Role,
    State,
    TimerSpec,
    Workflow,
)

INSPECTION_GROUP_UNIT = "XSZ"  # the unit code of the inspection group (巡视组)
GREEN_WORKDAYS = 14  # ≈ 20 days before the limit
YELLOW_WORKDAYS = 7  # ≈ 10 days before, copied to the leader in charge
CATEGORIES = {name: name for name in (
    "党的建设", "全面从严治党", "意识形态", "选人用人", "教育教学管理", "财务资产管理",
    "安全稳定", "作风建设", "其他")}
TERMS = {"immediate": "立行立改", "long_term": "长期整改"}
SIGN_OFFS = ("unit_confirmed", "group_confirmed", "office_confirmed")
SIGN_OFF_LABELS = ("单位确认", "巡视组确认", "督查室确认")
CLOCK = ("assigned", "rectifying")
RECTIFICATION_EVIDENCE = "整改佐证材料(照片、文件或会议记录)"


def _standard(name: str) -> Event:
    event = STANDARD.event(name)
    assert event is not None
    return event


VERSION_1 = Workflow(
    name="inspection",
    version=1,
    label="巡视整改",
    description="巡视反馈问题整改: 问题分类入库, 绿黄红预警, 单位、巡视组、督查室三方确认后销号。",
    states=(
        State("assigned", "已交办"),
        State("rectifying", "整改中"),
        State("reported", "已报整改结果", waiting_on="单位/巡视组/督查室确认"),
        State("closed", "已销号", final=True),
    ),
    initial="assigned",
    fields=(
        FieldSpec("category", "问题类别", FieldKind.choice, choices=CATEGORIES),
        FieldSpec("term", "整改类型", FieldKind.choice, choices=TERMS),
    ),
    create_fields=("category", "term"),
    on_create=STANDARD.on_create,
    yellow_workdays=YELLOW_WORKDAYS,
    timers=(
        TimerSpec("green", "距整改时限约20天: 绿色提醒", states=CLOCK, workdays=-GREEN_WORKDAYS,
                  notice="reminder", skip_after_deadline=True),
        TimerSpec("yellow", "距整改时限约10天: 黄色预警", states=CLOCK, workdays=-YELLOW_WORKDAYS,
                  fire="warn", values={"level": "yellow", "reason": "距整改时限约10天"},
                  notice="warning", cc=LEADER),
        TimerSpec("red", "超过整改时限: 红色预警", states=CLOCK, fire="warn",
                  values={"level": "red", "reason": "超过整改时限仍未整改到位"},
                  notice="warning", to=TO_UNIT, cc=LEADER),
    ),
    events=(
        Event("sign", "签收", source=("assigned",), dest="rectifying", roles=UNIT_SIDE,
              effects=(record_actor("owner"),)),
        Event("progress", "反馈整改进展", source=("rectifying",), dest=None, roles=UNIT_SIDE,
              requires=("note",), effects=(set_attr("last_progress", from_field="note"),)),
        Event("report", "报送整改结果", source=("rectifying",), dest="reported", roles=UNIT_SIDE,
              requires=("report",), effects=(stamp("reported_at"),)),
        Event("confirm_unit", "单位确认", source=("reported",), dest=None, roles=(Role.unit_head,),
              guards=(attr_is_not("unit_confirmed", True, "单位已确认"),),
              effects=(set_attr("unit_confirmed", True),)),
        Event("confirm_group", "巡视组确认", source=("reported",), dest=None, roles=OFFICE,
              guards=(actor_in_unit(INSPECTION_GROUP_UNIT, True, "只有巡视组成员可以确认"),),
              effects=(set_attr("group_confirmed", True),)),
        Event("confirm_office", "督查室确认", source=("reported",), dest=None, roles=OFFICE,
              guards=(actor_in_unit(INSPECTION_GROUP_UNIT, False,
                                    "巡视组成员不能代督查室确认"),),
              effects=(set_attr("office_confirmed", True),)),
        Event("close", "销号", source=("reported",), dest="closed", roles=OFFICE,
              guards=(attrs_set(SIGN_OFFS, SIGN_OFF_LABELS, "销号"),),
              effects=(judge_on_time(), stamp("verified_at")),
              notices=(Notify("closed", to=TO_OWNER, cc=HEAD),)),
        Event("reject", "退回整改", source=("reported",), dest="rectifying", roles=OFFICE,
              requires=("reason", "deadline"), guards=(later_than_now("deadline"),),
              effects=(*(set_attr(key) for key in SIGN_OFFS),
                       set_deadline("deadline", "退回整改"), count("redos"), restart_clock()),
              notices=(Notify("redo", to=TO_UNIT),)),
        replace(_standard("warn"), source=CLOCK),
        replace(_standard("summon"), source=(*CLOCK, "reported")),
        _standard("hold_accountable"),
    ),
)

# Version 2: the rectification's result is reported with its evidence, which 核查复核 checks.
WORKFLOW = replace(VERSION_1, version=2, events=tuple(
    replace(event, requires_evidence=RECTIFICATION_EVIDENCE) if event.name == "report" else event
    for event in VERSION_1.events))
WORKFLOWS = (VERSION_1,)  # items assigned before version 2 keep their rules
