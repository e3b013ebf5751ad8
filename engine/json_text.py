"""JSON kept as text, byte for byte: one serialisation, and a column type that stores it.

The audit chain hashes an event's payload as it is stored (:mod:`duban.engine.audit`), so the
text must be the same whoever writes it: keys sorted, characters as themselves (UTF-8, not
``\\u`` escapes), no spaces. SQLite keeps JSON as TEXT and PostgreSQL's ``json`` (not
``jsonb``) keeps its input verbatim, so the text read back is the text written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def canonical_text(value: Any) -> str:
    """The one text form of a JSON value: sorted keys, UTF-8 characters, compact."""
    return _ENCODER.encode(value)


class CanonicalJSON(TypeDecorator):
    """A JSON column whose values are written as :func:`canonical_text`.

    Reading is JSON's own (values come back decoded), and so are the JSON operators; only
    the text written is fixed. A statement that binds text it serialised itself binds it
    through :class:`SerialisedJSON`, and that text is stored as given."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], str]:
        def process(value: Any) -> str:
            return canonical_text(None if value is JSON.NULL else value)  # None: JSON null

        return process


class SerialisedJSON(TypeDecorator):
    """The bind of a JSON column's value given as text already (by :func:`canonical_text`):
    stored as given, so that what was hashed is what is stored. For ``type_coerce`` of a bind
    parameter in a statement; the column's own type decodes what is read. (Not ``String``:
    on PostgreSQL the bind would be cast to ``VARCHAR``, which a ``json`` column refuses.)"""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[str | None], str | None]:
        def process(value: str | None) -> str | None:
            return value

        return process
