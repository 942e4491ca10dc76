"""The OpenAPI 3 description of the API, built from the installed statistics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from statscache.web.params import FILTERS, HEIGHT, ROW_FORMATS, WIDTH

ERROR = {
    "type": "object",
    "required": ["error", "parameter"],
    "properties": {"error": {"type": "string"}, "parameter": {"type": ["string", "null"]}},
}
ROW = {"type": "object", "required": ["timestamp"], "properties": {"timestamp": {"type": "number"}}}
PAGING_HEADERS = {
    name: {"description": text, "schema": {"type": kind}}
    for name, text, kind in (
        ("Link", "first/prev/next/last links, every parameter kept and stop pinned", "string"),
        ("X-Link-Number", "this page's number", "integer"),
        ("X-Link-Count", "the number of pages", "integer"),
        ("X-Total-Count", "the number of rows over all pages", "integer"),
        ("ETag", "changes when the rows or the question change", "string"),
        ("X-Resolution", "the bucket size served, in seconds (bucketed statistics)", "integer"),
        ("X-Answered-From", "the coarser statistic that answered, when the window reaches past retention", "string"),
        ("X-Notice", "why another statistic answered", "string"),
    )
}


def _query(name: str, description: str, schema: dict[str, Any], explode: bool = False) -> dict[str, Any]:
    parameter = {"name": name, "in": "query", "required": False, "description": description, "schema": schema}
    if explode:
        parameter.update(style="form", explode=True)
    return parameter


FORMAT = _query("format", "Response format; overrides Accept.", {"type": "string", "enum": ["json", "csv"]})
ROWS_FORMAT = _query(
    "format",
    "Response format; overrides Accept. svg draws the window as a chart.",
    {"type": "string", "enum": list(ROW_FORMATS)},
)
CHART_PARAMETERS = [
    _query(
        "width", "Chart width in pixels (format=svg).", {"type": "integer", "minimum": WIDTH[0], "maximum": WIDTH[1]}
    ),
    _query(
        "height",
        "Chart height in pixels (format=svg).",
        {"type": "integer", "minimum": HEIGHT[0], "maximum": HEIGHT[1]},
    ),
    _query(
        "sparkline", "1: a compact chart without axes or legend (format=svg).", {"type": "string", "enum": ["0", "1"]}
    ),
]
CALLBACK = _query("callback", "JSON-P: wrap the JSON in a call to this JavaScript identifier path.", {"type": "string"})
TIME = {"type": "string", "description": "epoch seconds or ISO-8601"}
RESOLUTION = _query(
    "resolution", "Roll a counter up into coarser buckets: seconds or 1m, 1h, 1d, 1w.", {"type": "string"}
)
KEY_FILTERS = [
    _query(
        name,
        f"Keep rows whose {name} is one of these (repeatable).",
        {"type": "array", "items": {"type": "string"}},
        True,
    )
    for name in FILTERS
]
ROWS_PARAMETERS = [
    _query("order", "Row order by time (default desc).", {"type": "string", "enum": ["asc", "desc"]}),
    _query("limit", "Cap on rows before pagination.", {"type": "integer", "minimum": 1}),
    _query("start", "Earliest row timestamp (inclusive).", TIME),
    _query("stop", "Latest row timestamp (inclusive; default now).", TIME),
    _query("as_of", "Only rows that existed at this time (Link headers pin it while paging).", TIME),
    _query("page", "Page number, from 1.", {"type": "integer", "minimum": 1}),
    _query("rows_per_page", "Rows per page (default 100, at most the configured maximum).", {"type": "integer"}),
    RESOLUTION,
    _query(
        "top",
        "Only the N keys with the largest totals in the window (a chart: N lines and other, default 5).",
        {"type": "integer", "minimum": 1},
    ),
    *KEY_FILTERS,
    ROWS_FORMAT,
    *CHART_PARAMETERS,
    CALLBACK,
]
STREAM_PARAMETERS = [
    _query("start", "Watch rows from this time (default: the current bucket less five minutes).", TIME),
    _query("order", "Order of the rows within an event (default asc).", {"type": "string", "enum": ["asc", "desc"]}),
    RESOLUTION,
    *KEY_FILTERS,
]


def _content(schema: dict[str, Any], csv: bool = True) -> dict[str, Any]:
    content: dict[str, Any] = {
        "application/json": {"schema": schema},
        "application/javascript": {"schema": {"type": "string"}},
    }
    if csv:
        content["text/csv"] = {"schema": {"type": "string"}}
    return content


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "A malformed or out-of-range parameter", 404: "No such statistic", 406: "No acceptable format"}
    return {
        str(code): {"description": text[code], "content": {"application/json": {"schema": ERROR}}} for code in codes
    }


def document(idents: Sequence[str]) -> dict[str, Any]:
    """The OpenAPI document for a server holding these statistics."""
    ident = {"name": "ident", "in": "path", "required": True, "schema": {"type": "string", "enum": list(idents)}}
    list_params = [FORMAT, CALLBACK]
    return {
        "openapi": "3.1.0",
        "info": {"title": "statscache", "version": "1", "description": "Statistics of Fedora's message bus."},
        "paths": {
            "/api/": {
                "get": {
                    "summary": "The idents of every statistic",
                    "parameters": list_params,
                    "responses": {
                        "200": {
                            "description": "Idents",
                            "content": _content({"type": "array", "items": {"type": "string"}}),
                        },
                        **_errors(400, 406),
                    },
                }
            },
            "/api/plugins": {
                "get": {
                    "summary": "Every statistic described",
                    "parameters": list_params,
                    "responses": {
                        "200": {
                            "description": "Statistics",
                            "content": _content({"type": "array", "items": {"type": "object"}}),
                        },
                        **_errors(400, 406),
                    },
                }
            },
            "/api/{ident}": {
                "get": {
                    "summary": "The rows of one statistic",
                    "parameters": [ident, *ROWS_PARAMETERS],
                    "responses": {
                        "200": {
                            "description": "Rows (a chart with format=svg)",
                            "headers": PAGING_HEADERS,
                            "content": {
                                **_content({"type": "array", "items": ROW}),
                                "image/svg+xml": {"schema": {"type": "string"}},
                            },
                        },
                        "304": {"description": "Not modified since the ETag or Last-Modified given"},
                        **_errors(400, 404, 406),
                    },
                }
            },
            "/api/{ident}/stream": {
                "get": {
                    "summary": "Server-Sent Events: the rows each flush adds or changes",
                    "description": (
                        "event: rows, id: the statistic's update time, data: {ident, updated, rows}. "
                        "A ': keepalive' comment when quiet; the server ends the stream after its lifetime "
                        "(5 minutes by default) and the client reconnects with Last-Event-ID."
                    ),
                    "parameters": [ident, *STREAM_PARAMETERS],
                    "responses": {
                        "200": {
                            "description": "The event stream",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}},
                        },
                        **_errors(400, 404),
                    },
                }
            },
            "/api/{ident}/layout": {
                "get": {
                    "summary": "How a dashboard renders this statistic",
                    "parameters": [ident, CALLBACK],
                    "responses": {
                        "200": {"description": "The layout", "content": _content({"type": "object"}, csv=False)},
                        **_errors(400, 404, 406),
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This description",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
    }
