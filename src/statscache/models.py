"""The shared base models plugins build on.

Each model kind owns its table shape, its in-memory deltas, its merge rule (a
commutative upsert, so message order, flush boundaries and worker count never
change a result) and how its rows are serialised.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections import Counter as Tally
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Select,
    cast,
    Column,
    Connection,
    Float,
    MetaData,
    String,
    Table,
    Text,
    and_,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

Row = dict[str, Any]
CHUNK = 2000  # rows per executemany batch


def dialect_insert(connection: Connection, table: Table) -> Any:
    """``INSERT`` with the dialect's ``ON CONFLICT`` support."""
    module = postgresql if connection.dialect.name == "postgresql" else sqlite
    return module.insert(table)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    """Consecutive slices of at most ``size`` items."""
    for begin in range(0, len(items), size):
        yield items[begin : begin + size]


def executemany(
    connection: Connection, statement: Any, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Run ``statement`` once per row (tuples in ``columns`` order) through the driver's executemany.

    The statement is compiled once and the rows reach the driver as they are,
    skipping SQLAlchemy's per-row parameter processing (the flush's hottest
    loop). Only for statements whose parameters need no type conversion.
    """
    if not rows:
        return
    compiled = statement.compile(dialect=connection.dialect, column_keys=list(columns))
    sql = str(compiled)
    order = compiled.positiontup
    for batch in chunks(rows):
        if order is None:  # a named paramstyle (psycopg)
            params: list[Any] = [dict(zip(columns, row, strict=True)) for row in batch]
        elif list(order) == list(columns):
            params = list(batch)
        else:
            index = [columns.index(name) for name in order]
            params = [tuple(row[i] for i in index) for row in batch]
        connection.exec_driver_sql(sql, params)


@dataclass(frozen=True)
class Window:
    """Which rows of a statistic to read, and how.

    ``start``/``stop`` bound the row timestamps (inclusive); ``keys`` keeps rows
    whose key column is one of them; ``resolution`` (seconds, a multiple of the
    statistic's) rolls counters up into coarser buckets starting at
    ``resolution_offset`` modulo ``resolution``; ``top`` keeps the keys with the
    largest totals in the window; ``as_of`` keeps only rows that existed then
    (wall-clock epoch seconds of their first flush), so paging stays stable
    while new rows arrive.
    """

    start: float | None = None
    stop: float | None = None
    descending: bool = False
    keys: tuple[str, ...] = ()
    resolution: int | None = None
    resolution_offset: int = 0
    top: int | None = None
    as_of: float | None = None


class ModelKind(ABC):
    """A table shape with a merge rule and a serialisation."""

    kind: str

    @property
    @abstractmethod
    def columns(self) -> list[str]:
        """Names of the fields of a serialised row, in order."""

    @abstractmethod
    def table(self, name: str, metadata: MetaData) -> Table:
        """Declare this kind's table under ``name``."""

    @abstractmethod
    def new_deltas(self) -> Any:
        """An empty in-memory accumulator."""

    @abstractmethod
    def merge(self, connection: Connection, table: Table, deltas: Any) -> None:
        """Upsert ``deltas`` into ``table`` (commutative, idempotent per delta)."""

    @property
    def key_column(self) -> str | None:
        """The name of the column ``Window.keys`` filters on, if rows have one."""
        return None

    @abstractmethod
    def select(self, table: Table, window: Window) -> Select[Any]:
        """The rows within ``window``, as columns named like :attr:`columns`, in order."""

    def decode(self, row: Sequence[Any]) -> Row:
        """One selected row as a serialised row object."""
        return dict(zip(self.columns, row, strict=True))

    def rows(
        self, connection: Connection, table: Table, window: Window, offset: int = 0, limit: int | None = None
    ) -> list[Row]:
        """Serialised rows within ``window``; ``offset``/``limit`` page through them."""
        query = self.select(table, window)
        if offset:
            query = query.offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return [self.decode(row) for row in connection.execute(query)]

    def newest(self, connection: Connection, table: Table) -> float | None:
        """The timestamp of the newest row, if any (straight from the time column's index)."""
        column = table.c.bucket if "bucket" in table.c else table.c.timestamp
        value: float | None = connection.execute(select(func.max(column))).scalar_one()
        return None if value is None else float(value)

    def count(self, connection: Connection, table: Table, window: Window) -> int:
        """How many rows ``window`` holds."""
        inner = self.select(table, window).order_by(None).subquery()
        return int(connection.execute(select(func.count()).select_from(inner)).scalar_one())


@dataclass(frozen=True)
class Counter(ModelKind):
    """``(bucket, [key]) -> count``: volumes, optionally per key."""

    key: str | None = None
    value: str = "volume"
    kind: str = "counter"

    @property
    def columns(self) -> list[str]:
        return ["timestamp", *([self.key] if self.key else []), self.value]

    def table(self, name: str, metadata: MetaData) -> Table:
        keys = [Column("key", String(255), primary_key=True)] if self.key else []
        return Table(
            name,
            metadata,
            Column("bucket", BigInteger, primary_key=True, autoincrement=False),
            *keys,
            Column("count", BigInteger, nullable=False),
            Column("created", Float, nullable=False),
            sqlite_with_rowid=False,
        )

    def new_deltas(self) -> Tally[Any]:
        return Tally()

    def merge(self, connection: Connection, table: Table, deltas: Tally[Any]) -> None:
        if not deltas:
            return
        now = time.time()
        columns = ["bucket", "key", "count", "created"] if self.key else ["bucket", "count", "created"]
        if self.key:
            params: list[tuple[Any, ...]] = [(b, k[:255], n, now) for (b, k), n in deltas.items()]
        else:
            params = [(b, n, now) for b, n in deltas.items()]
        insert = dialect_insert(connection, table)
        upsert = insert.on_conflict_do_update(
            index_elements=[c.name for c in table.primary_key],
            set_={"count": table.c["count"] + insert.excluded["count"]},
        )
        executemany(connection, upsert, columns, params)

    @property
    def key_column(self) -> str | None:
        return self.key

    def select(self, table: Table, window: Window) -> Select[Any]:
        c = table.c
        keyed = [c.key.label(self.key)] if self.key else []
        first, last = _bucket_bounds(window)
        if window.resolution is None:
            query = select(c.bucket.label("timestamp"), *keyed, c["count"].label(self.value))
            timestamp: Any = c.bucket
        else:
            size, offset = window.resolution, window.resolution_offset
            timestamp = c.bucket - (c.bucket - offset) % size
            total = cast(func.sum(c["count"]), BigInteger)
            query = select(timestamp.label("timestamp"), *keyed, total.label(self.value))
            query = query.group_by(timestamp, *([c.key] if self.key else []))
        query = _between(query, c.bucket, first, last)
        if window.as_of is not None:
            query = query.where(c.created <= window.as_of)
        if self.key and window.keys:
            query = query.where(c.key.in_(window.keys))
        if self.key and window.top is not None:
            query = query.where(c.key.in_(self._top_keys(table, window)))
        # keys run the same way as time, so the primary key index serves the order in both directions
        columns = [timestamp, *([c.key] if self.key else [])]
        return query.order_by(*[column.desc() if window.descending else column for column in columns])

    def _top_keys(self, table: Table, window: Window) -> Select[Any]:
        """The ``window.top`` keys with the largest totals in the window (ties by key)."""
        c = table.c
        ranked = _between(select(c.key), c.bucket, *_bucket_bounds(window)).group_by(c.key)
        if window.as_of is not None:
            ranked = ranked.where(c.created <= window.as_of)
        if window.keys:
            ranked = ranked.where(c.key.in_(window.keys))
        return ranked.order_by(func.sum(c["count"]).desc(), c.key).limit(window.top)


@dataclass(frozen=True)
class Distinct(ModelKind):
    """``(bucket, member)`` sets, served as the number of distinct members per bucket."""

    value: str = "users"
    kind: str = "distinct"

    @property
    def columns(self) -> list[str]:
        return ["timestamp", self.value]

    def table(self, name: str, metadata: MetaData) -> Table:
        return Table(
            name,
            metadata,
            Column("bucket", BigInteger, primary_key=True, autoincrement=False),
            Column("member", String(255), primary_key=True),
            Column("created", Float, nullable=False),
            sqlite_with_rowid=False,
        )

    def new_deltas(self) -> set[tuple[int, str]]:
        return set()

    def merge(self, connection: Connection, table: Table, deltas: set[tuple[int, str]]) -> None:
        if not deltas:
            return
        insert = dialect_insert(connection, table).on_conflict_do_nothing()
        now = time.time()
        executemany(connection, insert, ["bucket", "member", "created"], [(b, m, now) for b, m in deltas])

    def select(self, table: Table, window: Window) -> Select[Any]:
        bucket = table.c.bucket
        query = select(bucket.label("timestamp"), func.count().label(self.value)).group_by(bucket)
        query = _between(query, bucket, window.start, window.stop)
        if window.as_of is not None:
            query = query.where(table.c.created <= window.as_of)
        return query.order_by(bucket.desc() if window.descending else bucket)


@dataclass(frozen=True)
class Latest(ModelKind):
    """``(category, constraint) -> (timestamp, message)``: the newest event wins."""

    kind: str = "latest"

    @property
    def columns(self) -> list[str]:
        return ["timestamp", "category", "category_constraint", "message"]

    def table(self, name: str, metadata: MetaData) -> Table:
        return Table(
            name,
            metadata,
            Column("category", String(255), primary_key=True),
            Column("category_constraint", String(255), primary_key=True),
            Column("timestamp", Float, nullable=False),
            Column("msg_id", String(255), nullable=False),
            Column("message", Text, nullable=False),
            Column("created", Float, nullable=False),
            sqlite_with_rowid=False,
        )

    def new_deltas(self) -> dict[tuple[str, str], tuple[float, str, Any]]:
        return {}

    def merge(
        self, connection: Connection, table: Table, deltas: dict[tuple[str, str], tuple[float, str, Any]]
    ) -> None:
        if not deltas:
            return
        now = time.time()
        columns = ["category", "category_constraint", "timestamp", "msg_id", "message", "created"]
        params = [
            (category, constraint, epoch, msg_id, orjson.dumps(payload).decode(), now)
            for (category, constraint), (epoch, msg_id, payload) in deltas.items()
        ]
        insert = dialect_insert(connection, table)
        new = insert.excluded
        newer = or_(
            new.timestamp > table.c.timestamp,
            and_(new.timestamp == table.c.timestamp, new.msg_id > table.c.msg_id),
        )
        upsert = insert.on_conflict_do_update(
            index_elements=["category", "category_constraint"],
            set_={"timestamp": new.timestamp, "msg_id": new.msg_id, "message": new.message},
            where=newer,
        )
        executemany(connection, upsert, columns, params)

    @staticmethod
    def offer(
        deltas: dict[tuple[str, str], tuple[float, str, Any]],
        key: tuple[str, str],
        epoch: float,
        msg_id: str,
        payload: Any,
    ) -> None:
        """Keep ``payload`` for ``key`` if it is newer than what is pending (same rule as merge)."""
        key = (key[0][:255], key[1][:255])  # the width of the key columns
        held = deltas.get(key)
        if held is None or (epoch, msg_id) > (held[0], held[1]):
            deltas[key] = (epoch, msg_id, payload)

    @property
    def key_column(self) -> str | None:
        return "category"

    def select(self, table: Table, window: Window) -> Select[Any]:
        c = table.c
        query = select(c.timestamp, c.category, c.category_constraint, c.message)
        query = _between(query, c.timestamp, window.start, window.stop)
        if window.keys:
            query = query.where(c.category.in_(window.keys))
        if window.as_of is not None:
            query = query.where(c.created <= window.as_of)
        when = c.timestamp.desc() if window.descending else c.timestamp
        return query.order_by(when, c.category, c.category_constraint)

    def decode(self, row: Sequence[Any]) -> Row:
        timestamp, category, constraint, message = row
        return {
            "timestamp": timestamp,
            "category": category,
            "category_constraint": constraint,
            "message": orjson.loads(message),
        }


def _bucket_bounds(window: Window) -> tuple[float | None, float | None]:
    """The stored buckets a window reads: rolled up, whole coarse buckets from start to stop."""
    if window.resolution is None:
        return window.start, window.stop
    size, offset = window.resolution, window.resolution_offset
    first = None if window.start is None else -(-(window.start - offset) // size) * size + offset
    last = None if window.stop is None else (window.stop - offset) // size * size + offset + size - 1
    return first, last


def _between(query: Select[Any], column: Any, start: float | None, stop: float | None) -> Select[Any]:
    """``start <= column <= stop``; on an integer column with integer bounds, so its index serves."""
    integer = isinstance(column.type, BigInteger)
    if start is not None:
        query = query.where(column >= (math.ceil(start) if integer else start))
    if stop is not None:
        query = query.where(column <= (math.floor(stop) if integer else stop))
    return query
