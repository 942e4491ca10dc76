"""The SQL store: engine, schema, plugin registration, the flush transaction, reads.

A flush is one transaction: take the flush lock, route each message to the
plugins that have not counted it (see :mod:`statscache.ledger`), merge the
plugins' deltas, record what was counted. Nothing is half-written.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, event, func, or_, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from statscache import ledger, schema
from statscache.message import Message
from statscache.models import Row, Window
from statscache.plugin import Plugin

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///statscache.db"
ENV_URL = "STATSCACHE_DB_URL"
SUPPORTED = ("sqlite", "postgresql")
TRIM_SLICE = 6 * 3600  # seconds of buckets retention deletes per transaction
ALL = Window()


class StoreError(Exception):
    """The database cannot be used; the message says why in one line."""


def resolve_url(flag: str | None) -> str:
    """``--db`` if given, else ``$STATSCACHE_DB_URL``, else the SQLite default."""
    return flag or os.environ.get(ENV_URL) or DEFAULT_URL


@dataclass
class FlushResult:
    """What one flush did: messages new to at least one plugin, and the rest."""

    accepted: int = 0
    duplicates: int = 0


class Store:
    """One database: core tables, plugin tables, flushes and reads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url)
        self.metadata = MetaData()
        self.tables: dict[str, Table] = {}
        self.tables_lock = threading.Lock()
        self.existing: set[str] = set()

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def check(self, must_exist: bool = False) -> None:
        """Connect once, so a wrong or unreachable database fails early and clearly.

        A SQLite file that does not exist yet is created (with its folder),
        unless ``must_exist``, for commands that only read.
        """
        path = self.sqlite_path
        if path is not None and not path.exists():
            if must_exist:
                raise StoreError(f"no database at {path}")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(f"cannot create {path.parent}: {error.strerror}") from None
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as error:
            raise StoreError(f"cannot connect to {self.safe_url}: {first_line(error)}") from None

    @property
    def sqlite_path(self) -> Path | None:
        """The file of a SQLite database (None for PostgreSQL or in-memory SQLite)."""
        url = self.engine.url
        database = url.database
        if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
            return None
        return Path(database)

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for messages and logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    def upgrade(self) -> None:
        """Bring the core tables to the newest migration."""
        config = Config()
        config.set_main_option("script_location", str(files("statscache") / "migrations"))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def revision(self) -> str | None:
        """The core tables' current Alembic revision, if migrated at all."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(
                connection, opts={"version_table": "statscache_alembic_version"}
            ).get_current_revision()

    def table(self, plugin: type[Plugin]) -> Table:
        """The SQL table of a plugin (declared on first use)."""
        name = plugin.table_name()
        with self.tables_lock:  # web requests and flush threads may ask at the same time
            if name not in self.tables:
                self.tables[name] = plugin.model.table(name, self.metadata)
            return self.tables[name]

    def prepare(self, plugins: Iterable[type[Plugin]]) -> None:
        """Migrate the core tables, create plugin tables, and register the plugins' slots."""
        plugins = list(plugins)
        try:
            self.upgrade()
            for plugin in plugins:
                self.table(plugin)
            self.metadata.create_all(self.engine, checkfirst=True)
            with self.engine.begin() as connection:
                _lock(connection)
                rows = connection.execute(select(schema.plugins.c.ident, schema.plugins.c.slot))
                known = {ident: slot for ident, slot in cast(Iterable[tuple[str, int]], rows)}
                free = max(known.values(), default=-1) + 1
                for plugin in plugins:
                    if plugin.ident not in known:
                        connection.execute(schema.plugins.insert().values(ident=plugin.ident, slot=free))
                        log.info("registered new plugin %s in slot %d", plugin.ident, free)
                        free += 1
        except SQLAlchemyError as error:
            raise StoreError(f"cannot prepare {self.safe_url}: {first_line(error)}") from None

    def flush(self, messages: Sequence[Message], plugins: Sequence[Plugin]) -> FlushResult:
        """Count ``messages`` into ``plugins`` (each message once per plugin) in one transaction."""
        if not messages:
            return FlushResult()
        try:
            with self.engine.begin() as connection:
                _lock(connection)
                try:
                    places = ledger.slots(connection, plugins)
                except LookupError as error:
                    raise StoreError(f"{error}; prepare() the store first") from None
                masks = ledger.read_masks(connection, [m.id for m in messages], {p.word for p in places})
                accepted, marks = ledger.route(messages, places, masks)
                for place in places:
                    place.plugin.process_many(place.batch)
                    place.plugin.model.merge(connection, self.table(type(place.plugin)), place.plugin.take_deltas())
                ledger.write_marks(connection, marks, {m.id: m.epoch for m in messages})
                ledger.widen_spans(connection, places)
        except BaseException:
            for plugin in plugins:
                plugin.take_deltas()  # the batch will be fed again when retried
            raise
        return FlushResult(accepted=accepted, duplicates=len(messages) - accepted)

    def prune(self, keep_seconds: float) -> float | None:
        """Forget ids of messages older than the newest counted one minus ``keep_seconds``.

        Returns the horizon used, or None when nothing is recorded.
        """
        with self.engine.begin() as connection:
            _lock(connection)
            pruned = ledger.prune(connection, keep_seconds)
        if pruned is None:
            return None
        horizon, forgotten = pruned
        log.info("forgot %d counted message ids older than %.0f", forgotten, horizon)
        return horizon

    def trim(self, plugin: type[Plugin], before: float) -> int:
        """Drop a bucketed plugin's rows older than ``before`` (retention); how many went.

        Deletes a slice of at most :data:`TRIM_SLICE` seconds of buckets per
        transaction, so flushes wait on the lock only briefly. Records
        ``retained_from`` and stamps ``updated_at``: reads before it go elsewhere.
        """
        table = self.table(plugin)
        deleted = 0
        with self.engine.connect() as connection:
            if not self.exists(connection, table):
                return 0
        while True:
            with self.engine.begin() as connection:
                oldest = connection.execute(select(func.min(table.c.bucket))).scalar()
                if oldest is None or oldest >= before:
                    break
                _lock(connection)
                upto = min(before, oldest + TRIM_SLICE)
                deleted += connection.execute(table.delete().where(table.c.bucket < upto)).rowcount
        plugins = schema.plugins
        with self.engine.begin() as connection:
            _lock(connection)
            connection.execute(
                update(plugins)
                .where(
                    plugins.c.ident == plugin.ident,
                    or_(plugins.c.retained_from.is_(None), plugins.c.retained_from < before),
                )
                .values(retained_from=before, updated_at=time.time())
            )
        return deleted

    @contextmanager
    def reader(self) -> Iterator[Reader]:
        """Reads on one connection, in one transaction: one consistent snapshot."""
        with self.engine.connect() as connection:
            yield Reader(self, connection)

    def exists(self, connection: Connection, table: Table) -> bool:
        """Whether ``table`` exists (remembered once seen: tables are never dropped)."""
        if table.name in self.existing:
            return True
        if self.engine.dialect.has_table(connection, table.name):
            self.existing.add(table.name)
            return True
        return False

    def rows(self, plugin: type[Plugin], window: Window = ALL, offset: int = 0, limit: int | None = None) -> list[Row]:
        """The serialised rows of a plugin within ``window``; ``offset``/``limit`` page through them."""
        with self.reader() as reader:
            return reader.rows(plugin, window, offset, limit)

    def advance_checkpoint(self, idents: Sequence[str], value: float) -> None:
        """Record that these plugins are complete up to ``value`` (checkpoints never go back)."""
        table = schema.plugins
        with self.engine.begin() as connection:
            connection.execute(
                update(table)
                .where(table.c.ident.in_(idents), or_(table.c.checkpoint.is_(None), table.c.checkpoint < value))
                .values(checkpoint=value)
            )

    def record_gap(self, idents: Sequence[str], start: float, end: float, reason: str) -> None:
        """Remember a window that could not be fetched for these plugins."""
        with self.engine.begin() as connection:
            connection.execute(
                schema.gaps.insert().values(
                    start=start, end=end, plugins=" ".join(idents), reason=reason, recorded_at=time.time()
                )
            )

    def clear_gaps(self, idents: Sequence[str], start: float, end: float) -> None:
        """Forget the gaps of these plugins that a complete back-fill of ``[start, end]`` covered."""
        gaps = schema.gaps
        with self.engine.begin() as connection:
            connection.execute(
                gaps.delete().where(gaps.c.plugins == " ".join(idents), gaps.c.start >= start, gaps.c.end <= end)
            )

    def gaps(self) -> list[dict[str, Any]]:
        """Every known gap, oldest first."""
        with self.engine.connect() as connection:
            if not self.exists(connection, schema.gaps):
                return []
            rows = connection.execute(select(schema.gaps).order_by(schema.gaps.c.start))
            return [dict(row._mapping) for row in rows]

    def plugin_state(self) -> dict[str, dict[str, Any]]:
        """Per registered ident: slot, oldest, newest, closed_before, checkpoint."""
        with self.engine.connect() as connection:
            result = connection.execute(select(schema.plugins))
            return {row.ident: dict(row._mapping) for row in result}


