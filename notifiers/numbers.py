"""Document numbers: 督办〔2026〕12号, one sequence per prefix and year, never a gap.

The number is taken in the transaction that writes the notice, by one upsert on the sequence
row: a rolled-back notice gives its number back, and on PostgreSQL the row lock makes
concurrent daemons wait their turn rather than share a number.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Integer, bindparam

from duban.engine.db import dialect_statement
from duban.engine.models import DOC_SEQUENCE


def take(conn: Connection, prefix: str, year: int, count: int = 1) -> int:
    """Take ``count`` consecutive numbers; returns the first."""
    last = conn.execute(dialect_statement(conn, "doc_number", _upsert),
                        {"prefix": prefix, "year": year, "last": count, "step": count}).scalar_one()
    return last - count + 1


def format_number(prefix: str, year: int, number: int) -> str:
    return f"{prefix}〔{year}〕{number}号"


def _upsert(insert: Any) -> Any:
    return insert(DOC_SEQUENCE).on_conflict_do_update(
        index_elements=["prefix", "year"],
        set_={"last": DOC_SEQUENCE.c.last + bindparam("step", type_=Integer)},
    ).returning(DOC_SEQUENCE.c.last)


def blank_number(prefix: str, year: int) -> str:
    """A draft's number, left blank: 督办〔2026〕　号."""
    return f"{prefix}〔{year}〕　号"
