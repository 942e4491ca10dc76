"""Query parameters of the statistics API: parsed, validated, and explained when wrong."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from werkzeug.datastructures import MultiDict

from statscache.buckets import MONDAY_OFFSET, UNITS, parse_duration
from statscache.message import parse_time
from statscache.models import Counter, Window
from statscache.plugin import Plugin
from statscache.serialise import FORMATS
from statscache.web.chart import Options

CALLBACK = re.compile(r"^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$")
FILTERS = ("category", "topic", "user", "package", "project")
ORDERS = ("asc", "desc")
ROW_FORMATS = (*FORMATS, "svg")  # rows serialise to JSON or CSV, or draw as a chart
SWITCH = ("0", "1")
WIDTH = (16, 4000)  # chart sizes in pixels, bounded so a request cannot ask for a huge picture
HEIGHT = (16, 2000)
SPARKLINE = (160, 32)  # the default size of a sparkline


class BadParameter(ValueError):
    """A query parameter is malformed or out of range (HTTP 400)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.message = message


@dataclass(frozen=True)
class RowsQuery:
    """What a client asked of ``/api/<ident>``."""

    window: Window
    limit: int | None
    page: int
    rows_per_page: int
    callback: str | None
    format: str | None
    chart: Options


def single(args: MultiDict[str, str], name: str) -> str | None:
    """A parameter given at most once."""
    values = args.getlist(name)
    if len(values) > 1:
        raise BadParameter(name, f"{name} is given {len(values)} times; give it once")
    return values[0] if values else None


def integer(args: MultiDict[str, str], name: str, low: int, high: int | None = None) -> int | None:
    """An integer parameter within ``[low, high]``, or None when absent."""
    text = single(args, name)
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        raise BadParameter(name, f"{name} must be a whole number, not {text!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise BadParameter(name, f"{name} must be {bound}, not {value}")
    return value


def moment(args: MultiDict[str, str], name: str) -> float | None:
    """Epoch seconds from epoch-seconds text or ISO-8601, or None when absent."""
    text = single(args, name)
    if text is None:
        return None
    try:
        value = parse_time(text)
    except (ValueError, OverflowError):
        raise BadParameter(name, f"{name} must be epoch seconds or ISO-8601, not {text!r}") from None
    if not math.isfinite(value):
        raise BadParameter(name, f"{name} must be a finite time, not {text!r}")
    return value


def choice(args: MultiDict[str, str], name: str, options: tuple[str, ...], default: str | None) -> str | None:
    """One of ``options``."""
    text = single(args, name)
    if text is None:
        return default
    if text not in options:
        raise BadParameter(name, f"{name} must be one of {', '.join(options)}, not {text!r}")
    return text


def callback(args: MultiDict[str, str]) -> str | None:
    """A JSON-P callback: a JavaScript identifier path such as ``jQuery123.cb``."""
    name = single(args, "callback")
    if name is not None and (len(name) > 128 or not CALLBACK.match(name)):
        raise BadParameter("callback", "callback must be a JavaScript identifier path like handle or ns.handle")
    return name


def rows_query(args: MultiDict[str, str], plugin: type[Plugin], now: float, max_rows_per_page: int) -> RowsQuery:
    """Parse every parameter of ``/api/<ident>`` for ``plugin``."""
    start, stop, as_of = moment(args, "start"), moment(args, "stop"), moment(args, "as_of")
    stop = now if stop is None else stop
    if start is not None and start > stop:
        raise BadParameter("start", "start is after stop")
    resolution, offset = _resolution(args, plugin)
    window = Window(
        start=start,
        stop=stop,
        descending=choice(args, "order", ORDERS, "desc") == "desc",
        keys=_keys(args, plugin),
        resolution=resolution,
        resolution_offset=offset,
        top=_top(args, plugin),
        as_of=as_of,
    )
    return RowsQuery(
        window=window,
        limit=integer(args, "limit", 1),
        page=integer(args, "page", 1) or 1,
        rows_per_page=integer(args, "rows_per_page", 1, max_rows_per_page) or min(100, max_rows_per_page),
        callback=callback(args),
        format=choice(args, "format", ROW_FORMATS, None),
        chart=chart_options(args, window),
    )


STREAM_REFUSES = ("stop", "as_of", "limit", "page", "rows_per_page", "top", "format", "callback")


def stream_window(args: MultiDict[str, str], plugin: type[Plugin]) -> Window:
    """The parameters of ``/api/<ident>/stream``: ``start``, ``order``, key filters and ``resolution``.

    ``start`` is None when not given (the stream picks it); the parameters of ``/api/<ident>``
    that mean nothing for rows yet to come are refused rather than ignored.
    """
    for name in STREAM_REFUSES:
        if name in args:
            raise BadParameter(name, f"the stream does not take {name}; it sends rows as flushes change them")
    resolution, offset = _resolution(args, plugin)
    return Window(
        start=moment(args, "start"),
        descending=choice(args, "order", ORDERS, "asc") == "desc",
        keys=_keys(args, plugin),
        resolution=resolution,
        resolution_offset=offset,
    )


def chart_options(args: MultiDict[str, str], window: Window) -> Options:
    """``width``, ``height`` and ``sparkline`` of ``format=svg`` (checked whatever the format).

    The time axis spans the window when the client bounded it (``stop`` then defaults to
    now: a live chart ends at now), else the rows' own times.
    """
    sparkline = choice(args, "sparkline", SWITCH, "0") == "1"
    width = integer(args, "width", *WIDTH) or (SPARKLINE[0] if sparkline else Options.width)
    height = integer(args, "height", *HEIGHT) or (SPARKLINE[1] if sparkline else Options.height)
    bounded = window.start is not None or "stop" in args
    return Options(
        width=width,
        height=height,
        sparkline=sparkline,
        top=window.top or Options.top,
        start=window.start,
        stop=window.stop if bounded else None,
    )


def _keys(args: MultiDict[str, str], plugin: type[Plugin]) -> tuple[str, ...]:
    column = plugin.model.key_column
    for name in FILTERS:
        if name != column and name in args:
            where = f"its rows are filtered by {column}=" if column else "its rows have no key to filter on"
            raise BadParameter(name, f"{plugin.ident} cannot be filtered by {name}; {where}")
    return tuple(dict.fromkeys(args.getlist(column))) if column else ()


def _top(args: MultiDict[str, str], plugin: type[Plugin]) -> int | None:
    top = integer(args, "top", 1)
    if top is not None and not (isinstance(plugin.model, Counter) and plugin.model.key):
        raise BadParameter("top", f"{plugin.ident} has no keys to rank; top needs a keyed counter")
    return top


def _resolution(args: MultiDict[str, str], plugin: type[Plugin]) -> tuple[int | None, int]:
    """A roll-up size in seconds (``3600`` or ``1h``) and its bucket offset."""
    text = single(args, "resolution")
    if text is None:
        return None, 0
    native = plugin.resolution_seconds()
    if not isinstance(plugin.model, Counter) or native is None:
        raise BadParameter("resolution", f"{plugin.ident} is not a counter; only counters roll up")
    size = parse_duration(text)
    if size is None or size < native or size % native or size > 100 * 365 * 86400:
        raise BadParameter("resolution", f"resolution must be a multiple of {native} seconds (like 1h or 3600)")
    offset = MONDAY_OFFSET if size % UNITS["w"] == 0 else 0
    return (None if size == native else size), offset
