"""The demo's script primitives: each step moves the office's clock, acts through the
service as a person, lets the daemon's timers fire and says in one line what happened.

The clock only goes forward, so the printed log reads in the order things happened. Work
that runs over several days beside the main story (a batch of hotline complaints) is put on
the agenda with :meth:`Story.later`; moving the clock first does whatever the agenda holds
before the new time, in time order.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from datetime import datetime
from itertools import count

from duban.engine.clock import FixedClock
from duban.engine.items import NewItem
from duban.engine.service import Service
from duban.engine.timeutil import parse_instant
from duban.notifiers.sender import deliver

SUPERVISOR = "zhao_m"  # who assigns the demo's items


class Story:
    """The demo's script: each step says in one line what happened in the office."""

    def __init__(self, service: Service, clock: FixedClock, echo: Callable[[str], None],
                 names: Mapping[str, str]) -> None:
        self.service, self.clock, self.echo, self.names = service, clock, echo, names
        self.tz = service.tz
        self.timer_steps = 0
        self.delivered = 0
        self.quiet: set[int] = set()  # items whose timer steps are not told one by one
        self.highlights = (1, 1)  # items worth a look afterwards
        self._agenda: list[tuple[datetime, int, Callable[[], None]]] = []
        self._order = count()  # steps due at the same time run in the order they were put

    def at(self, text: str) -> None:
        """Move the clock forward, doing first what the agenda holds before that time; the
        daemon's timers fire whatever fell due meanwhile."""
        target = parse_instant(text, self.tz)
        while self._agenda and self._agenda[0][0] <= target:
            when, _, step = heapq.heappop(self._agenda)
            self._move(when)
            step()
        self._move(target)

    def later(self, text: str, step: Callable[[], None]) -> None:
        """Do ``step`` when the clock reaches ``text`` (a step may put further steps)."""
        when = parse_instant(text, self.tz)
        if when < self.clock.now():
            raise ValueError(f"the demo's clock does not go back to {text}")
        heapq.heappush(self._agenda, (when, next(self._order), step))

    def _move(self, target: datetime) -> None:
        if target < self.clock.now():
            raise ValueError(f"the demo's clock does not go back to {target.isoformat()}")
        self.clock.set(target)
        report = self.service.tick()
        for step in report.steps:
            if step["status"] == "fired" and step["item_id"] not in self.quiet:
                self.say(f"定时: 事项{step['item_id']} {step['note']}")
        self.timer_steps += report.fired
        self.deliver()

    def deliver(self) -> None:
        """The daemon sends what the tick and the commands wrote to the outbox."""
        self.delivered += deliver(self.service, keep_outcomes=False).sent

    def say(self, text: str) -> None:
        local = self.clock.now().astimezone(self.tz)
        self.echo(f"[{local:%m-%d %H:%M}] {text}")

    def act(self, actor: str, item_id: int, event: str, **values: str) -> None:
        item = self.service.fire(actor, item_id, event, values)
        wf = self.service.registry.get(item["workflow"], item["workflow_version"])
        name = self.names.get(actor, actor)
        self.say(f"{name}: {wf.event(event).label} 事项{item_id} → {wf.state_label(item['state'])}")

    def new(self, title: str, unit: str, deadline: str, **extra) -> int:
        spec = NewItem(title=title, lead_unit=unit,
                       deadline=parse_instant(deadline, self.tz, end_of_day=True), **extra)
        item = self.service.new_item(SUPERVISOR, spec)
        self.say(f"督查室交办 事项{item['id']}〔{title}〕 → {unit}, 期限 {deadline}")
        return item["id"]
