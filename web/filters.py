"""A ledger filter from what a URL or a form says: the same words for the API and the pages."""

from __future__ import annotations

from duban.engine.ledger import LedgerFilter


def ledger_filter(*, q: str | None = None, state: str | None = None, unit: str | None = None,
                  source: str | None = None, workflow: str | None = None,
                  overdue: bool = False, open_only: bool = False) -> LedgerFilter:
    def given(value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    return LedgerFilter(text=given(q), state=given(state), unit=given(unit),
                        source=given(source), workflow=given(workflow), overdue=overdue,
                        open_only=open_only)
