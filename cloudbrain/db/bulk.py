"""Core statements run for many rows at once by the driver's own ``executemany``.

``Connection.execute(statement, rows)`` prepares every row in Python before the driver sees it
(a parameter dict built per row, then each value looked up, converted and put in order), and
for small rows that costs more than SQLite takes to store them. A :class:`BulkStatement` does
that preparation once per dialect: it compiles the statement and keeps, for each placeholder,
which row value goes there and the column type's own bind processor (the conversion
``execute`` would apply: ids without dashes and naive UTC times on SQLite, JSON text). Each
row is then one tuple, converted and handed to the driver through ``exec_driver_sql``, which
still wraps driver errors in SQLAlchemy's exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Dialect
from sqlalchemy.sql.expression import UpdateBase

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # One (row index, bind processor or None) per placeholder, in the order of the SQL text.
    slots: tuple[tuple[int, Processor | None], ...]

    def driver_row(self, row: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(row[i] if convert is None else convert(row[i]) for i, convert in self.slots)


class BulkStatement:
    """An INSERT, UPDATE or DELETE whose bind parameters are all named in ``params``: each row
    given to :meth:`executemany` holds their values, in that order. An INSERT stores the
    columns named in ``params`` (as ``execute`` would for rows with those keys)."""

    def __init__(self, statement: UpdateBase, params: Sequence[str]) -> None:
        self._statement = statement
        self._params = tuple(params)
        # The SQL text and the conversions depend on the dialect, which belongs to one engine;
        # weak keys let a disposed engine's entry go with it.
        self._compiled: WeakKeyDictionary[Dialect, _Compiled] = WeakKeyDictionary()

    def executemany(self, conn: Connection, rows: Iterable[Sequence[Any]]) -> None:
        compiled = self._compiled.get(conn.dialect) or self._compile(conn.dialect)
        parameters = [compiled.driver_row(row) for row in rows]
        # Without rows, exec_driver_sql would run the statement once with no parameters.
        if parameters:
            conn.exec_driver_sql(compiled.sql, parameters)

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._statement.compile(dialect=dialect, column_keys=list(self._params))
        if compiled.positiontup is None:
            raise ValueError(
                f"{dialect.driver} takes named parameters; BulkStatement needs ? or $n"
            )
        # A parameter the caller does not give (such as a column default SQLAlchemy would fill
        # in) would otherwise be silently left out.
        unknown = set(compiled.positiontup) - set(self._params)
        if unknown:
            raise ValueError(f"bind parameters missing from params: {sorted(unknown)}")
        slots = []
        for name in compiled.positiontup:
            bind_type = compiled.binds[name].type
            slots.append(
                (self._params.index(name), bind_type.dialect_impl(dialect).bind_processor(dialect))
            )
        self._compiled[dialect] = result = _Compiled(compiled.string, tuple(slots))
        return result
