"""The pages people look at: home, one page per statistic, the release-engineering dashboard, the API reference.

Everything is rendered on the server in one request and readable without
JavaScript: charts are the API's own SVG (``/api/<ident>?format=svg``), tables
are HTML. Scripts only add to that: ``live.js`` follows ``/api/<ident>/stream``
and re-renders the live part of the page, ``chart.js`` draws an interactive
chart with the vendored uPlot. Nothing is loaded from outside the server.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson
from flask import Blueprint, Flask, Response, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from statscache import retention
from statscache.buckets import iso, label
from statscache.models import Counter, Row
from statscache.plugin import Plugin
from statscache.plugins import releng
from statscache.web import openapi
from statscache.web.api import page_of
from statscache.web.errors import http_error
from statscache.web.params import STREAM_REFUSES, BadParameter, RowsQuery, rows_query, single
from statscache.web.state import UnknownStatistic, state

blueprint = Blueprint("pages", __name__)

RELENG = "release-engineering-event-logs"
# Time-window presets, relative to the statistic's newest row (for a live statistic that is now;
# for one that stopped, its last data rather than an empty page).
RANGES = {
    "1h": ("Last hour", 3600),
    "1d": ("Last day", 86400),
    "1w": ("Last week", 7 * 86400),
    "30d": ("Last 30 days", 30 * 86400),
    "1y": ("Last year", 365 * 86400),
    "all": ("Everything", None),
}
ROLL_UPS = (1, 5, 15, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
ROWS_PER_PAGE = 100
PAGE_ONLY = ("range",)  # parameters of the page that the API does not take


@dataclass
class Question:
    """What a statistic page shows: the API's parameters after the page's own were applied."""

    api: MultiDict[str, str]
    query: RowsQuery
    range: str | None  # the preset the window came from (None: an explicit start or stop)


@dataclass
class Entry:
    """One row of the dashboard: a key's newest event, or a listed key with none yet."""

    constraint: str
    title: str
    timestamp: float | None = None
    state: str = "none"
    status: str = "no event"
    raw: str = ""
    detail: str = ""
    topic: str = ""
    stale: bool = False


