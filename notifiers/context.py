"""What a notice template sees: the item in words, the people by name, the office, the dates.

Units and people come from the transaction's directory, read once (a batch of timer firings
renders many notices); logins become names, codes become unit names, instants stay aware
datetimes for the ``cn_date`` / ``cn_datetime`` filters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from duban.engine.txn import ReadTxn
from duban.notifiers.config import Office

# How a document names where an item came from, before its title: 领导批示件“…”.
SOURCE_PHRASES = {
    "instruction": "领导批示件",
    "meeting": "会议议定事项",
    "key_task": "重点工作",
    "proposal": "建议提案",
    "hotline": "热线投诉件",
    "inspection": "巡视整改事项",
    "petition": "信访事项",
    "other": "",
}


def build(
    txn: ReadTxn,
    item: Mapping[str, Any] | None,
    payload: Mapping[str, Any],
    to: Sequence[str],
    cc: Sequence[str],
    *,
    office: Office,
) -> dict[str, Any]:
    """The template context of one notice, as of the transaction's now."""
    units, people = txn.directory.units, txn.directory.people
    now, tz, calendar = txn.now, txn.tz, txn.calendar

    def person(login: str | None) -> str:
        if not login:
            return ""
        found = people.get(login)
        return found["name"] if found else login

    def person_with_unit(login: str) -> str:
        found = people.get(login)
        if not found:
            return login
        unit = units.get(found["unit_code"] or "")
        return f"{unit['name']}{found['name']}" if unit else found["name"]

    def unit_name(code: str | None) -> str:
        if not code:
            return ""
        found = units.get(code)
        return found["name"] if found else code

    today = now.astimezone(tz).date()

    def workdays_after(count: int) -> datetime:
        day = calendar.add_workdays(today, count)
        return datetime(day.year, day.month, day.day, 23, 59, tzinfo=tz)

    context: dict[str, Any] = {
        "office": office,
        "now": now,
        "payload": payload,
        "values": payload.get("values", {}),
        "notes": payload.get("notes", {}),
        "to_names": [person_with_unit(login) for login in to],
        "cc_names": [person_with_unit(login) for login in cc],
        "person": person,
        "person_with_unit": person_with_unit,
        "unit_name": unit_name,
        "workdays_after": workdays_after,
        "instant": lambda text: datetime.fromisoformat(text) if text else None,
    }
    if item is not None:
        deadline = item["current_deadline"]
        due = deadline.astimezone(tz).date()
        head = units.get(item["lead_unit"], {}).get("head_login")
        context.update({
            "item": {
                **item,
                "source_label": SOURCE_PHRASES.get(item["source"], ""),
                "lead_unit_name": unit_name(item["lead_unit"]),
                "co_unit_names": [unit_name(code) for code in item["co_units"] or ()],
                "lead_leader_name": person(item["lead_leader"]),
                "deadline": deadline,
                "created": item["created_at"],
            },
            "unit_head": person(head),
            "workdays_left": calendar.count_workdays(today, due) if due > today else 0,
            "overdue_workdays": (calendar.count_workdays(due, today)
                                 if today > due else 0),
            "overdue": now > deadline,
            "days_since_created": (now - item["created_at"]) // timedelta(days=1),
        })
    return context
