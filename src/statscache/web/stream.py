"""Server-Sent Events: a statistic's new and changed rows, pushed after each flush that changes them.

The web app may run in other processes than the daemon (gunicorn), so it cannot hear a
flush; it polls the statistic's ``updated_at`` (one indexed row, every ``poll`` seconds)
instead. ``created`` cannot tell which rows a flush touched: a counter's upsert adds to
an existing row and leaves its ``created`` as it was, and a ``Latest`` row is replaced in
place. So each stream keeps the rows of its window as last sent and, when ``updated_at``
moves, reads the window again and sends the rows that are new or differ. The window runs
from ``start`` (by default one bucket plus five minutes of late messages before the stream
opened, which holds every bucket live traffic can still change) to the newest row, and is
read newest first, at most ``MAX_WATCHED`` rows: memory and the cost of a re-read stay
bounded. Rows a back-fill writes before ``start`` are not streamed; a client re-reads
``/api/<ident>`` for those.

The stream starts with ``retry:`` (the client's reconnection delay), sends ``event: rows``
with ``id:`` (the ``updated_at`` it reflects) and ``data: {"ident", "updated", "rows"}``
(rows serialised exactly as ``/api/<ident>`` serialises them), a ``: keepalive`` comment
every ``heartbeat`` seconds without an event (so proxies keep it open), and ends after
``lifetime`` seconds so that no worker is held forever: the client reconnects, sending
``Last-Event-ID``; when the statistic changed since that id, the first event re-sends the
whole window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson
from sqlalchemy.exc import SQLAlchemyError

from statscache.models import Latest, ModelKind, Row, Window
from statscache.plugin import Plugin
from statscache.store import Store, first_line

log = logging.getLogger(__name__)
LATE = 300.0  # seconds of lateness live traffic may have (as the checkpoints allow)
MAX_WATCHED = 10_000  # the most rows one stream re-reads and remembers


@dataclass(frozen=True)
class Settings:
    """How a stream polls and how long it lives (``STATSCACHE_STREAM_*`` configuration)."""

    poll: float = 1.0
    heartbeat: float = 15.0
    lifetime: float = 300.0
    retry: float = 2.0


def default_start(plugin: type[Plugin], window: Window, now: float) -> float:
    """The earliest row time live traffic can still change: a bucket and the lateness allowed."""
    return now - LATE - (window.resolution or plugin.resolution_seconds() or 0)


def events(
    store: Store, plugin: type[Plugin], window: Window, last_event_id: str | None, settings: Settings
) -> Iterator[str]:
    """The text of the stream, chunk by chunk, until ``settings.lifetime`` has passed.

    The database failing mid-stream ends the stream (one log line, no traceback): the
    client reconnects and gets a 503 while it is still down.
    """
    yield f"retry: {int(settings.retry * 1000)}\n\n"
    try:
        yield from _watch(store, plugin, window, last_event_id, settings)
    except SQLAlchemyError as problem:
        log.warning("stream of %s ended: the database failed: %s", plugin.ident, first_line(problem))


def _watch(
    store: Store, plugin: type[Plugin], window: Window, last_event_id: str | None, settings: Settings
) -> Iterator[str]:
    deadline = time.monotonic() + settings.lifetime
    updated, rows = _read(store, plugin, window)
    sent = {_identity(plugin.model, row): row for row in rows}
    if last_event_id is not None and last_event_id != _event_id(updated) and rows:
        yield _event(plugin.ident, updated, rows)
    quiet_since = time.monotonic()
    while time.monotonic() + settings.poll < deadline:
        time.sleep(settings.poll)
        with store.reader() as reader:  # never held across a yield: a slow client holds no connection
            moved = reader.updated_at(plugin) != updated
        if not moved:
            if time.monotonic() - quiet_since >= settings.heartbeat:
                quiet_since = time.monotonic()
                yield ": keepalive\n\n"
            continue
        updated, rows = _read(store, plugin, window)
        changed = [row for row in rows if sent.get(_identity(plugin.model, row)) != row]
        sent = {_identity(plugin.model, row): row for row in rows}
        if changed:
            quiet_since = time.monotonic()
            yield _event(plugin.ident, updated, changed)


def _read(store: Store, plugin: type[Plugin], window: Window) -> tuple[float | None, list[Row]]:
    """The statistic's ``updated_at`` and the watched rows, in one snapshot, in the window's order."""
    with store.reader() as reader:
        updated = reader.updated_at(plugin)
        newest_first = reader.rows(plugin, replace(window, descending=True), 0, MAX_WATCHED)
    return updated, newest_first if window.descending else newest_first[::-1]


def _identity(model: ModelKind, row: Row) -> tuple[Any, ...]:
    """What names a row across flushes: its bucket and key, or for ``Latest`` its key alone."""
    if isinstance(model, Latest):
        return (row["category"], row["category_constraint"])
    return tuple(row[column] for column in model.columns[:-1])


def _event(ident: str, updated: float | None, rows: Sequence[Row]) -> str:
    data = orjson.dumps({"ident": ident, "updated": updated, "rows": list(rows)}, option=orjson.OPT_NON_STR_KEYS)
    return f"event: rows\nid: {_event_id(updated)}\ndata: {data.decode()}\n\n"


def _event_id(updated: float | None) -> str:
    return "" if updated is None else repr(updated)