class Reader:
    """Reads of statistics on one connection (see :meth:`Store.reader`)."""

    def __init__(self, store: Store, connection: Connection) -> None:
        self.store, self.connection = store, connection

    def _table(self, plugin: type[Plugin]) -> Table | None:
        table = self.store.table(plugin)
        return table if self.store.exists(self.connection, table) else None

    def rows(self, plugin: type[Plugin], window: Window = ALL, offset: int = 0, limit: int | None = None) -> list[Row]:
        """See :meth:`Store.rows`."""
        table = self._table(plugin)
        return [] if table is None else plugin.model.rows(self.connection, table, window, offset, limit)

    def count(self, plugin: type[Plugin], window: Window = ALL) -> int:
        """How many rows of a plugin ``window`` holds."""
        table = self._table(plugin)
        return 0 if table is None else plugin.model.count(self.connection, table, window)

    def newest(self, plugin: type[Plugin]) -> float | None:
        """The timestamp of a plugin's newest row, if any."""
        table = self._table(plugin)
        return None if table is None else plugin.model.newest(self.connection, table)

    def retained(self) -> dict[str, float]:
        """Per ident, the oldest bucket retention left (statistics never trimmed are absent)."""
        table = schema.plugins
        if not self.store.exists(self.connection, table):
            return {}
        rows = self.connection.execute(
            select(table.c.ident, table.c.retained_from).where(table.c.retained_from.is_not(None))
        )
        return {str(row.ident): float(row.retained_from) for row in rows}

    def updated_at(self, plugin: type[Plugin]) -> float | None:
        """When a flush last changed a plugin's rows (epoch seconds), if ever."""
        table = schema.plugins
        if not self.store.exists(self.connection, table):
            return None
        query = select(table.c.updated_at).where(table.c.ident == plugin.ident)
        value = self.connection.execute(query).scalar_one_or_none()
        return None if value is None else float(value)


def _engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"not a database URL: {url!r}") from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED:
        raise StoreError(f"unsupported database {backend!r} (use sqlite:/// or postgresql://)")
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        engine = create_engine(parsed)
    except (NoSuchModuleError, ArgumentError, ImportError) as error:
        raise StoreError(f"cannot use {url!r}: {first_line(error)}") from None
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (the web app) never block the daemon
    cursor.execute("PRAGMA synchronous=FULL")  # a committed flush survives power loss
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: upserts touch many pages
    cursor.close()


def _lock(connection: Connection) -> None:
    """Serialise flushes: the first write of the transaction locks the single lock row."""
    lock = schema.flush_lock
    connection.execute(update(lock).where(lock.c.id == 1).values(flushes=lock.c.flushes + 1))


def first_line(error: BaseException) -> str:
    """The first line of an error (of the driver's error, for a database one), for one-line reports."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
