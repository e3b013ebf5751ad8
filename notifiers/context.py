"""What a notice template sees: the item in words, the people by name, the office, the dates.

Units and people come from the transaction's directory, read once (a batch of timer firings
renders many notices); logins become names, codes become unit names, instants stay aware
datetimes for the ``cn_date`` / ``cn_datetime`` filters. What users typed (an item's title,
goal and measures, an event's reasons and reports) reaches the templates with Chinese
punctuation where it was typed in ASCII (:func:`full_width_punctuation`).
"""

from __future__ import annotations

import re
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


# ASCII punctuation and the Chinese forms it becomes in Chinese text.
FULL_WIDTH = {",": "，", ":": "：", ";": "；", "?": "？", "!": "！", "(": "（", ")": "）"}
# Spans left exactly as typed: web addresses (without the punctuation that ends the sentence
# after one) and e-mail addresses.
VERBATIM = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*://|www\.)[\x21-\x7e]*[A-Za-z0-9/#=&_%~-]"
                      r"|[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+", re.ASCII)


def _chinese(char: str) -> bool:
    """A character of Chinese text: a Chinese character, Chinese punctuation or a full-width
    form, or the curly quotes and dashes Chinese input methods type."""
    code = ord(char)
    return (0x2E80 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0xFE30 <= code <= 0xFE4F
            or 0xFF00 <= code <= 0xFFEF or 0x20000 <= code <= 0x3FFFF or char in "“”‘’—…·")


def full_width_punctuation(text: str) -> str:
    """``text`` with ASCII , : ; ? ! ( ) as ，：；？！（） where they punctuate Chinese text:
    next to a Chinese character (spaces around them dropped), or, for a pair of brackets,
    around or inside Chinese text. Left as typed: between digits (1,000, 09:30, 3:2), in
    Latin text (Hello, world), a bracket right after a Latin word around Latin text (f(x)),
    web and e-mail addresses."""
    if not text or text.isascii():
        return text
    chars = list(text)
    keep = [False] * len(chars)
    for found in VERBATIM.finditer(text):
        end = found.end()
        while text[found.start():end].count("(") > text[found.start():end].count(")") \
                and text[end:end + 1] == ")":
            end += 1  # the bracket closing one inside the address belongs to it
        keep[found.start():end] = [True] * (end - found.start())
    convert: set[int] = set()  # the positions of the marks that become full-width
    before_at, after_at = _neighbours(chars)
    chinese_upto = [0]  # Chinese characters before each position: a bracket's inside at once
    for char in chars:
        chinese_upto.append(chinese_upto[-1] + _chinese(char))

    def chinese_beside(at: int) -> bool:
        """A Chinese character, or a mark already made full-width, next to ``at``."""
        return any(found in convert or _chinese(chars[found])
                   for found in (before_at[at], after_at[at]) if found >= 0)

    def plain_mark(at: int) -> bool:
        return (chars[at] in FULL_WIDTH and chars[at] not in "()" and not keep[at]
                and at not in convert and not _between_digits(chars, at))

    while True:  # until no mark changes: a mark beside a changed one is in Chinese text too
        before = len(convert)
        opened: list[int] = []  # the ( not yet closed
        for at, char in enumerate(chars):
            if keep[at] or char not in FULL_WIDTH or at in convert:
                continue
            if char == "(":
                opened.append(at)
            elif char == ")" and opened:
                start = opened.pop()
                glued = start > 0 and chars[start - 1].isascii() and chars[start - 1].isalnum()
                if (chinese_beside(start) and not glued or chinese_beside(at) and not glued
                        or chinese_upto[at] > chinese_upto[start + 1]):
                    convert.update((start, at))
            elif not _between_digits(chars, at) and chinese_beside(at):
                convert.add(at)  # , : ; ? ! and a bracket that was never opened or closed
        convert.update(at for at in opened if chinese_beside(at))
        # the same backwards, so that a run of marks converts in one round, not one per mark
        for at in range(len(chars) - 1, -1, -1):
            if plain_mark(at) and chinese_beside(at):
                convert.add(at)
        if len(convert) == before:
            break
    out = []
    for at, char in enumerate(chars):
        if char == " " and (before_at[at] in convert or after_at[at] in convert):
            continue  # Chinese punctuation carries its own spacing
        out.append(FULL_WIDTH[char] if at in convert else char)
    return "".join(out)


def _neighbours(chars: list[str]) -> tuple[list[int], list[int]]:
    """For every position, the nearest character other than a space before it and after it
    (-1 when there is none): found once, so that long runs of spaces cost nothing more."""
    before, after = [-1] * len(chars), [-1] * len(chars)
    last = -1
    for at, char in enumerate(chars):
        before[at] = last
        if char != " ":
            last = at
    last = -1
    for at in range(len(chars) - 1, -1, -1):
        after[at] = last
        if chars[at] != " ":
            last = at
    return before, after


def _between_digits(chars: list[str], at: int) -> bool:
    """1,000 and 09:30: a mark with a digit right before and right after it."""
    return 0 < at < len(chars) - 1 and chars[at - 1].isdigit() and chars[at + 1].isdigit()


def typed(value: Any) -> Any:
    """``value`` (a string, or a payload of them) with :func:`full_width_punctuation`."""
    if isinstance(value, str):
        return full_width_punctuation(value)
    if isinstance(value, list | tuple):
        return [typed(part) for part in value]
    if isinstance(value, Mapping):
        return {key: typed(part) for key, part in value.items()}
    return value


# The fields of an item that users type, as opposed to codes, logins and instants.
TYPED_FIELDS = ("title", "goal", "measures", "attrs")


def build(
    txn: ReadTxn,
    item: Mapping[str, Any] | None,
    payload: Mapping[str, Any],
    to: Sequence[str],
    cc: Sequence[str],
    *,
    office: Office,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The template context of one notice, as of ``now`` (the transaction's, by default)."""
    units, people = txn.directory.units, txn.directory.people
    now, tz, calendar = now or txn.now, txn.tz, txn.calendar
    payload = typed(payload)

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
        day = calendar.workday_limit(today, count)  # counted from receipt, as limits are
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
                **{field: typed(item[field]) for field in TYPED_FIELDS if field in item},
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
