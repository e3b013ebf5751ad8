"""One error hierarchy for the whole engine.

Every error carries a one-line message a user can act on (in Chinese, since users read it) and
the exit code the CLI returns. The CLI prints ``message`` and exits with ``exit_code``; it never
decides what is an error.
"""

from __future__ import annotations

MAX_MESSAGE = 2000  # characters: a message echoing a 100 KB value is printed and kept cut


class DubanError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "error"  # for programs: the CLI's JSON errors and the API's
    exit_code = 1

    def __init__(self, message: str) -> None:
        if len(message) > MAX_MESSAGE:
            message = f"{message[:MAX_MESSAGE]}…（共 {len(message)} 字, 余下从略）"
        super().__init__(message)
        self.message = message


class InvalidInput(DubanError):
    """Malformed or missing input: a bad date, an over-long text, a missing reason."""

    code = "invalid_input"
    exit_code = 2


class Refused(DubanError):
    """The actor may not do this, or the item's state does not allow it. Recorded in the audit."""

    code = "refused"
    exit_code = 3


class NotSignedIn(Refused):
    """No valid credential: a token unknown, expired or revoked, a session ended."""

    code = "not_signed_in"


class NotFound(DubanError):
    """An unknown item, unit, person, workflow or event."""

    code = "not_found"
    exit_code = 4


class NotVisible(NotFound):
    """Something a person may not see: answered as if it did not exist, so that nobody learns
    that it does, and recorded like a refused write with the real ``reason``."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Conflict(DubanError):
    """Someone changed the same thing meanwhile, or a unique value already exists."""

    code = "conflict"
    exit_code = 5


class IntegrityFailure(DubanError):
    """The audit chain or a stored state does not check out."""

    code = "integrity_failure"
    exit_code = 6


class SetupError(DubanError):
    """The database or the settings are not ready: not initialised, schema too old, no key."""

    code = "setup"
    exit_code = 7


class InternalError(DubanError):
    """Not expected: a defect. The CLI says so in one line (``--debug`` shows where)."""

    code = "internal"
    exit_code = 70


def from_database_error(err: Exception) -> DubanError | None:
    """The user's meaning of a database driver's error, or None when it is not one.

    A database that cannot be reached or opened is a setup problem; one that refuses a
    statement (a constraint, a serialisation failure) means something changed meanwhile.
    """
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(err, OperationalError):
        return SetupError(f"数据库无法使用: {_first_line(err.orig)}")
    if isinstance(err, DBAPIError):
        return Conflict(f"数据库拒绝了操作: {_first_line(err.orig)}")
    return None


def _first_line(error: BaseException | None) -> str:
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__
