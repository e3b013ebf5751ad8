"""批示件: a leader's written instruction, followed to the letter.

Built from the standard workflow the way an admin would write one: the same lifecycle, with
the rules of instructions (see docs/WORKFLOWS.md):
- every item names the instructing leader (牵头领导), and the unit's answer goes back to them;
- only that leader approves or refuses more time (the office is told, but does not decide);
- the goal is 100% on time: a miss escalates at once — a red warning to the unit and its head,
  copied to the leader and the office, and a proposal to summon the unit head, both at the
  deadline; reminders come at half time and one working day before.
The limits below are settings of this workflow, not of the engine.
"""

from __future__ import annotations

from dataclasses import replace

from duban.workflows.standard import CLOCK
from duban.workflows.standard import WORKFLOW as STANDARD
from duban.workflows.vocabulary import (
    LEADER,
    SUPERVISORS,
    TO_OWNER,
    TO_UNIT,
    Anchor,
    Notify,
    Recipient,
    Role,
    TimerSpec,
    Workflow,
)

REMIND_WORKDAYS_BEFORE = 1  # 提醒: one working day before the deadline
HALF_TIME_PERCENT = 50  # and when half the time has gone
DECISION_WORKDAYS = 1  # the leader is reminded of a pending extension after this long
OFFICE_AND_LEADER = (Recipient.lead_leader, Recipient.supervisors)

TIMERS = (
    TimerSpec("remind_half", "批示件办理时限过半提醒", states=CLOCK, anchor=Anchor.elapsed,
              percent=HALF_TIME_PERCENT, notice="reminder", skip_after_deadline=True),
    TimerSpec("remind_1", f"期限前{REMIND_WORKDAYS_BEFORE}个工作日提醒", states=CLOCK,
              workdays=-REMIND_WORKDAYS_BEFORE, notice="reminder", skip_after_deadline=True),
    TimerSpec("red", "批示件逾期: 立即红色预警", states=CLOCK, fire="warn",
              values={"level": "red", "reason": "批示件未在时限内办结"},
              notice="warning", to=TO_UNIT, cc=OFFICE_AND_LEADER),
    TimerSpec("escalate", "批示件逾期: 立即建议约谈", states=CLOCK, notice="interview_proposal",
              to=SUPERVISORS, cc=LEADER),
    TimerSpec("extension_decision", "延期申请待领导审批提醒", states=("extension_requested",),
              anchor=Anchor.entered, workdays=DECISION_WORKDAYS, notice="extension_pending",
              to=LEADER),
)


def _adapted(event):
    """The standard events, with the leader deciding extensions and hearing the answer."""
    if event.name in ("approve_extension", "deny_extension"):
        return replace(event, roles=(Role.lead_leader,),
                       notices=(Notify("extension_result", to=TO_OWNER,
                                       cc=(Recipient.unit_head, Recipient.supervisors)),),
                       description="延期须经作出批示的领导同意。")
    if event.name == "request_extension":
        return replace(event, notices=(Notify("extension_request", to=LEADER,
                                              cc=SUPERVISORS),))
    if event.name == "report":
        return replace(event, notices=(Notify("instruction_reply", to=LEADER,
                                              cc=SUPERVISORS),),
                       description="办理结果报送作出批示的领导, 并抄送督查室。")
    return event


WORKFLOW = Workflow(
    name="instruction",
    version=1,
    label="领导批示件",
    description="批示件: 时限短, 办理结果报批示领导, 延期须批示领导同意, 逾期即刻预警并建议约谈。",
    states=STANDARD.states,
    initial=STANDARD.initial,
    events=tuple(_adapted(event) for event in STANDARD.events),
    timers=TIMERS,
    on_create=STANDARD.on_create,
    create_requires=("lead_leader",),
    yellow_workdays=1,
)
