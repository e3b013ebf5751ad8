"""How the engine's refusals travel over HTTP: one JSON shape, statuses by error class."""

from __future__ import annotations

import logging
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


# What a person at a browser reads when the server is not set up right: the details (a
# file, a line, a path) go to the server's log, for its admin.
SETUP_MESSAGE = "系统暂时无法处理此项(服务器设置有误), 请联系管理员"
log = logging.getLogger("duban.web")


def shown_message(err: DubanError) -> str:
    """The line a page or an API answer shows for ``err``."""
    if isinstance(err, SetupError):
        log.error("设置问题: %s", err.message)
        return SETUP_MESSAGE
    return err.message


def body(message: str, status: int, code: str, **extra: Any) -> dict[str, Any]:
    """The one error shape: ``{"error": {"code", "message", "status"}}`` and extras."""
    return {"error": {"code": code, "message": message, "status": status, **extra}}
