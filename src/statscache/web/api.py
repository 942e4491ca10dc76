"""The API: ``/api/``, ``/api/plugins``, ``/api/<ident>`` (JSON, CSV or an SVG chart), its stream and layout,
the OpenAPI description."""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, request, url_for
from werkzeug.datastructures import MultiDict

from statscache import retention
from statscache.models import Row, Window
from statscache.plugin import Plugin
from statscache.store import Reader
from statscache.web import chart, openapi, stream
from statscache.web.formats import ROWS_OFFERED, choose, error, render
from statscache.web.params import BadParameter, RowsQuery, callback, choice, rows_query, stream_window
from statscache.web.state import state

blueprint = Blueprint("api", __name__, url_prefix="/api")


@blueprint.get("/")
def index() -> Response:
    """The idents of every statistic (a JSON array, as in 2015; CSV one per line)."""
    kind = choose(request, choice(request.args, "format", ("json", "csv"), None), callback(request.args))
    return render(sorted(state().plugins), kind, callback(request.args))


@blueprint.get("/plugins")
def plugins() -> Response:
    """Every statistic described, with the time of its newest row and links."""
    kind = choose(request, choice(request.args, "format", ("json", "csv"), None), callback(request.args))
    with state().store.reader() as reader:
        described = [_describe(plugin, reader) for _, plugin in sorted(state().plugins.items())]
    columns = ["ident", "name", "summary", "kind", "resolution", "backlog_delta", "newest"]
    return render(described, kind, callback(request.args), columns if kind == "csv" else ())


@blueprint.get("/<ident>")
def statistic(ident: str) -> Response:
    """The rows of one statistic: windowed, filtered, rolled up, ranked and paged."""
    app = state()
    plugin = app.plugin(ident)
    now = time.time()
    query = rows_query(request.args, plugin, now, app.max_rows_per_page)
    kind = choose(request, query.format, query.callback, ROWS_OFFERED)
    with app.store.reader() as reader:  # one connection, one snapshot
        served = retention.route(plugin, query.window, reader.retained(), app.plugins.values())
        updated = _latest(reader.updated_at(plugin), reader.updated_at(served.plugin))
        etag = _etag(ident, served.plugin.ident, updated, request.args, kind)
        if _not_modified(etag, updated):
            return _conditional(Response(status=304), etag, updated)
        if kind == "svg":
            response = _chart(reader, plugin, served, query)
            _say_where(response, served)
            return _conditional(response, etag, updated)
        total = _count(reader, served.plugin, served.window, query.limit, updated)
        pages, rows = page_of(reader, served, query, total)
    response = render(rows, kind, query.callback, plugin.model.columns)
    response.headers["Link"] = _links(ident, query, pages, now)
    response.headers["X-Link-Number"] = str(query.page)
    response.headers["X-Link-Count"] = str(pages)
    response.headers["X-Total-Count"] = str(total)
    _say_where(response, served)
    return _conditional(response, etag, updated)


