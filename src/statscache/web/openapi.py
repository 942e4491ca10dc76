"""The OpenAPI 3 description of the API, built from the installed statistics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from statscache.web.params import FILTERS

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
CALLBACK = _query("callback", "JSON-P: wrap the JSON in a call to this JavaScript identifier path.", {"type": "string"})
TIME = {"type": "string", "description": "epoch seconds or ISO-8601"}
ROWS_PARAMETERS = [
    _query("order", "Row order by time (default desc).", {"type": "string", "enum": ["asc", "desc"]}),
    _query("limit", "Cap on rows before pagination.", {"type": "integer", "minimum": 1}),
    _query("start", "Earliest row timestamp (inclusive).", TIME),
    _query("stop", "Latest row timestamp (inclusive; default now).", TIME),
    _query("as_of", "Only rows that existed at this time (Link headers pin it while paging).", TIME),
    _query("page", "Page number, from 1.", {"type": "integer", "minimum": 1}),
    _query("rows_per_page", "Rows per page (default 100, at most the configured maximum).", {"type": "integer"}),
    _query("resolution", "Roll a counter up into coarser buckets: seconds or 1m, 1h, 1d, 1w.", {"type": "string"}),
    _query("top", "Only the N keys with the largest totals in the window.", {"type": "integer", "minimum": 1}),
    *[
        _query(
            name,
            f"Keep rows whose {name} is one of these (repeatable).",
            {"type": "array", "items": {"type": "string"}},
            True,
        )
        for name in FILTERS
    ],
    FORMAT,
    CALLBACK,
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
                            "description": "Rows",
                            "headers": PAGING_HEADERS,
                            "content": _content({"type": "array", "items": ROW}),
                        },
                        "304": {"description": "Not modified since the ETag or Last-Modified given"},
                        **_errors(400, 404, 406),
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
