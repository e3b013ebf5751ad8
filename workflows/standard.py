"""The standard 督办 workflow: 交办 → 签收办理 → 报结 → 核查 → 销号, with its branches.

Who may do what follows the office's division of labour (see docs/ARCHITECTURE.md): the lead
unit's handler or head signs, reports and asks for time; only the supervision office verifies,
sends back, warns, summons, holds to account and decides extensions.
"""

from __future__ import annotations

from duban.engine.rules import (
    attr_is,
    attr_is_not,
    count,
    judge_on_time,
    judge_signing,
    later_than_deadline,
    later_than_now,
    move_to_unit,
    name_one_level_up,
    name_unit_head,
    other_unit,
    record_actor,
    restart_clock,
    set_attr,
    set_deadline,
    set_deadline_from_attr,
    stamp,
)
from duban.workflows.vocabulary import (
    ANY_STATE,
    HEAD,
    LEADER,
    OFFICE,
    SUPERVISORS,
    TO_OWNER,
    TO_UNIT,
    UNIT_SIDE,
    Anchor,
    Event,
    Notify,
    State,
    TimerSpec,
    Workflow,
)

OPEN = ("assigned", "in_progress", "extension_requested")
# The unit's clock runs while the item is assigned or in progress; a report stops it, a pending
# extension request holds the warnings until the office decides.
CLOCK = ("assigned", "in_progress")

# The escalation ladder seen in practice (see docs/WORKFLOWS.md): a reminder before the
# deadline, a yellow warning at it (copied to the leader in charge), an urging letter the next
# working day, a red warning five working days on, and a proposal to summon the unit head.
TIMERS = (
    TimerSpec("remind_3", "期限前3个工作日提醒", states=CLOCK, workdays=-3,
              notice="reminder", skip_after_deadline=True),
    TimerSpec("remind_1", "期限前1个工作日提醒", states=CLOCK, workdays=-1,
              notice="reminder", skip_after_deadline=True),
    TimerSpec("elapsed_50", "办理时限过半提醒", states=CLOCK, anchor=Anchor.elapsed,
              percent=50, notice="reminder", skip_after_deadline=True),
    TimerSpec("yellow", "到期未报结: 黄色预警", states=CLOCK, fire="warn",
              values={"level": "yellow", "reason": "已到办理期限仍未报结"},
              notice="warning", cc=LEADER),
    TimerSpec("urge", "逾期次日催办", states=CLOCK, workdays=1, notice="urging", cc=LEADER),
    TimerSpec("red", "逾期5个工作日: 红色预警", states=CLOCK, workdays=5, fire="warn",
              values={"level": "red", "reason": "逾期5个工作日仍未报结"},
              notice="warning", to=TO_UNIT, cc=LEADER),
    TimerSpec("escalate", "逾期10个工作日: 建议约谈", states=CLOCK, workdays=10,
              notice="interview_proposal", to=SUPERVISORS),
    TimerSpec("progress_report", "每月调度: 报送进展", states=("in_progress",),
              anchor=Anchor.monthly, day_of_month=25, notice="progress_request"),
    TimerSpec("extension_decision", "延期申请待批提醒", states=("extension_requested",),
              anchor=Anchor.entered, workdays=2, notice="extension_pending", to=SUPERVISORS),
)

