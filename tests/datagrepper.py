"""A stand-in for datagrepper: a real HTTP server on 127.0.0.1 answering ``/raw`` and ``/v2/search``.

It serves a list of datanommer rows (dicts like the lines of ``tests/corpus/fedmsg.jsonl``: ``msg_id``,
``topic``, ``timestamp`` in epoch seconds, ``msg``, ``i``, ``username``, ...) with datagrepper's query
semantics, and lets a test inject faults (failed, dropped and slow requests), insert messages while a
client walks pages, and inspect what it received (request count, most requests in flight at once, a log)::

    with Datagrepper(load_jsonl(CORPUS)) as archive:   # archive.url == "http://127.0.0.1:PORT/"
        archive.fail(2, status=502, path="/raw")       # the next two /raw requests get a 502
        archive.slow(1.0, times=1, page=3)             # the next page-3 request waits a second
        archive.on_page = lambda request: archive.add([late]) if request["page"] == 2 else None
        ...                                            # archive.requests, .max_in_flight, .log

Semantics, as learnt from the real code (fedora-infra/datagrepper ``datagrepper/app.py`` ``raw()`` and
``datagrepper/util.py``; fedora-infra/datanommer ``datanommer.models/datanommer/models/__init__.py``):

* ``/raw`` and ``/v2/search`` are ONE view (``@app.route("/raw")`` and ``@app.route("/v2/search")`` on
  ``raw()``, both ``strict_slashes=False``): same parameters, same envelope
  ``{"raw_messages": [...], "total": n, "pages": ceil(n / rows_per_page), "count": len(page),
  "arguments": {...}}``. Only the message shape differs (``util.get_message_dict``): ``/raw`` gives
  datanommer's ``Message.as_dict()`` (``i, msg_id, topic, timestamp, certificate, signature, username,
  crypto, msg, headers, source_name, source_version, users, packages``), ``/v2/*`` gives
  ``Message.as_fedora_message_dict()``: ``{"body": msg, "headers": headers + "sent-at" (the row's
  timestamp as UTC ISO-8601 when the headers lack it), "id": msg_id, "priority": headers.get("priority",
  0), "queue": None, "topic": topic}`` (``priority`` since datanommer.models 1.2).
* Time window (``util.assemble_timerange``): ``start``/``end`` are epoch seconds or date strings (naive =
  UTC); start+end: as given (delta ignored); start+delta: end = start + delta; end+delta: start = end -
  delta; delta only: end = now; start only: end = now; end only: start = end - DEFAULT_QUERY_DELTA, or 0
  when that is 0; nothing: the last DEFAULT_QUERY_DELTA seconds, or no time bound at all when it is 0
  (the code default; Fedora's production config sets 86400). ``Message.grep`` filters with SQL
  ``BETWEEN start AND end``: both ends INCLUSIVE, applied only ``if start and end`` (so ``start=0``
  means "no time bound").
* Filters (``grep``): ``user``, ``package``, ``category``, ``topic``, ``contains`` and their ``not_``
  forms, each repeatable; OR within a name, AND across names. The category is derived from the topic as
  datanommer does: ``topic.split(".")[3]`` (``[2]`` when "VirtualTopic" is in the topic). ``contains``
  is a substring of the JSON-encoded ``msg``, and is refused (400) without a topic/category or with a
  start older than 32 weeks.
* Paging: ``page`` from 1 (< 1 is a 400), ``rows_per_page`` default 25, > 100 is a 400 (werkzeug
  ``BadRequest``; an HTML body), ``order`` ``desc`` (default) or ``asc``, anything else a 400. Rows are
  ``ORDER BY timestamp`` then ``OFFSET (page - 1) * rows_per_page LIMIT rows_per_page``; a page past the
  end is empty (count 0) with the real total/pages. ``rows_per_page=0`` means no limit, ``pages`` 1
  (datanommer.models >= 1.2: ``if not rows_per_page``); a negative one fails in the database (500).
  Unparsable numbers are a 500 (``int()`` raises outside any handler; datagrepper's 500 handler answers
  ``{"error": "internal_error", ...}``); an unknown path is a 404 ``{"error": "not_found"}``.

Assumptions and simplifications (datagrepper leaves these to PostgreSQL or to code not modelled here):

* Rows with the same timestamp: the database order is unspecified. Here ``tie_order="insertion"``
  (default) gives insertion order for ``asc`` and the exact reverse for ``desc``, so a ``desc`` walk is
  the reversed ``asc`` walk; ``tie_order="random"`` reshuffles ties on every request, as a planner may.
* Timestamps compare at microsecond precision, like PostgreSQL's ``timestamp``.
* A row without ``msg_id`` gets a deterministic UUID on ``add()`` (datanommer assigns ``uuid4()``); a row
  whose ``(msg_id, timestamp)`` is already stored is skipped, as datanommer's unique constraint does.
* ``/raw`` returns ``timestamp`` as given. Real datagrepper encodes it with ``time.mktime(dt.timetuple())``
  (``util.DateAwareJSONEncoder``), i.e. WHOLE seconds: pass ``raw_whole_seconds=True`` to get that.
* ``meta``, ``callback``, ``size`` and ``chrome`` are echoed or ignored; JSON is always
  ``application/json``, except that a client preferring ``text/html`` gets a small HTML page, as datagrepper
  serves HTML to browsers.
* ``users``/``packages`` filters match the row's ``users``/``packages`` lists (empty when absent).
"""

