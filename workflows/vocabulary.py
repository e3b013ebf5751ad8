"""The words the packaged workflows are written in: the declarations, who acts, who is told.

A workflow module takes its declarations from here and its guards and effects from
:mod:`duban.engine.rules`, so that it reads like the office's own rules. An admin's workflow
(setting ``workflows_dir``) may import from here too.
"""

from __future__ import annotations

from duban.engine.fields import FieldKind, FieldSpec
from duban.engine.models import Role
from duban.engine.timers import Anchor, Recipient, TimerSpec
from duban.engine.workflow import ANY_STATE, Event, Notify, State, Workflow

__all__ = [
    "ANY_STATE", "CO_UNITS", "Event", "FieldKind", "FieldSpec", "HEAD", "LEADER", "OFFICE",
    "Anchor", "Notify", "Recipient", "Role", "State", "SUPERVISORS", "TimerSpec", "TO_OWNER",
    "TO_UNIT", "UNIT_SIDE", "Workflow",
]

# Who acts.
UNIT_SIDE = (Role.handler, Role.unit_head)  # the lead unit: its handlers and its head
OFFICE = (Role.supervisor,)  # the supervision office (督查室)

# Who is told.
TO_OWNER = (Recipient.owner,)  # whoever signed for the item, else the lead unit's handlers
TO_UNIT = (Recipient.owner, Recipient.unit_head)  # the unit's responsible person and its head
HEAD = (Recipient.unit_head,)
LEADER = (Recipient.lead_leader,)  # the leader in charge (牵头领导)
SUPERVISORS = (Recipient.supervisors,)
CO_UNITS = (Recipient.co_units,)  # the handlers of the co-units (协办单位)
