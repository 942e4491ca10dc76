"""The SQL store: engine, schema, plugin registration, and the flush transaction.

Exactly-once per plugin: every registered plugin owns a bit (its *slot*) in
``statscache_seen_messages.mask``. A flush, in one transaction, takes the
flush lock, reads the masks of its messages, feeds each message only to the
plugins whose bit is not yet set, merges their deltas, and sets the bits. The
same message replayed, redelivered or back-filled again is therefore counted
once per plugin, and a new plugin still counts history the others have seen.

The record of ids is bounded by :meth:`Store.prune`: ids of messages older
than a horizon are forgotten, and every plugin that had counted messages that
old is *closed* before the horizon (it treats older messages as counted).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, MetaData, Table, case, create_engine, event, func, or_, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from statscache import schema
from statscache.message import Message
from statscache.models import Row, chunks, dialect_insert
from statscache.plugin import Plugin

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///statscache.db"
ENV_URL = "STATSCACHE_DB_URL"
SUPPORTED = ("sqlite", "postgresql")


class StoreError(Exception):
    """The database cannot be used; the message says why in one line."""


def resolve_url(flag: str | None) -> str:
    """``--db`` if given, else ``$STATSCACHE_DB_URL``, else the SQLite default."""
    return flag or os.environ.get(ENV_URL) or DEFAULT_URL


@dataclass
class FlushResult:
    """What one flush did."""

    accepted: int = 0
    duplicates: int = 0
    counted: dict[str, int] = field(default_factory=dict)


@dataclass
class _Slot:
    plugin: Plugin
    word: int
    bit: int
    closed_before: float


class Store:
    """One database: core tables, plugin tables, flushes and reads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url)
        self.metadata = MetaData()
        self.tables: dict[str, Table] = {}

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def check(self) -> None:
        """Connect once, so a wrong or unreachable database fails early and clearly."""
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as error:
            raise StoreError(f"cannot connect to {self.safe_url}: {_first_line(error)}") from None

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

    def table(self, plugin: type[Plugin]) -> Table:
        """The SQL table of a plugin (declared on first use)."""
        name = plugin.table_name()
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
                known = dict(connection.execute(select(schema.plugins.c.ident, schema.plugins.c.slot)).all())
                free = max(known.values(), default=-1) + 1
                for plugin in plugins:
                    if plugin.ident not in known:
                        connection.execute(schema.plugins.insert().values(ident=plugin.ident, slot=free))
                        log.info("registered new plugin %s in slot %d", plugin.ident, free)
                        free += 1
        except SQLAlchemyError as error:
            raise StoreError(f"cannot prepare {self.safe_url}: {_first_line(error)}") from None

    def flush(self, messages: Sequence[Message], plugins: Sequence[Plugin]) -> FlushResult:
        """Count ``messages`` into ``plugins`` (each message once per plugin) in one transaction."""
        result = FlushResult()
        if not messages:
            return result
        try:
            with self.engine.begin() as connection:
                _lock(connection)
                slots = self._slots(connection, plugins)
                seen = _seen_masks(connection, [m.id for m in messages], {s.word for s in slots})
                marks = _feed(messages, slots, seen, result)
                for slot in slots:
                    slot.plugin.model.merge(connection, self.table(type(slot.plugin)), slot.plugin.take_deltas())
                _mark(connection, marks, seen)
                _advance(connection, messages, slots, marks)
        except BaseException:
            for plugin in plugins:
                plugin.take_deltas()  # the batch will be fed again when retried
            raise
        return result

    def _slots(self, connection: Connection, plugins: Sequence[Plugin]) -> list[_Slot]:
        table = schema.plugins
        state = {
            ident: (slot, closed)
            for ident, slot, closed in connection.execute(select(table.c.ident, table.c.slot, table.c.closed_before))
        }
        slots = []
        for plugin in plugins:
            if plugin.ident not in state:
                raise StoreError(f"plugin {plugin.ident} is not registered; call prepare() first")
            slot, closed = state[plugin.ident]
            slots.append(_Slot(plugin, slot // schema.BITS, 1 << (slot % schema.BITS), closed or float("-inf")))
        return slots

    def prune(self, keep_seconds: float) -> float | None:
        """Forget ids of messages older than the newest counted message minus ``keep_seconds``.

        Returns the horizon used, or None when nothing is recorded.
        """
        seen, table = schema.seen_messages, schema.plugins
        with self.engine.begin() as connection:
            _lock(connection)
            newest = connection.execute(select(func.max(seen.c.epoch))).scalar()
            if newest is None:
                return None
            horizon = float(newest) - keep_seconds
            forgotten = connection.execute(seen.delete().where(seen.c.epoch < horizon)).rowcount
            for ident, oldest, closed in connection.execute(
                select(table.c.ident, table.c.oldest, table.c.closed_before)
            ).all():
                if oldest is not None and oldest < horizon and (closed is None or closed < horizon):
                    connection.execute(update(table).where(table.c.ident == ident).values(closed_before=horizon))
        log.info("forgot %d counted message ids older than %.0f", forgotten, horizon)
        return horizon

    def rows(
        self,
        plugin: type[Plugin],
        start: float | None = None,
        stop: float | None = None,
        descending: bool = False,
    ) -> list[Row]:
        """The serialised rows of a plugin within ``[start, stop]``."""
        table = self.table(plugin)
        with self.engine.connect() as connection:
            if not self.engine.dialect.has_table(connection, table.name):
                return []
            return plugin.model.rows(connection, table, start, stop, descending)

    def plugin_state(self) -> dict[str, dict[str, Any]]:
        """Per registered ident: slot, oldest, newest, closed_before, checkpoint."""
        with self.engine.connect() as connection:
            result = connection.execute(select(schema.plugins))
            return {row.ident: dict(row._mapping) for row in result}


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
    if backend == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(parsed)
    except (NoSuchModuleError, ArgumentError, ImportError) as error:
        raise StoreError(f"cannot use {url!r}: {_first_line(error)}") from None
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (the web app) never block the daemon
    cursor.execute("PRAGMA synchronous=FULL")  # a committed flush survives power loss
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _lock(connection: Connection) -> None:
    """Serialise flushes: the first write of the transaction locks the single lock row."""
    lock = schema.flush_lock
    connection.execute(update(lock).where(lock.c.id == 1).values(flushes=lock.c.flushes + 1))


def _seen_masks(connection: Connection, ids: list[str], words: set[int]) -> dict[tuple[str, int], int]:
    seen = schema.seen_messages
    found: dict[tuple[str, int], int] = {}
    for batch in chunks(sorted(set(ids)), 500):
        query = select(seen.c.msg_id, seen.c.word, seen.c.mask).where(
            seen.c.msg_id.in_(batch), seen.c.word.in_(sorted(words))
        )
        for msg_id, word, mask in connection.execute(query):
            found[msg_id, word] = mask
    return found


def _feed(
    messages: Sequence[Message], slots: list[_Slot], seen: dict[tuple[str, int], int], result: FlushResult
) -> dict[tuple[str, int], tuple[int, float]]:
    """Feed each message to the plugins that have not counted it; return the bits newly set."""
    marks: dict[tuple[str, int], tuple[int, float]] = {}
    for message in messages:
        fed = False
        for slot in slots:
            key = (message.id, slot.word)
            new = marks.get(key, (0, 0.0))[0]
            if (seen.get(key, 0) | new) & slot.bit or message.epoch < slot.closed_before:
                continue
            slot.plugin.process(message)
            marks[key] = (new | slot.bit, message.epoch)
            fed = True
        if fed:
            result.accepted += 1
        else:
            result.duplicates += 1
    return marks


def _mark(
    connection: Connection, marks: dict[tuple[str, int], tuple[int, float]], seen: dict[tuple[str, int], int]
) -> None:
    table = schema.seen_messages
    insert = dialect_insert(connection, table)
    upsert = insert.on_conflict_do_update(
        index_elements=["msg_id", "word"], set_={"mask": table.c.mask.op("|")(insert.excluded.mask)}
    )
    params = [
        {"msg_id": msg_id, "word": word, "mask": mask | seen.get((msg_id, word), 0), "epoch": epoch}
        for (msg_id, word), (mask, epoch) in marks.items()
    ]
    for batch in chunks(params):
        connection.execute(upsert, list(batch))


def _advance(
    connection: Connection,
    messages: Sequence[Message],
    slots: list[_Slot],
    marks: dict[tuple[str, int], tuple[int, float]],
) -> None:
    """Widen each plugin's [oldest, newest] span of counted message times."""
    table = schema.plugins
    for slot in slots:
        epochs = [m.epoch for m in messages if marks.get((m.id, slot.word), (0, 0.0))[0] & slot.bit]
        if not epochs:
            continue
        low, high = min(epochs), max(epochs)
        oldest, newest = table.c.oldest, table.c.newest
        connection.execute(
            update(table)
            .where(table.c.ident == slot.plugin.ident)
            .values(
                oldest=case((or_(oldest.is_(None), oldest > low), low), else_=oldest),
                newest=case((or_(newest.is_(None), newest < high), high), else_=newest),
            )
        )


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