from __future__ import annotations

import bisect
import html
import json
import math
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

#: ``fail(status=DROP)`` closes the connection without answering.
DROP = 0
#: The search endpoints, without the prefix and the optional trailing slash.
SEARCH_PATHS = ("/raw", "/v2/search")
FILTERS = ("user", "package", "category", "topic", "contains")
#: How ``arguments`` names each filter's list.
PLURALS = {"user": "users", "package": "packages", "category": "categories", "topic": "topics", "contains": "contains"}
CONTAINS_MAX_AGE = 32 * 7 * 86400.0

Params = dict[str, list[str]]
Message = dict[str, Any]

_ID_NAMESPACE = uuid.UUID("5b0f3c4e-7d6a-4c1e-9a53-2f1d3c0a6b77")
_RAW_DEFAULTS: dict[str, Any] = {
    "i": 0,
    "msg_id": None,
    "topic": None,
    "timestamp": None,
    "certificate": None,
    "signature": None,
    "username": None,
    "crypto": None,
    "msg": None,
    "headers": None,
    "source_name": "datanommer",
    "source_version": "stand-in",
    "users": [],
    "packages": [],
}
_REASONS = {
    400: "Bad Request",
    404: "Not Found",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class Served:
    """One request: its path (prefix removed), query, status, and when it came and its answer was ready.

    Times are ``time.monotonic()``; a request is logged (and leaves ``in_flight``) just before its answer is
    written, so a client that has its answer always finds the request in the log.
    """

    path: str
    params: Params
    status: int  # DROP when the connection was closed without an answer
    started: float
    finished: float


@dataclass
class _Rule:
    remaining: int | None  # None: for ever
    path: str | None
    page: int | None
    match: Callable[[str, Params], bool] | None
    status: int = 502
    seconds: float = 0.0

    def applies(self, path: str, params: Params) -> bool:
        if self.path is not None and _normalise(self.path) != path:
            return False
        if self.page is not None:
            try:
                if int(params.get("page", ["1"])[0]) != self.page:
                    return False
            except ValueError:
                return False
        return self.match is None or self.match(path, params)


class _Refused(Exception):
    def __init__(self, status: int, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def category_of(topic: str) -> str:
    """The category datanommer stores for a topic."""
    parts = topic.split(".")
    index = 2 if "VirtualTopic" in topic else 3
    return parts[index] if len(parts) > index else "Unclassified"


def load_jsonl(path: str | Path, *, skip_untimed: bool = True) -> list[Message]:
    """Rows of a JSON-lines file such as ``tests/corpus/fedmsg.jsonl``, without those lacking a timestamp."""
    rows = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                row = json.loads(line)
                if not skip_untimed or isinstance(row.get("timestamp"), int | float):
                    rows.append(row)
    return rows


def _normalise(path: str) -> str:
    return "/" + path.strip("/")


def _usec(timestamp: float) -> int:
    return round(timestamp * 1_000_000)


def _to_timestamp(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class Datagrepper:
    """A datagrepper on ``127.0.0.1`` over ``messages``; use as a context manager, or ``start()``/``stop()``.

    ``url`` is the base URL, ending with ``/`` (``http://127.0.0.1:PORT{prefix}/``). Every public method is
    thread-safe and may be called while requests are served, including from ``on_page``.
    """

    def __init__(
        self,
        messages: Iterable[Message] = (),
        *,
        default_rows_per_page: int = 25,
        max_rows_per_page: int = 100,
        default_query_delta: float = 0.0,
        prefix: str = "",
        tie_order: Literal["insertion", "random"] = "insertion",
        raw_whole_seconds: bool = False,
        now: Callable[[], float] = time.time,
        seed: int = 0,
    ) -> None:
        self.default_rows_per_page = default_rows_per_page
        self.max_rows_per_page = max_rows_per_page
        self.default_query_delta = default_query_delta
        self.prefix = "" if prefix.strip("/") == "" else _normalise(prefix)
        self.tie_order = tie_order
        self.raw_whole_seconds = raw_whole_seconds
        self.now = now
        #: Called before each search page is computed, in the serving thread, without any lock held (so it may
        #: call ``add()``), with ``{"endpoint": "/raw" or "/v2/search", "page", "rows_per_page", "order",
        #: "start", "end", "params"}`` (the window as resolved; the raw query as lists of strings).
        self.on_page: Callable[[dict[str, Any]], None] | None = None
        #: Exceptions raised by ``on_page`` (each turned the request into a 500).
        self.hook_errors: list[BaseException] = []
        self._lock = threading.RLock()
        self._random = random.Random(seed)
        self._keys: list[tuple[int, int]] = []  # (microseconds, sequence), ascending
        self._rows: list[Message] = []  # parallel to _keys
        self._stored: set[tuple[str, int]] = set()
        self._sequence = 0
        self._failures: list[_Rule] = []
        self._slows: list[_Rule] = []
        self._log: list[Served] = []
        self._requests = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._closing = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.add(messages)

    # -- life cycle

    def start(self) -> Datagrepper:
        if self._server is not None:
            raise RuntimeError("already started")
        self._closing.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.standin = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="datagrepper", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; sleeping (slow) requests wake up, and every serving thread is joined."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._closing.set()
        server.shutdown()
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Datagrepper:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}/"

    # -- the archive

    def add(self, messages: Iterable[Message]) -> int:
        """Store rows (copied); returns how many were new. Each needs ``topic``, ``timestamp`` and ``msg``."""
        added = 0
        with self._lock:
            for message in messages:
                timestamp = message.get("timestamp")
                if not isinstance(timestamp, int | float) or not isinstance(message.get("topic"), str):
                    raise ValueError(f"a row needs a topic and a numeric timestamp: {message!r}")
                if "msg" not in message:
                    raise ValueError(f"a row needs a msg: {message!r}")
                row = dict(message)
                self._sequence += 1
                if not row.get("msg_id"):
                    row["msg_id"] = str(uuid.uuid5(_ID_NAMESPACE, str(self._sequence)))
                identity = (str(row["msg_id"]), _usec(timestamp))
                if identity in self._stored:
                    continue
                self._stored.add(identity)
                key = (identity[1], self._sequence)
                index = bisect.bisect_right(self._keys, key)
                self._keys.insert(index, key)
                self._rows.insert(index, row)
                added += 1
        return added

    @property
    def messages(self) -> list[Message]:
        """The stored rows, oldest first (ties in insertion order), with their assigned ``msg_id``."""
        with self._lock:
            return [dict(row) for row in self._rows]

    # -- faults

    def fail(
        self,
        times: int | None = 1,
        status: int = 502,
        *,
        path: str | None = None,
        page: int | None = None,
        match: Callable[[str, Params], bool] | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests (None: all of them) with ``status``, or drop them (DROP).

        A request matches when its path (``/raw``, ``/v2/search``; prefix removed) is ``path``, its ``page``
        parameter is ``page`` and ``match(path, params)`` is true, each when given. This replaces any earlier
        ``fail()``; ``fail(0)`` stops failing.
        """
        with self._lock:
            self._failures[:] = [_Rule(times, path, page, match, status=status)]

    def slow(
        self,
        seconds: float,
        times: int | None = 1,
        *,
        path: str | None = None,
        page: int | None = None,
        match: Callable[[str, Params], bool] | None = None,
    ) -> None:
        """Sleep ``seconds`` before answering the next ``times`` matching requests (None: all of them).

        Requests match as for ``fail()``. This replaces any earlier ``slow()``; ``slow(0, times=0)`` stops it.
        A failed request is not slowed; ``stop()`` wakes every sleeping request.
        """
        with self._lock:
            self._slows[:] = [_Rule(times, path, page, match, seconds=seconds)]

    def clear_faults(self) -> None:
        with self._lock:
            self._failures.clear()
            self._slows.clear()

    def _take(self, rules: list[_Rule], path: str, params: Params) -> _Rule | None:
        with self._lock:
            for rule in rules:
                if rule.remaining != 0 and rule.applies(path, params):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule
        return None

    # -- what was received

    @property
    def requests(self) -> int:
        """Requests received, whatever their answer."""
        with self._lock:
            return self._requests

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most requests being handled at the same time."""
        with self._lock:
            return self._max_in_flight

    @property
    def log(self) -> list[Served]:
        """Requests answered so far, in the order they finished."""
        with self._lock:
            return list(self._log)

    def reset_counters(self) -> None:
        with self._lock:
            self._requests = self._max_in_flight = 0
            self._log.clear()

    # -- serving

    def _handle(self, handler: _Handler) -> None:
        with self._lock:
            self._requests += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        handler.started = time.monotonic()
        split = urlsplit(handler.path)
        handler.params = parse_qs(split.query, keep_blank_values=True)
        path = split.path
        handler.served_path = _normalise(path)
        status = 500
        try:
            if self.prefix and not (path == self.prefix or path.startswith(self.prefix + "/")):
                status = self._send_json(handler, 404, {"error": "not_found"})
                return
            handler.served_path = _normalise(path[len(self.prefix) :])
            status = self._respond(handler, handler.served_path, handler.params)
        finally:
            self._finish(handler, status)

    def _finish(self, handler: _Handler, status: int) -> None:
        """Count the request as answered: before its answer is written, so a client never sees it pending."""
        if handler.recorded:
            return
        handler.recorded = True
        with self._lock:
            self._in_flight -= 1
            self._log.append(Served(handler.served_path, handler.params, status, handler.started, time.monotonic()))

    def _respond(self, handler: _Handler, path: str, params: Params) -> int:
        failure = self._take(self._failures, path, params)
        if failure is not None:
            if failure.status == DROP:
                handler.close_connection = True
                return DROP
            reason = _REASONS.get(failure.status, "Error")
            page = f"<html><head><title>{failure.status} {reason}</title></head><body><h1>{reason}</h1></body></html>"
            return self._send(handler, failure.status, page.encode(), "text/html")
        slow = self._take(self._slows, path, params)
        if slow is not None:
            self._closing.wait(slow.seconds)
        if path in SEARCH_PATHS:
            return self._search(handler, path, params)
        if path in ("/id", "/v2/id"):
            return self._by_id(handler, path, params)
        return self._send_json(handler, 404, {"error": "not_found"})

    def _search(self, handler: _Handler, path: str, params: Params) -> int:
        def first(name: str, default: str | None = None) -> str | None:
            return params[name][0] if name in params else default

        arguments: dict[str, Any] = {}
        try:
            start, end, delta = self._timerange(first("start"), first("end"), first("delta"))
            lists = {name: params.get(name, []) for name in FILTERS}
            negated = {name: params.get("not_" + name, []) for name in FILTERS if name != "contains"}
            if lists["contains"]:
                if (start or 0) < self.now() - CONTAINS_MAX_AGE:
                    raise _Refused(400, "When using contains, specify a start at most eight months into the past")
                if not (lists["category"] or lists["topic"]):
                    raise _Refused(400, "When using contains, specify either a topic or a category as well")
            page = int(first("page", "1") or "")
            if page < 1:
                raise _Refused(400, "page must be > 0")
            rows_per_page = int(first("rows_per_page", str(self.default_rows_per_page)) or "")
            if rows_per_page > self.max_rows_per_page:
                raise _Refused(400, f"rows_per_page must be <= {self.max_rows_per_page}")
            order = first("order", "desc")
            if order not in ("desc", "asc"):
                raise _Refused(400, "order must be either 'desc' or 'asc'")
            arguments = {
                "start": start,
                "delta": delta,
                "end": end,
                **{PLURALS[name]: values for name, values in lists.items()},
                **{"not_" + PLURALS[name]: values for name, values in negated.items()},
                "page": page,
                "rows_per_page": rows_per_page,
                "order": order,
                "meta": params.get("meta", []),
            }
            if self.on_page is not None:
                try:
                    self.on_page(
                        {
                            "endpoint": path,
                            "page": page,
                            "rows_per_page": rows_per_page,
                            "order": order,
                            "start": start,
                            "end": end,
                            "params": params,
                        }
                    )
                except Exception as error:
                    with self._lock:
                        self.hook_errors.append(error)
                    raise
            if rows_per_page < 0:
                raise _Refused(500, "LIMIT must not be negative", {"error": "LIMIT must not be negative"})
            total, pages, rows = self._select(start, end, lists, negated, page, rows_per_page, order)
        except _Refused as refusal:
            if refusal.status == 400:
                return self._send_html(handler, 400, refusal.args[0])
            return self._send_json(handler, refusal.status, {**(refusal.body or {}), "arguments": arguments})
        except Exception as error:
            return self._send_json(handler, 500, {"error": "internal_error", "detail": repr(error), "traceback": ""})
        if self._wants_html(handler):
            items = "".join(f"<li>{row['topic']}</li>" for row in rows)
            return self._send(handler, 200, f"<html><body><ul>{items}</ul></body></html>".encode(), "text/html")
        shape = self._raw_shape if path == "/raw" else self._v2_shape
        return self._send_json(
            handler,
            200,
            {
                "raw_messages": [shape(row) for row in rows],
                "total": total,
                "pages": pages,
                "count": len(rows),
                "arguments": arguments,
            },
        )

    def _by_id(self, handler: _Handler, path: str, params: Params) -> int:
        wanted = params.get("id", [None])[0]
        if wanted is None:
            return self._send_html(
                handler, 400, "The browser (or proxy) sent a request that this server could not understand."
            )
        with self._lock:
            found = next((row for row in self._rows if row["msg_id"] == wanted), None)
        if found is None:
            return self._send_json(handler, 404, {"error": "not_found"})
        return self._send_json(handler, 200, self._raw_shape(found) if path == "/id" else self._v2_shape(found))

    def _timerange(
        self, start_arg: str | None, end_arg: str | None, delta_arg: str | None
    ) -> tuple[float | None, float | None, float | None]:
        start = None if start_arg is None else _to_timestamp(start_arg)
        end = None if end_arg is None else _to_timestamp(end_arg)
        delta = None if delta_arg is None else float(delta_arg)
        default = float(self.default_query_delta)
        if start is None and end is None and delta is None:
            if default >= 1:
                end = self.now()
                start, delta = end - default, default
        elif start is None and end is None and delta is not None:
            end = self.now()
            start = end - delta
        elif start is None and end is not None:
            if delta is not None:
                start = end - delta
            elif default >= 1:
                start, delta = end - default, default
            else:
                start = 0.0
        elif start is not None and end is None:
            if delta is None:
                end = self.now()
                delta = end - start
            else:
                end = start + delta
        elif start is not None and end is not None:
            delta = end - start
        return start, end, delta

    def _select(
        self,
        start: float | None,
        end: float | None,
        lists: dict[str, list[str]],
        negated: dict[str, list[str]],
        page: int,
        rows_per_page: int,
        order: str,
    ) -> tuple[int, int, list[Message]]:
        with self._lock:
            low, high = 0, len(self._keys)
            if start and end:
                low = bisect.bisect_left(self._keys, (_usec(start), -1))
                high = bisect.bisect_right(self._keys, (_usec(end), sys.maxsize))
            candidates = list(zip(self._keys[low:high], self._rows[low:high], strict=True))
            if self.tie_order == "random":
                candidates.sort(key=lambda pair: (pair[0][0], self._random.random()))
        matching = [row for _, row in candidates if self._matches(row, lists, negated)]
        if order == "desc":
            matching.reverse()
        total = len(matching)
        if not rows_per_page:
            return total, 1, matching
        offset = (page - 1) * rows_per_page
        return total, math.ceil(total / rows_per_page), matching[offset : offset + rows_per_page]

    @staticmethod
    def _matches(row: Message, lists: dict[str, list[str]], negated: dict[str, list[str]]) -> bool:
        def values(name: str) -> list[str]:
            if name == "category":
                return [category_of(row["topic"])]
            if name == "topic":
                return [row["topic"]]
            return list(row.get(name + "s") or [])

        for name, wanted in lists.items():
            if not wanted:
                continue
            if name == "contains":
                text = json.dumps(row["msg"])
                if not any(needle in text for needle in wanted):
                    return False
            elif not set(values(name)) & set(wanted):
                return False
        return not any(wanted and set(values(name)) & set(wanted) for name, wanted in negated.items())

    def _raw_shape(self, row: Message) -> Message:
        shaped = {**_RAW_DEFAULTS, **row}
        shaped["users"] = sorted(shaped["users"] or [])
        shaped["packages"] = sorted(shaped["packages"] or [])
        if self.raw_whole_seconds:
            shaped["timestamp"] = float(math.floor(row["timestamp"]))
        return shaped

    @staticmethod
    def _v2_shape(row: Message) -> Message:
        headers = dict(row.get("headers") or {})
        headers.setdefault("sent-at", datetime.fromtimestamp(row["timestamp"], UTC).isoformat())
        return {
            "body": row["msg"],
            "headers": headers,
            "id": row["msg_id"],
            "priority": headers.get("priority", 0),
            "queue": None,
            "topic": row["topic"],
        }

    @staticmethod
    def _wants_html(handler: _Handler) -> bool:
        accept = parse_accept_header(handler.headers.get("Accept"), MIMEAccept)
        return accept.best_match(["application/json", "text/html", "text/plain"]) == "text/html"

    def _send_json(self, handler: _Handler, status: int, body: Any) -> int:
        return self._send(handler, status, json.dumps(body).encode(), "application/json")

    def _send_html(self, handler: _Handler, status: int, message: str) -> int:
        reason = _REASONS.get(status, "Error")
        page = f"<!doctype html>\n<html lang=en>\n<title>{status} {reason}</title>\n<h1>{reason}</h1>\n"
        page += f"<p>{html.escape(message)}</p>\n"
        return self._send(handler, status, page.encode(), "text/html; charset=utf-8")

    def _send(self, handler: _Handler, status: int, body: bytes, content_type: str) -> int:
        self._finish(handler, status)
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            handler.close_connection = True  # the client gave up (a timeout); nothing to tell it
        return status


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every serving thread
    block_on_close = True
    standin: Datagrepper


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: no idle keep-alive threads to join
    timeout = 30
    # the request being served, for Datagrepper._finish
    started: float
    served_path: str
    params: Params
    recorded = False

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        self.server.standin._handle(self)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the http.server API)
        pass
