"""The archive source: read datanommer's PostgreSQL database directly, for large back-fills.

datanommer (``fedora-infra/datanommer``, ``datanommer.models``) stores every bus message
in a ``messages`` table (``timestamp without time zone`` holding UTC; the body as JSON
text in ``msg``; the fedora-messaging headers as JSONB in ``headers``), and the
accounts and packages it found in each message in ``users``/``packages`` through the
association tables ``users_messages``/``packages_messages`` (keyed by the message's
``id`` and ``timestamp``).

Messages are read in keyset order ``(timestamp, id)``: one query per batch plus one for
the batch's usernames and packages, each its own short statement (no transaction is held
open on the archive), the next batch read while this one is turned into messages. The
usernames and packages datanommer recorded are given to
:func:`statscache.message.from_dict`, so they are used instead of guessed (none recorded
means none).

Older layouts are read too: ``msg_json``/``msg_raw`` instead of ``msg``, ``_msg`` and
``_headers`` (text), and ``users``/``packages`` array columns on ``messages``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from statscache.store import first_line
from statscache.message import NOT_JSON, Message, Rejected, from_dict

Item = Message | Rejected
_Found = dict[tuple[int, datetime], tuple[list[str], list[str]]]  # (id, timestamp) -> (usernames, packages)
_Batch = tuple[list[Any], _Found | None]
_DRIVERS = ("postgresql", "postgresql+psycopg")
_EPOCH = datetime(1970, 1, 1)
_NAIVE_MIN = datetime(1, 1, 1)
_NAIVE_MAX = datetime(9999, 12, 31, 23, 59, 59, 999999)
_COLUMNS = (
    "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
    "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped"
)


class ArchiveError(Exception):
    """The archive cannot be read; the message says why in one line."""


@dataclass(frozen=True)
class _Layout:
    """Where the parts of a message are, in this archive's schema."""

    body: str  # SQL expression giving the body as JSON text
    headers: str  # SQL expression giving the headers as JSON text (or NULL)
    aware: bool  # ``timestamp with time zone`` rather than datanommer's naive UTC
    names: str | None  # the batch query for usernames/packages through the association tables
    arrays: bool  # ``users``/``packages`` array columns on ``messages`` instead (datanommer < 1.0)


