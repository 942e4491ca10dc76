"""Content negotiation and the response formats: JSON, JSON-P and CSV (and SVG charts of rows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from flask import Request, Response

from statscache import serialise
from statscache.web.params import BadParameter

JSON_TYPES = ("application/json", "text/json")
JS_TYPES = ("application/javascript", "text/javascript")
CSV_TYPES = ("text/csv", "application/csv")
SVG_TYPE = "image/svg+xml"
OFFERED = (*JSON_TYPES, *JS_TYPES, *CSV_TYPES)
ROWS_OFFERED = (*OFFERED, SVG_TYPE)  # last: a browser's */* still gets JSON, an <img>'s image/* a chart
EXPOSED = (
    "Link, X-Link-Number, X-Link-Count, X-Total-Count, X-Resolution, X-Answered-From, X-Notice, ETag, Last-Modified"
)


class NotAcceptable(Exception):
    """No format the client accepts (HTTP 406)."""


def choose(request: Request, fmt: str | None, callback: str | None, offered: Sequence[str] = OFFERED) -> str:
    """``json``, ``jsonp``, ``csv`` or ``svg``: ``?format=`` first, then ``callback``, then ``Accept``.

    ``offered`` are the media types the resource has (only rows have ``image/svg+xml``).
    """
    if fmt in ("csv", "svg"):
        if callback is not None:
            raise BadParameter("callback", f"callback makes JSON-P; it cannot go with format={fmt}")
        return fmt
    if fmt == "json" or callback is not None:
        return "jsonp" if callback is not None else "json"
    accept = request.accept_mimetypes
    if not accept.provided:
        return "json"
    best = accept.best_match(offered)
    if best is None:
        raise NotAcceptable()
    if best in JS_TYPES:
        raise BadParameter("callback", "JavaScript (JSON-P) needs a callback parameter")
    return "csv" if best in CSV_TYPES else "svg" if best == SVG_TYPE else "json"


def render(data: Any, kind: str, callback: str | None = None, columns: Sequence[str] = ()) -> Response:
    """A response holding ``data`` (rows, or a list of strings for CSV, or SVG text) in format ``kind``."""
    if kind == "svg":
        response = Response(data, mimetype=SVG_TYPE)
        response.headers["X-Content-Type-Options"] = "nosniff"
        # opened on its own, the picture may style itself and do nothing else (its text is escaped too)
        response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    elif kind == "csv":
        body = serialise.to_csv(data, columns) if columns else "".join(f"{item}\n" for item in data)
        response = Response(body, mimetype="text/csv")
    elif kind == "jsonp":
        payload = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode()
        response = Response(f"/**/{callback}({payload});", mimetype="application/javascript")
        response.headers["X-Content-Type-Options"] = "nosniff"
    else:
        response = Response(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS), mimetype="application/json")
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = EXPOSED
    response.vary.add("Accept")
    return response


def error(status: int, message: str, parameter: str | None = None) -> Response:
    """The JSON body every error has: ``{"error": ..., "parameter": ...}``."""
    response = Response(orjson.dumps({"error": message, "parameter": parameter}), status, mimetype="application/json")
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
