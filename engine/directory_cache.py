"""The directory of units and people as transactions read it, kept between transactions of
one process for as long as the database's directory generation stays the same."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, select

from duban.engine.models import DIRECTORY_GENERATION, META, PERSON, UNIT
from duban.engine.prepared import Prepared


@dataclass(frozen=True)
class Directory:
    """Units by code and people by login, as the transaction sees them. Read-only: one
    directory may serve many transactions."""

    units: Mapping[str, Mapping[str, Any]]
    people: Mapping[str, Mapping[str, Any]]
    demo: bool = False  # a demo database: anyone may act as anyone (--as)
    seal: str | None = None  # its signature (duban.engine.seals), checked before it is used


GENERATION = select(DIRECTORY_GENERATION.c.value).where(DIRECTORY_GENERATION.c.id == 1)
READ_GENERATION = Prepared(GENERATION)


def read_directory(conn: Connection) -> Directory:
    units = {row["code"]: MappingProxyType(dict(row))
             for row in conn.execute(select(UNIT)).mappings()}
    people = {row["login"]: MappingProxyType(dict(row))
              for row in conn.execute(select(PERSON)).mappings()}
    meta = dict(conn.execute(select(META.c.key, META.c.value)
                             .where(META.c.key.in_(("demo", "directory_seal")))).all())
    return Directory(MappingProxyType(units), MappingProxyType(people),
                     demo=meta.get("demo") == "true", seal=meta.get("directory_seal"))


class DirectoryCache:
    """The directory as one process last read it, and the generation it was read at.

    The database bumps the generation in the same transaction as any change to a unit or a
    person (triggers, migration 0007), so a transaction that reads the same generation sees
    the same directory, whichever process or command changed it. A directory read in a write
    transaction is kept only once that transaction has committed.
    """

    def __init__(self) -> None:
        self._entry: tuple[int, Directory] | None = None

    def lookup(self, conn: Connection) -> tuple[int, Directory | None]:
        """The generation the transaction sees, and the directory if it is the one kept."""
        found = READ_GENERATION.first(conn, {})
        if found is None:
            raise LookupError("directory generation row missing")
        generation = found["value"]
        entry = self._entry  # one read of the attribute: other threads may replace it
        return generation, entry[1] if entry is not None and entry[0] == generation else None

    def keep(self, generation: int, directory: Directory) -> None:
        entry = self._entry
        if entry is None or entry[0] < generation:  # never back to an older one
            self._entry = (generation, directory)
