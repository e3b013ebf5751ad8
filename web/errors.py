"""How the engine's refusals travel over HTTP: one JSON shape, statuses by error class."""

from __future__ import annotations

from typing import Any

from duban.engine.errors import (
    Conflict,
    DubanError,
    IntegrityFailure,
    InternalError,
    InvalidInput,
    NotFound,
    NotSignedIn,
    Refused,
    SetupError,
)

# (class, HTTP status): the first that matches, so subclasses come first. The code is the
# error's own (engine/errors.py), the same the command line's JSON errors carry.
STATUSES: tuple[tuple[type[DubanError], int], ...] = (
    (NotSignedIn, 401),
    (InvalidInput, 422),
    (Refused, 403),
    (NotFound, 404),
    (Conflict, 409),
    (IntegrityFailure, 500),
    (SetupError, 503),
)


def status_of(err: DubanError) -> tuple[int, str]:
    for kind, status in STATUSES:
        if isinstance(err, kind):
            return status, err.code
    return 500, InternalError.code


def body(message: str, status: int, code: str, **extra: Any) -> dict[str, Any]:
    """The one error shape: ``{"error": {"code", "message", "status"}}`` and extras."""
    return {"error": {"code": code, "message": message, "status": status, **extra}}
