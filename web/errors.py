"""How the engine's refusals travel over HTTP: one JSON shape, statuses by error class."""

from __future__ import annotations

from typing import Any

from duban.engine.errors import (
    Conflict,
    DubanError,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    NotSignedIn,
    Refused,
    SetupError,
)

# (class, HTTP status, code): the first that matches, so subclasses come first.
STATUSES: tuple[tuple[type[DubanError], int, str], ...] = (
    (NotSignedIn, 401, "not_signed_in"),
    (InvalidInput, 422, "invalid_input"),
    (Refused, 403, "refused"),
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (IntegrityFailure, 500, "integrity_failure"),
    (SetupError, 503, "setup"),
)


def status_of(err: DubanError) -> tuple[int, str]:
    for kind, status, code in STATUSES:
        if isinstance(err, kind):
            return status, code
    return 500, "internal"


def body(message: str, status: int, code: str, **extra: Any) -> dict[str, Any]:
    """The one error shape: ``{"error": {"code", "message", "status"}}`` and extras."""
    return {"error": {"code": code, "message": message, "status": status, **extra}}