WORKFLOW = Workflow(
    name="standard",
    version=1,
    label="标准督办",
    description=(
        "交办、签收办理、报结、核查、销号; 含退回交办、转办、退回重办、延期、预警、约谈、问责。"
    ),
    states=(
        State("assigned", "已交办"),
        State("in_progress", "办理中"),
        State("extension_requested", "延期待批", waiting_on="督查室"),
        State("reported", "已报结"),
        State("verified", "已核查", done=True),
        State("closed", "已销号", final=True),
        State("declined", "已退回交办"),
    ),
    initial="assigned",
    timers=TIMERS,
    on_create=(Notify("assignment", to=TO_UNIT),),
    events=(
        Event(
            "sign", "签收", source=("assigned",), dest="in_progress", roles=UNIT_SIDE,
            effects=(record_actor("owner"), judge_signing(workdays=1)),
            description=("承办单位签收(1个工作日内为按时); "
                         "首位签收人成为本事项的责任人(首问责任制)。"),
        ),
        Event(
            "decline", "退回交办", source=("assigned",), dest="declined", roles=UNIT_SIDE,
            requires=("reason",),
            description="非本单位职责的事项, 说明理由退回督查室, 不得搁置。",
        ),
        Event(
            "transfer", "转办", source=("assigned", "in_progress", "declined"),
            dest="assigned", roles=OFFICE,
            requires=("unit", "reason"),
            guards=(other_unit("unit"),),
            effects=(move_to_unit("unit"), set_attr("owner"), count("transfers")),
            notices=(Notify("assignment", to=TO_UNIT),),
            description="督查室将事项转给正确的承办单位, 事项随之转移, 从不丢失。",
        ),
        Event(
            "reassign", "重新交办", source=("declined",), dest="assigned", roles=OFFICE,
            requires=("reason",),
            description="退回理由不成立, 仍由原单位承办。",
        ),
        Event(
            "progress", "反馈进展", source=("in_progress", "extension_requested"), dest=None,
            roles=UNIT_SIDE,
            requires=("note",),
            effects=(set_attr("last_progress", from_field="note"),),
        ),
        Event(
            "request_extension", "申请延期", source=("in_progress",),
            dest="extension_requested", roles=UNIT_SIDE,
            requires=("reason", "deadline"),
            guards=(later_than_deadline("deadline"),),
            effects=(set_attr("requested_deadline", from_field="deadline"),),
        ),
        Event(
            "approve_extension", "批准延期", source=("extension_requested",),
            dest="in_progress", roles=OFFICE,
            accepts=("reason", "deadline"),
            guards=(later_than_now("deadline"),),
            effects=(
                set_deadline_from_attr("requested_deadline", "deadline", "批准延期"),
                set_attr("requested_deadline"),
                count("extensions"),
            ),
            notices=(Notify("extension_result", to=TO_OWNER, cc=HEAD),),
        ),
        Event(
            "deny_extension", "驳回延期", source=("extension_requested",), dest="in_progress",
            roles=OFFICE,
            requires=("reason",),
            effects=(set_attr("requested_deadline"),),
            notices=(Notify("extension_result", to=TO_OWNER, cc=HEAD),),
        ),
        Event(
            "report", "报结", source=("in_progress", "extension_requested"), dest="reported",
            roles=UNIT_SIDE,
            requires=("report",),
            effects=(set_attr("requested_deadline"), stamp("reported_at")),
            description="承办单位书面报送办理结果。",
        ),
        Event(
            "verify", "核查通过", source=("reported",), dest="verified", roles=OFFICE,
            accepts=("note",),
            effects=(set_attr("verification", from_field="note"), judge_on_time(),
                     stamp("verified_at")),
        ),
        Event(
            "reject", "退回重办", source=("reported",), dest="in_progress", roles=OFFICE,
            requires=("reason", "deadline"),
            guards=(later_than_now("deadline"),),
            effects=(set_deadline("deadline", "退回重办"), count("redos"), restart_clock()),
            notices=(Notify("redo", to=TO_UNIT),),
            description="报结材料经核查不实或问题未解决, 退回重办并给出新期限。",
        ),
        Event("close", "销号", source=("verified",), dest="closed", roles=OFFICE,
              accepts=("note",), notices=(Notify("closed", to=TO_OWNER, cc=HEAD),)),
        Event(
            "warn", "预警", source=OPEN, dest=None, roles=OFFICE,
            requires=("level", "reason"),
            effects=(set_attr("warning", from_field="level"), count("warnings")),
            notices=(Notify("warning", to=TO_UNIT, cc=LEADER),),
            description="对进展缓慢或逾期的事项发出黄色或红色预警。",
        ),
        Event(
            "summon", "约谈", source=(*OPEN, "reported"), dest=None, roles=OFFICE,
            requires=("reason",), accepts=("at", "place"),
            effects=(name_unit_head("summoned"), count("interviews")),
            notices=(Notify("interview", to=HEAD, cc=LEADER),),
            description="约谈承办单位主要负责人。",
        ),
        Event(
            "hold_accountable", "问责", source=(ANY_STATE,), dest=None, roles=OFFICE,
            requires=("reason",),
            guards=(attr_is_not("accountability", "proposed", "本事项已在问责程序中"),),
            effects=(
                set_attr("accountability", "proposed"),
                name_unit_head("unit_head"),
                name_one_level_up("lead_leader"),
                count("accountability_cases"),
            ),
            notices=(Notify("accountability", to=SUPERVISORS),),
            description="对不作为、慢作为、弄虚作假提出问责, 上查一级, 点名牵头领导。",
        ),
        Event(
            "exempt", "容错免责", source=(ANY_STATE,), dest=None, roles=OFFICE,
            requires=("reason",),
            guards=(attr_is("accountability", "proposed", "本事项没有进行中的问责, 无从免责"),),
            effects=(set_attr("accountability", "exempted"),),
            description="符合容错情形的, 书面说明理由后免予问责。",
        ),
    ),
)
