"""重点工作 / 会议议定事项: a key task broken down (任务拆解) into sub-items.

The parent is a standard item whose report and closing wait for its sub-items: each sub-item
(``duban item new --parent N …``) is its own item with its own workflow, deadline and timers,
its deadline no later than the parent's (细化到周、具体到天). The parent shows the roll-up of its
children (``duban item show``, the ledger) and a monthly progress report is requested.
"""

from __future__ import annotations

from dataclasses import replace

from duban.engine.rules import children_in
from duban.engine.workflow import Workflow
from duban.workflows.standard import WORKFLOW as STANDARD

CHILDREN_DONE = ("closed",)


def _adapted(event):
    if event.name == "report":
        return replace(event, guards=(*event.guards, children_in(CHILDREN_DONE, "报结")),
                       description="全部子任务销号后, 牵头单位报结。")
    if event.name == "close":
        return replace(event, guards=(*event.guards, children_in(CHILDREN_DONE, "销号")))
    return event


WORKFLOW = Workflow(
    name="key_task",
    version=1,
    label="重点工作",
    description=("重点工作/会议议定事项: 拆解为子任务, 进度由子任务汇总, "
                 "子任务全部销号后方可报结、销号; 每月调度进展。"),
    states=STANDARD.states,
    initial=STANDARD.initial,
    events=tuple(_adapted(event) for event in STANDARD.events),
    timers=STANDARD.timers,
    on_create=STANDARD.on_create,
)