@dataclass
class Component:
    id: str
    label: str
    stale_after: int
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Group:
    id: str
    label: str
    components: list[Component] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Entries per state, and how many are stale."""
        tally = {"ok": 0, "running": 0, "failed": 0, "unknown": 0, "stale": 0}
        for component in self.components:
            for entry in component.entries:
                if entry.state in tally:
                    tally[entry.state] += 1
                tally["stale"] += entry.stale
        return tally


def register(app: Flask) -> None:
    """Install the blueprint and the template helpers."""
    app.register_blueprint(blueprint)
    app.jinja_env.filters["utc"] = utc
    app.jinja_env.filters["duration"] = duration
    app.jinja_env.filters["schema"] = schema_text
    app.jinja_env.filters["topic"] = message_summary
    app.jinja_env.filters["iso"] = lambda epoch: "" if epoch is None else iso(epoch)
    app.jinja_env.filters["localinput"] = local_input
    for code in (404, 405):
        app.register_error_handler(code, _http_error)


def _http_error(problem: HTTPException) -> Any:
    """An unknown URL or method: an HTML page for people; under ``/api``, the API's own JSON error.

    A handler for a status code takes precedence over one for a class, so this one answers
    every 404 and 405 and hands those of the API to :func:`errors.http_error`.
    """
    if request.path == "/api" or request.path.startswith("/api/"):
        return http_error(problem)
    code = problem.code or 500
    response = Response(*error_page(code, problem.name, problem.description or problem.name), mimetype="text/html")
    if code == 405 and problem.valid_methods:  # type: ignore[attr-defined]
        response.headers["Allow"] = ", ".join(problem.valid_methods)  # type: ignore[attr-defined]
    return response


@blueprint.errorhandler(BadParameter)
def bad_parameter(problem: BadParameter) -> tuple[str, int]:
    return error_page(400, "Bad parameter", f"{problem.parameter}: {problem.message}")


@blueprint.errorhandler(UnknownStatistic)
def unknown(problem: UnknownStatistic) -> tuple[str, int]:
    return error_page(404, "No such statistic", f"There is no statistic called {problem.args[0]!r}.")


@blueprint.errorhandler(SQLAlchemyError)
def database(_: SQLAlchemyError) -> tuple[str, int]:
    return error_page(503, "Database unavailable", "The statistics database is unavailable; try again shortly.")


def error_page(status: int, title: str, message: str) -> tuple[str, int]:
    """An HTML error page (the pages' counterpart of the API's JSON errors)."""
    return render_template("error.html", status=status, title=title, message=message), status


@blueprint.get("/")
def home() -> str:
    """What statscache is, and every statistic with a sparkline and its last update."""
    app = state()
    with app.store.reader() as reader:
        items = [
            {
                "plugin": plugin,
                "updated": reader.updated_at(plugin),
                "newest": reader.newest(plugin),
                "resolution": label(plugin.resolution) if plugin.resolution else None,
            }
            for _, plugin in sorted(app.plugins.items())
        ]
    return render_template("home.html", items=items)


@blueprint.get("/statistics/<ident>")
def statistic(ident: str) -> str:
    """One statistic: window, roll-up, chart, table, links to the same data, description."""
    app = state()
    plugin = app.plugin(ident)
    now = time.time()
    with app.store.reader() as reader:
        newest = reader.newest(plugin)
        updated = reader.updated_at(plugin)
        question = ask(request.args, plugin, newest, now, app.max_rows_per_page)
        query = question.query
        served = retention.route(plugin, query.window, reader.retained(), app.plugins.values())
        total = reader.count(served.plugin, served.window)
        if query.limit is not None:
            total = min(total, query.limit)
        pages, rows = page_of(reader, served, query, total)
    chart_args = _without(question.api, ("page", "rows_per_page", "order", "limit", "as_of", "format", "callback"))
    return render_template(
        "statistic.html",
        plugin=plugin,
        described=plugin.describe(),
        question=question,
        notice=served.notice,
        rows=rows,
        columns=plugin.model.columns,
        total=total,
        pages=pages,
        newest=newest,
        updated=updated,
        ranges=RANGES,
        roll_ups=roll_ups(plugin),
        keyed=isinstance(plugin.model, Counter) and plugin.model.key is not None,
        chart_url=_api_url(ident, chart_args, format="svg"),
        chart_json=_api_url(
            ident, _without(chart_args, ("top",)), format="json", order="asc", rows_per_page=str(app.max_rows_per_page)
        ),
        json_url=_api_url(ident, question.api, format="json"),
        csv_url=_api_url(ident, question.api, format="csv"),
        page_url=lambda number: _page_url(ident, number),
        stream_url=_stream_url(ident, question),
    )


@blueprint.get("/dashboards/release-engineering")
def release_engineering() -> str:
    """The newest status of every compose, sync, image and artifact, grouped by the layout."""
    app = state()
    plugin = app.plugin(RELENG)
    with app.store.reader() as reader:
        rows = reader.rows(plugin)
        updated = reader.updated_at(plugin)
    layout: Mapping[str, Any] = getattr(plugin, "layout", releng.LAYOUT)
    groups, unclaimed = dashboard(rows, layout, time.time())
    return render_template(
        "dashboard.html",
        plugin=plugin,
        groups=groups,
        unclaimed=unclaimed,
        updated=updated,
        rows=len(rows),
        stream_url=_stream_path(RELENG, MultiDict({"start": "0"})),  # every key, however old
    )


@blueprint.get("/reference")
def reference() -> str:
    """The API reference, from the OpenAPI description the API serves."""
    document = openapi.document(sorted(state().plugins))
    return render_template("reference.html", document=document, idents=sorted(state().plugins))


# --- the statistic page's question -------------------------------------------------------------------


def default_range(plugin: type[Plugin]) -> str:
    """A window of a few dozen to a few thousand native buckets."""
    seconds = plugin.resolution_seconds()
    if seconds is None:
        return "all"
    for limit, preset in ((60, "1h"), (3600, "1d"), (86400, "1w"), (604800, "30d")):
        if seconds < limit:
            return preset
    return "1y"


def ask(args: MultiDict[str, str], plugin: type[Plugin], newest: float | None, now: float, max_rows: int) -> Question:
    """The API question a statistic page asks: its window resolved from ``range`` or ``start``/``stop``."""
    # A form sends the fields left empty (no start, top "all"): they mean "not given".
    args = MultiDict([(key, value) for key, value in args.items(multi=True) if value.strip()])
    chosen = single(args, "range")
    if chosen is not None and chosen not in RANGES:
        raise BadParameter("range", f"range must be one of {', '.join(RANGES)}, not {chosen!r}")
    explicit = "start" in args or "stop" in args
    if chosen is not None and explicit:
        raise BadParameter("range", "give either range or start/stop, not both")
    api = MultiDict([(key, value) for key, value in args.items(multi=True) if key not in PAGE_ONLY])
    if not explicit:
        chosen = chosen or default_range(plugin)
        span = RANGES[chosen][1]
        if span is not None and newest is not None:
            native = plugin.resolution_seconds() or 1
            stop = int(newest) + native - 1  # the newest bucket, whole
            api["start"] = str(stop - span + 1)
            api["stop"] = str(stop)
    api.setdefault("rows_per_page", str(min(ROWS_PER_PAGE, max_rows)))
    query = rows_query(api, plugin, now, max_rows)
    return Question(api=api, query=query, range=chosen)


def roll_ups(plugin: type[Plugin]) -> list[tuple[int, str]]:
    """The resolutions a counter can be read at: multiples of its own."""
    native = plugin.resolution_seconds()
    if not isinstance(plugin.model, Counter) or native is None:
        return []
    return [(size, duration(size)) for size in ROLL_UPS if size >= native and size % native == 0]


def _without(args: MultiDict[str, str], names: Iterable[str]) -> MultiDict[str, str]:
    dropped = set(names)
    return MultiDict([(key, value) for key, value in args.items(multi=True) if key not in dropped])


def _api_url(ident: str, args: MultiDict[str, str], **extra: str) -> str:
    values: dict[str, Any] = args.to_dict(flat=False)
    values.update({key: [value] for key, value in extra.items()})
    return url_for("api.statistic", ident=ident, **values)


def _stream_url(ident: str, question: Question) -> str:
    """The stream of the rows this page shows: from its window's start (the stream has no stop).

    A window without a start leaves it to the stream, which watches the buckets live traffic
    can still change, rather than re-reading a whole statistic at every flush.
    """
    return _stream_path(ident, _without(question.api, STREAM_REFUSES))


def _stream_path(ident: str, args: MultiDict[str, str]) -> str:
    path = url_for("api.statistic", ident=ident) + "/stream"
    return f"{path}?{urlencode(list(args.items(multi=True)))}" if args else path


def _page_url(ident: str, number: int) -> str:
    values: dict[str, Any] = request.args.to_dict(flat=False)
    values["page"] = [str(number)]
    return url_for(".statistic", ident=ident, **values)


# --- the release-engineering dashboard ---------------------------------------------------------------


def dashboard(rows: Sequence[Row], layout: Mapping[str, Any], now: float) -> tuple[list[Group], list[Entry]]:
    """Rows placed in the layout's groups and components, with their status and staleness.

    Returns the groups and the rows no component claims (shown apart, never dropped).
    """
    groups: list[Group] = []
    components: dict[str, tuple[Component, Mapping[str, Any]]] = {}
    for group_spec in layout["groups"]:
        group = Group(group_spec["id"], group_spec["label"])
        for spec in group_spec["components"]:
            stale_after = int(spec.get("stale_after", group_spec.get("stale_after", 0)) or 0)
            component = Component(spec["id"], spec["label"], stale_after)
            group.components.append(component)
            components[spec["id"]] = (component, spec)
        groups.append(group)
    found: dict[str, dict[str, Entry]] = {name: {} for name in components}
    unclaimed: list[Entry] = []
    for row in rows:
        category, constraint = row["category"], row["category_constraint"]
        owner = releng.claim(category, constraint, layout)
        spec = components[owner[1]][1] if owner else {}
        status_map = layout["status_maps"].get(spec.get("status", ""), {}) if owner else {}
        entry = _entry(row, spec, status_map, now, components[owner[1]][0].stale_after if owner else 0)
        if owner is None:
            unclaimed.append(entry)
        else:
            found[owner[1]][constraint if spec.get("category") else f"{category}/{constraint}"] = entry
    for name, (component, spec) in components.items():
        listed = spec.get("constraints")
        if listed is not None:
            for item in listed:
                entry = found[name].pop(item["value"]) if item["value"] in found[name] else Entry(item["value"], "")
                entry.title = item["label"]
                component.entries.append(entry)
        component.entries.extend(sorted(found[name].values(), key=lambda e: -(e.timestamp or 0)))
    unclaimed.sort(key=lambda e: -(e.timestamp or 0))
    return groups, unclaimed


def _entry(row: Row, spec: Mapping[str, Any], status_map: Mapping[str, Any], now: float, stale_after: int) -> Entry:
    message: dict[str, Any] = row["message"] if isinstance(row["message"], dict) else {}
    body: dict[str, Any] = message["body"] if isinstance(message.get("body"), dict) else {}
    status = releng.status_of(message, status_map) if status_map else {"state": "unknown", "label": "unknown"}
    detail = ""
    for name in spec.get("detail", []):
        value = body.get(name)
        if value not in (None, "", [], {}):
            text = value if isinstance(value, str) else orjson.dumps(value).decode()
            detail = f"{name}: {text}"
            break
    constraint = row["category_constraint"]
    title = constraint if spec.get("category") else f"{row['category']} / {constraint}"
    timestamp = float(row["timestamp"])
    return Entry(
        constraint=constraint,
        title=title,
        timestamp=timestamp,
        state=status["state"],
        status=status["label"],
        raw=status.get("raw", ""),
        detail=detail,
        topic=str(message.get("topic", "")),
        stale=bool(stale_after) and now - timestamp > stale_after,
    )


# --- template helpers --------------------------------------------------------------------------------


def utc(epoch: float | None, seconds: bool = True) -> str:
    """``2024-01-01 12:00:00 UTC`` (``—`` for none)."""
    if epoch is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def local_input(epoch: float | None) -> str:
    """The value of a ``datetime-local`` input (the page treats it as UTC)."""
    return "" if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))


def duration(seconds: float | None) -> str:
    """``1 hour``, ``5 minutes``, ``36 hours``, ``7 days``, ``1 week``."""
    if seconds is None:
        return "—"
    whole = int(seconds)
    for size, unit in ((604800, "week"), (86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if whole >= size and whole % size == 0:
            count = whole // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{whole} seconds"


def schema_text(schema: Mapping[str, Any] | None) -> str:
    """A JSON Schema in a few words: ``integer ≥ 1``, ``one of asc, desc``, ``array of string``."""
    if not schema:
        return ""
    if "enum" in schema:
        return "one of " + ", ".join(str(value) for value in schema["enum"])
    kind = schema.get("type", "any")
    text = " or ".join(kind) if isinstance(kind, list) else str(kind)
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        text = f"array of {schema_text(schema['items'])}"
    if "minimum" in schema:
        text += f" ≥ {schema['minimum']}"
    if "description" in schema:
        text += f" ({schema['description']})"
    return text


def message_summary(message: Any) -> str:
    """A stored message in one line: its topic."""
    return str(message.get("topic", "")) if isinstance(message, dict) else ""