@blueprint.get("/<ident>/stream")
def statistic_stream(ident: str) -> Response:
    """Server-Sent Events: the rows each flush adds or changes (see :mod:`statscache.web.stream`).

    Everything is checked before the stream starts, so a bad request is still a JSON error.
    """
    app = state()
    plugin = app.plugin(ident)
    window = stream_window(request.args, plugin)
    if window.start is None:
        window = replace(window, start=stream.default_start(plugin, window, time.time()))
    config = app.config
    settings = stream.Settings(
        poll=config.stream_poll_interval, heartbeat=config.stream_heartbeat, lifetime=config.stream_lifetime
    )
    last = request.headers.get("Last-Event-ID")
    body = stream.events(app.store, plugin, window, last, settings)
    response = Response(body, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@blueprint.get("/<ident>/layout")
def layout(ident: str) -> Response:
    """How a dashboard renders this statistic (only for statistics that have a layout)."""
    plugin = state().plugin(ident)
    found = getattr(plugin, "layout", None)
    if found is None:
        return error(404, f"{ident} has no layout", "ident")
    kind = choose(request, "json", callback(request.args))
    return render(found, kind, callback(request.args))


@blueprint.get("/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI 3 description of this API."""
    return render(openapi.document(sorted(state().plugins)), "json")


def page_of(reader: Reader, served: retention.Route, query: RowsQuery, total: int) -> tuple[int, list[Row]]:
    """How many pages ``total`` rows make, and the rows of the page asked (400 past the last)."""
    pages = max(1, math.ceil(total / query.rows_per_page))
    if query.page > pages:
        raise BadParameter("page", f"page {query.page} is past the last page, {pages}")
    offset = (query.page - 1) * query.rows_per_page
    take = min(query.rows_per_page, total - offset)
    return pages, reader.rows(served.plugin, served.window, offset, take) if take > 0 else []


def _chart(reader: Reader, plugin: type[Plugin], served: retention.Route, query: RowsQuery) -> Response:
    """Every row of the window as a chart (not a page of it), at most ``MAX_CHART_ROWS`` of them.

    A keyed counter is read whole, without ``top``: the chart ranks the keys itself and sums
    the rest into ``other``. Past the cap, the rows kept are the first in ``order`` (the
    newest, by default) and the chart says so, as it says when retention sent the read to a
    coarser statistic.
    """
    cap = state().config.max_chart_rows
    take = cap if query.limit is None else min(cap, query.limit)
    rows = reader.rows(served.plugin, replace(served.window, top=None), 0, take + 1)
    notes = []
    if len(rows) > take:
        rows = rows[:take]
        notes.append(f"{'newest' if query.window.descending else 'oldest'} {take} rows")
    if served.notice is not None:
        notes.append(f"from {served.plugin.ident}")
    step = served.window.resolution or served.plugin.resolution_seconds()
    return render(chart.render(rows, plugin.model, step, query.chart, plugin.name, "; ".join(notes)), "svg")


def _count(reader: Reader, plugin: type[Plugin], window: Window, limit: int | None, updated: float | None) -> int:
    """Rows in the window (capped by ``limit``); cached until a flush or a trim changes the statistic."""
    key_window = window if "stop" in request.args else replace(window, stop=None)  # "until now": only a flush adds
    key = (plugin.ident, key_window, updated)
    total = state().counts.get(key) if updated is not None else None
    if total is None:
        total = reader.count(plugin, window)
        if updated is not None:
            state().counts.put(key, total)
    return total if limit is None else min(total, limit)


def _latest(*times: float | None) -> float | None:
    """The newest of the update times known."""
    known = [value for value in times if value is not None]
    return max(known) if known else None


def _say_where(response: Response, served: retention.Route) -> None:
    """Name the resolution served and, when retention sent the read elsewhere, where and why."""
    native = served.plugin.resolution_seconds()
    if native is not None:
        response.headers["X-Resolution"] = str(served.window.resolution or native)
    if served.notice is not None:
        response.headers["X-Answered-From"] = served.plugin.ident
        response.headers["X-Notice"] = served.notice


def _describe(plugin: type[Plugin], reader: Reader) -> dict[str, Any]:
    described = plugin.describe()
    described["newest"] = reader.newest(plugin)
    described["links"] = {"self": url_for(".statistic", ident=plugin.ident, _external=True)}
    if getattr(plugin, "layout", None) is not None:
        described["links"]["layout"] = url_for(".layout", ident=plugin.ident, _external=True)
    return described


def _links(ident: str, query: RowsQuery, pages: int, now: float) -> str:
    """first/prev/next/last, keeping every parameter and pinning ``stop`` and ``as_of``.

    ``as_of`` leaves out rows first written after the first page was served, so
    rows arriving during a walk neither repeat nor skip any row of it.
    """
    params = request.args.to_dict(flat=False)
    params.setdefault("stop", [_number(query.window.stop)])
    params.setdefault("as_of", [_number(now)])
    targets = {"first": 1, "last": pages}
    if query.page > 1:
        targets["prev"] = query.page - 1
    if query.page < pages:
        targets["next"] = query.page + 1
    links = []
    for rel in ("first", "prev", "next", "last"):
        if rel in targets:
            values: dict[str, Any] = {**params, "page": [str(targets[rel])]}
            url = url_for(".statistic", ident=ident, _external=True, **values)
            links.append(f'<{url}>; rel="{rel}"')
    return ", ".join(links)


def _number(value: float | None) -> str:
    return "" if value is None else str(int(value)) if value == int(value) else repr(value)


def _etag(ident: str, served: str, updated: float | None, args: MultiDict[str, str], kind: str) -> str:
    """Changes when the statistic's rows change, or the question does."""
    question = sorted((key, value) for key, values in args.lists() for value in values)
    digest = hashlib.sha256(repr((ident, served, updated, question, kind)).encode()).hexdigest()[:32]
    return digest


def _not_modified(etag: str, updated: float | None) -> bool:
    if request.if_none_match:
        return request.if_none_match.contains_weak(etag)
    since = request.if_modified_since
    return since is not None and updated is not None and int(updated) <= since.timestamp()


def _conditional(response: Response, etag: str, updated: float | None) -> Response:
    response.set_etag(etag, weak=True)
    if updated is not None:
        response.last_modified = datetime.fromtimestamp(int(updated), tz=UTC)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