def read(
    url: str,
    start: float,
    end: float,
    *,
    batch: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> Iterator[Item]:
    """Every archived message with start <= timestamp <= end (epoch seconds, UTC), oldest first.

    ``url`` is ``postgresql://`` or ``postgresql+psycopg://``. ``progress`` is called with
    the number of rows read, once per batch. Rows that cannot become a :class:`Message`
    are yielded as their :class:`Rejected`; a database that cannot be reached or read
    raises :class:`ArchiveError`.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    conninfo, shown = _conninfo(url)
    try:
        connection = psycopg.connect(conninfo, autocommit=True)
    except psycopg.Error as error:
        raise ArchiveError(f"{shown}: cannot connect: {first_line(error)}") from None
    with connection:
        try:
            layout = _layout(connection, shown)
        except psycopg.Error as error:
            raise ArchiveError(f"{shown}: cannot read the schema: {first_line(error)}") from None
        yield from _stream(connection, layout, shown, start, end, batch, progress)


def _stream(
    connection: psycopg.Connection[Any],
    layout: _Layout,
    shown: str,
    start: float,
    end: float,
    batch: int,
    progress: Callable[[int], None] | None,
) -> Iterator[Item]:
    extra = ", users::text[], packages::text[]" if layout.arrays else ""
    select = (
        f'SELECT id, msg_id, topic, "timestamp", ({layout.body})::text, ({layout.headers})::text{extra} FROM messages'
    )
    first = f'{select} WHERE "timestamp" >= %(lo)s AND "timestamp" <= %(hi)s ORDER BY "timestamp", id LIMIT %(n)s'
    after = (
        f'{select} WHERE "timestamp" >= %(lo)s AND ("timestamp", id) > (%(lo)s, %(lo_id)s) AND "timestamp" <= %(hi)s '
        'ORDER BY "timestamp", id LIMIT %(n)s'
    )
    params: dict[str, Any] = {"lo": _bound(start, layout.aware), "hi": _bound(end, layout.aware), "n": batch}

    def fetch(query: str, params: dict[str, Any]) -> _Batch:
        try:
            with connection.cursor(binary=True) as cursor:
                rows = cursor.execute(query, params).fetchall()
                found = _names(cursor, layout.names, rows) if layout.names is not None and rows else None
        except psycopg.Error as error:
            raise ArchiveError(f"{shown}: reading messages failed: {first_line(error)}") from None
        return rows, found

    # The next batch is read (mostly waiting on the server) while this one becomes messages.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="statscache-datanommer") as reader:
        pending: Future[_Batch] | None = reader.submit(fetch, first, params)
        while pending is not None:
            rows, found = pending.result()
            pending = None
            if len(rows) == batch:
                last = rows[-1]
                pending = reader.submit(fetch, after, {**params, "lo": last[3], "lo_id": last[0]})
            if progress is not None and rows:
                progress(len(rows))
            for row in rows:
                yield _item(row, found, layout.arrays)


def _item(row: Sequence[Any], found: _Found | None, arrays: bool) -> Item:
    """One row as a Message, or the reason it cannot be one."""
    row_id, msg_id, topic, moment, body_text, headers_text = row[:6]
    if body_text is None:
        return Rejected(NOT_JSON, f"datanommer message id={row_id} has no body")
    try:
        body = orjson.loads(body_text)
    except orjson.JSONDecodeError as error:
        return Rejected(NOT_JSON, f"datanommer message id={row_id}: {error}")
    record: dict[str, Any] = {"msg_id": msg_id, "topic": topic, "timestamp": _epoch(moment), "msg": body}
    if headers_text is not None:
        try:
            record["headers"] = orjson.loads(headers_text)
        except orjson.JSONDecodeError:
            pass  # the headers are optional: a damaged copy is ignored
    if found is not None:
        record["users"], record["packages"] = found.get((row_id, moment), ([], []))
    elif arrays:
        record["users"], record["packages"] = list(row[6] or ()), list(row[7] or ())
    try:
        return from_dict(record)
    except Rejected as rejected:
        return rejected


def _names(cursor: psycopg.Cursor[Any], query: str, rows: list[Any]) -> _Found:
    """The usernames and packages of a batch of rows, in one query, by (id, timestamp)."""
    ids = [row[0] for row in rows]
    params = {"ids": ids, "low": min(ids), "high": max(ids), "first": rows[0][3], "last": rows[-1][3]}
    found: _Found = {}
    for msg_id, moment, name, kind in cursor.execute(query, params).fetchall():
        entry = found.get((msg_id, moment))
        if entry is None:
            entry = found[(msg_id, moment)] = ([], [])
        entry[kind].append(name)
    return found


def _layout(connection: psycopg.Connection[Any], shown: str) -> _Layout:
    """Find the message, header and name columns of this archive, or say why it is not one."""
    columns = _columns(connection, "messages")
    if not columns:
        raise ArchiveError(f"{shown}: no datanommer 'messages' table")
    missing = [name for name in ("id", "msg_id", "topic", "timestamp") if name not in columns]
    if missing:
        raise ArchiveError(f"{shown}: the 'messages' table has no {', '.join(missing)} column")
    if "msg" in columns:
        body = "msg"
    elif "msg_json" in columns and "msg_raw" in columns:
        body = "COALESCE(msg_json::text, msg_raw::text)"
    else:
        body = next((name for name in ("msg_json", "msg_raw", "_msg") if name in columns), "")
    if not body:
        raise ArchiveError(f"{shown}: the 'messages' table has no msg column")
    headers = next((name for name in ("headers", "_headers") if name in columns), "NULL")
    aware = columns["timestamp"].startswith("timestamp with time zone")
    names = _names_query(connection)
    arrays = names is None and columns.get("users", "").endswith("[]") and columns.get("packages", "").endswith("[]")
    return _Layout(body, headers, aware, names, arrays)


def _names_query(connection: psycopg.Connection[Any]) -> str | None:
    """The batch query through datanommer's association tables, when it has them."""
    parts = []
    for kind, (names, links, key) in enumerate(
        (("users", "users_messages", "user_id"), ("packages", "packages_messages", "package_id"))
    ):
        link = _columns(connection, links)
        if "name" not in _columns(connection, names) or not {key, "msg_id"} <= set(link):
            return None
        if "msg_timestamp" in link:
            # datanommer >= 1.0: a range scan of the msg_timestamp index (which also lets TimescaleDB
            # skip chunks) is much cheaper than looking every id up; the few rows it also finds, of
            # neighbours sharing the batch's first or last timestamp, are ignored
            moment, join = "l.msg_timestamp", ""
            where = "l.msg_timestamp BETWEEN %(first)s AND %(last)s AND l.msg_id BETWEEN %(low)s AND %(high)s"
        else:
            moment, join = "m.timestamp", " JOIN messages AS m ON m.id = l.msg_id"
            where = "l.msg_id = ANY(%(ids)s)"
        parts.append(
            f"SELECT l.msg_id, {moment}, n.name::text, {kind} FROM {links} AS l "
            f"JOIN {names} AS n ON n.id = l.{key}{join} WHERE {where} AND n.name IS NOT NULL"
        )
    return " UNION ALL ".join(parts)


def _columns(connection: psycopg.Connection[Any], table: str) -> dict[str, str]:
    """Column names and types of ``table`` (found through the search path), or nothing."""
    return {str(name): str(kind) for name, kind in connection.execute(_COLUMNS, (table,)).fetchall()}


def _conninfo(url: str) -> tuple[str, str]:
    """The libpq URL for psycopg (with a connect timeout unless one is set), and the URL to show."""
    try:
        parsed: URL = make_url(url)
    except ArgumentError:
        raise ArchiveError(f"not a database URL: {url!r}") from None
    if parsed.drivername not in _DRIVERS:
        raise ArchiveError(f"datanommer's archive is read with postgresql:// (psycopg), not {parsed.drivername}://")
    plain = parsed.set(drivername="postgresql")
    shown = plain.render_as_string(hide_password=True)
    if "connect_timeout" not in plain.query:
        plain = plain.update_query_dict({"connect_timeout": "10"})
    return plain.render_as_string(hide_password=False), shown


def _bound(epoch: float, aware: bool) -> datetime:
    """A window bound as the archive's timestamp type (naive UTC for datanommer)."""
    if epoch != epoch:  # NaN
        raise ValueError("a window bound is not a number")
    try:
        moment = _EPOCH + timedelta(seconds=epoch)
    except OverflowError:
        moment = _NAIVE_MIN if epoch < 0 else _NAIVE_MAX
    return moment.replace(tzinfo=UTC) if aware else moment


def _epoch(moment: datetime) -> float:
    """Epoch seconds of a stored timestamp (naive means UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (moment - _EPOCH).total_seconds()
