"""How commands print: JSON for programs, tables and lines for people."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click


def to_json(value: Any) -> str:
    from duban.engine.audit import canonical

    return json.dumps(canonical(value), ensure_ascii=False, indent=2)


def echo_json(value: Any) -> None:
    click.echo(to_json(value))


def echo_record(row: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        echo_json(row)
    else:
        click.echo(text)


def echo_table(rows: Sequence[dict[str, Any]], as_json: bool, keys: list[str],
               headers: list[str], *, title: str | None = None) -> None:
    if as_json:
        echo_json(list(rows))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*headers, title=title)
    for row in rows:
        table.add_row(*["" if row.get(k) is None else str(row.get(k)) for k in keys])
    Console().print(table)
