"""How commands print: JSON for programs, tables and lines for people."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
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
    print_table([Column(h) for h in headers],
                [["" if row.get(k) is None else str(row.get(k)) for k in keys] for row in rows],
                title=title)


@dataclass(frozen=True)
class Column:
    """A table column; ``needs`` is the terminal width below which it is left out, so that
    the columns a person needs most still fit a narrow terminal."""

    header: str
    needs: int = 0
    justify: str = "left"


def print_table(columns: Sequence[Column], rows: Sequence[Sequence[str]], *,
                title: str | None = None, styles: Sequence[str | None] | None = None,
                width: int | None = None) -> None:
    """A table as wide as the terminal (rich's detected width: the terminal's, ``COLUMNS``,
    or 80 when the output is not a terminal); long text folds within its column."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=width)
    kept = [i for i, column in enumerate(columns) if column.needs <= console.width]
    table = Table(title=title)
    for i in kept:
        table.add_column(columns[i].header, overflow="fold", justify=columns[i].justify)
    for n, row in enumerate(rows):
        table.add_row(*[row[i] for i in kept], style=styles[n] if styles else None)
    console.print(table)
