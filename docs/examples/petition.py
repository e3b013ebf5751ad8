"""信访件 (petitions): the worked example of docs/WORKFLOWS.md, an admin's workflow.

Copy this file into the folder named by the ``workflows_dir`` setting; nothing in the engine
changes. The limits follow the 信访工作条例 as examples: an answer within 60 days of
acceptance (give it as ``--deadline "60天"``); a petitioner who does not accept the answer may
ask for a review (复查), to be answered within 30 days; a reminder five working days before the
limit and a red warning when it passes.
"""

from __future__ import annotations

from duban.engine.rules import count, later_than_now, record_actor, set_attr, set_deadline, stamp
from duban.workflows.vocabulary import (
    OFFICE,
    UNIT_SIDE,
    Event,
    Notify,
    Recipient,
    State,
    TimerSpec,
    Workflow,
)

REVIEW_LIMIT = "30天"  # the review's answer, from the day it was asked for
REMIND_WORKDAYS = 5
OPEN = ("received", "handling", "reviewing")

WORKFLOW = Workflow(
    name="petition",
    version=1,
    label="信访件",
    description="信访事项: 受理、办理答复(60日内)、不服可申请复查(30日内)、办结。",
    states=(
        State("received", "已受理"),
        State("handling", "办理中"),
        State("answered", "已答复"),
        State("reviewing", "复查中"),
        State("closed", "已办结", final=True),
    ),
    initial="received",
    on_create=(Notify("assignment", to=(Recipient.handlers, Recipient.unit_head)),),
    timers=(
        TimerSpec("remind", f"答复期限前{REMIND_WORKDAYS}个工作日提醒", states=OPEN,
                  workdays=-REMIND_WORKDAYS, notice="reminder", skip_after_deadline=True),
        TimerSpec("red", "超过答复期限: 红色预警", states=OPEN, fire="warn",
                  values={"level": "red", "reason": "信访事项超过答复期限"}, notice="warning",
                  to=(Recipient.owner, Recipient.unit_head), cc=(Recipient.lead_leader,)),
    ),
    events=(
        Event("sign", "签收", source=("received",), dest="handling", roles=UNIT_SIDE,
              effects=(record_actor("owner"),)),
        Event("answer", "出具答复意见", source=("handling", "reviewing"), dest="answered",
              roles=UNIT_SIDE,
              requires=("report",), effects=(stamp("reported_at"),)),
        Event("review", "申请复查", source=("answered",), dest="reviewing", roles=OFFICE,
              requires=("reason",), accepts=("deadline",),
              guards=(later_than_now("deadline"),),
              effects=(set_deadline("deadline", "申请复查"), count("reviews")),
              description=f"信访人不服答复的, 复查意见在{REVIEW_LIMIT}内作出。"),
        Event("close", "办结", source=("answered",), dest="closed", roles=OFFICE, accepts=("note",),
              effects=(set_attr("verification", from_field="note"), stamp("verified_at")),
              notices=(Notify("closed", to=(Recipient.owner,)),)),
        Event("warn", "预警", source=OPEN, dest=None, roles=OFFICE, requires=("level", "reason"),
              effects=(set_attr("warning", from_field="level"), count("warnings"))),
    ),
)
