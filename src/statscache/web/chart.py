"""Rows to an SVG chart, drawn on the server so it reads without JavaScript.

Counters and distinct counts are line charts over time; ``Latest`` statistics (the
release-engineering event log: one newest event per key, not a series) are a
timeline, one lane per category and a dot per event. The SVG is built with
:mod:`xml.etree.ElementTree`, which escapes every text and attribute (keys come
from messages); characters XML cannot hold at all become U+FFFD.

The contract pages and tests rely on:

- the root ``<svg>`` has class ``statscache-chart`` (plus ``sparkline`` for the compact
  variant: no axes, no legend, no margins);
- each series is a ``<polyline class="series ...">`` with ``data-key`` (the key, ``other``
  for the sum of the keys outside the top N, or the value column, e.g. ``volume``, for
  unkeyed statistics), ``data-points`` (the number of buckets with data in that series)
  and ``data-total`` (its sum). A bucket without data is drawn as zero: the line drops
  to zero across a gap, so it may have more vertices than ``data-points``;
- the legend (``<g class="legend">``) has one ``<text class="legend-label">`` per series
  with the same ``data-key`` and ``data-total``, in the order of the series (largest first,
  ``other`` last);
- axis ticks are ``<text class="tick">`` with ``data-time`` (epoch seconds, x axis, labels
  in UTC) or ``data-value`` (y axis, round numbers from zero);
- a timeline event is a ``<circle class="event">`` with ``data-key`` (its category) and
  ``data-time``;
- a window without rows gives ``<text class="empty">no data in this window</text>``.

Colours come from CSS classes and ``currentColor`` in an embedded ``<style>`` with a
``prefers-color-scheme: dark`` variant, so the chart reads on light and dark pages.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from statscache.models import Counter, Distinct, Latest, ModelKind, Row

SVG_NS = "http://www.w3.org/2000/svg"
OTHER = "other"
PALETTE = 6  # series colours s0..s5; "other" is grey
STYLE = """
svg.statscache-chart { color: #222; font: 11px system-ui, sans-serif; }
.axis, .grid { stroke: currentColor; }
.grid { stroke-opacity: 0.15; }
text { fill: currentColor; }
polyline.series { fill: none; stroke-width: 1.5; stroke-linejoin: round; }
.swatch { stroke: none; }
.s0 { stroke: #1f77b4; fill: #1f77b4; } .s1 { stroke: #d62728; fill: #d62728; }
.s2 { stroke: #2ca02c; fill: #2ca02c; } .s3 { stroke: #9467bd; fill: #9467bd; }
.s4 { stroke: #ff7f0e; fill: #ff7f0e; } .s5 { stroke: #17becf; fill: #17becf; }
.other { stroke: #888; fill: #888; }
.event { fill: #1f77b4; }
@media (prefers-color-scheme: dark) {
  svg.statscache-chart { color: #ddd; }
  .s0 { stroke: #6cb4f0; fill: #6cb4f0; } .s1 { stroke: #ff7b7b; fill: #ff7b7b; }
  .s2 { stroke: #7fd67f; fill: #7fd67f; } .s3 { stroke: #c5a3f0; fill: #c5a3f0; }
  .s4 { stroke: #ffb366; fill: #ffb366; } .s5 { stroke: #5fe0ec; fill: #5fe0ec; }
  .other { stroke: #aaa; fill: #aaa; }
  .event { fill: #6cb4f0; }
}
"""
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# tick steps in seconds below a month; months and years step by the calendar
STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)
MONTHS = (1, 2, 3, 6, 12, 24, 60, 120, 240, 600)
MONTH = 2629746.0  # an average Gregorian month in seconds, to compare calendar steps with fixed ones
YEAR = 12 * MONTH
WEEK_OFFSET = 4 * 86400  # 1970-01-05 was a Monday: weekly ticks fall on Mondays


@dataclass(frozen=True)
class Options:
    """What a client asked of the picture: size, compactness, how many keys get a line."""

    width: int = 800
    height: int = 300
    sparkline: bool = False
    top: int = 5
    start: float | None = None  # the time axis spans the window asked for, else the rows' times
    stop: float | None = None


@dataclass
class Series:
    """One line: a value per bucket that has data."""

    key: str
    css: str
    values: dict[float, float] = field(default_factory=dict)
    distinct: bool = False  # distinct members per bucket do not add up over buckets

    @property
    def total(self) -> float:
        return sum(self.values.values())

    @property
    def label(self) -> str:
        """What the legend says: the key and its total, or for distinct counts their peak."""
        if self.distinct:
            return f"{self.key}, peak {_number(max(self.values.values()))}"
        return f"{self.key} {_number(self.total)}"


@dataclass(frozen=True)
class Frame:
    """The plot area inside the picture and the data ranges it maps."""

    left: float
    top: float
    right: float
    bottom: float
    first: float
    last: float
    high: float

    def x(self, epoch: float) -> float:
        span = self.last - self.first
        return self.left + (epoch - self.first) / span * (self.right - self.left) if span else self.left

    def y(self, value: float) -> float:
        return self.bottom - value / self.high * (self.bottom - self.top) if self.high else self.bottom

    def polyline(self, points: Iterable[tuple[float, float]]) -> str:
        """``x,y x,y ...`` of ``(time, value)`` points (the hot loop of a big chart: arithmetic inlined)."""
        span = self.last - self.first
        across = (self.right - self.left) / span if span else 0.0
        up = (self.bottom - self.top) / self.high if self.high else 0.0
        left, first, bottom = self.left, self.first, self.bottom
        return " ".join([f"{left + (t - first) * across:.1f},{bottom - v * up:.1f}" for t, v in points])


def render(
    rows: Sequence[Row], model: ModelKind, step: int | None, options: Options, title: str = "", note: str = ""
) -> str:
    """The SVG text for ``rows`` of a statistic of ``model`` whose buckets are ``step`` seconds.

    ``title`` names the picture for screen readers; ``note`` is a caption (rows left out).
    """
    svg = _canvas(options)
    if title:
        ET.SubElement(svg, "title").text = _clean(title)
    if not rows:
        _empty(svg, options)
    elif isinstance(model, Latest):
        _timeline(svg, rows, options)
    else:
        _line_chart(svg, series(rows, model, options.top), step, options)
    if note and not options.sparkline:
        _text(svg, options.width - 4, options.height - 4, note, "note", anchor="end")
    return ET.tostring(svg, encoding="unicode", xml_declaration=False)


def series(rows: Iterable[Row], model: ModelKind, top: int) -> list[Series]:
    """The lines to draw: the ``top`` keys by total (ties by key) and ``other``; or one line."""
    value = model.columns[-1]
    key = model.key if isinstance(model, Counter) else None
    if key is None:
        line = Series(value, "s0", distinct=isinstance(model, Distinct))
        for row in rows:
            line.values[row["timestamp"]] = line.values.get(row["timestamp"], 0) + row[value]
        return [line]
    per_key: dict[str, dict[float, float]] = defaultdict(dict)
    for row in rows:
        per_key[row[key]][row["timestamp"]] = row[value]
    ranked = sorted(per_key, key=lambda name: (-sum(per_key[name].values()), name))
    lines = [Series(name, f"s{index % PALETTE}", per_key[name]) for index, name in enumerate(ranked[:top])]
    if len(ranked) > top:
        other = Series(OTHER, OTHER)
        for name in ranked[top:]:
            for bucket, count in per_key[name].items():
                other.values[bucket] = other.values.get(bucket, 0) + count
        lines.append(other)
    return lines


def _canvas(options: Options) -> ET.Element:
    classes = "statscache-chart sparkline" if options.sparkline else "statscache-chart"
    svg = ET.Element(
        "svg",
        xmlns=SVG_NS,
        width=str(options.width),
        height=str(options.height),
        viewBox=f"0 0 {options.width} {options.height}",
        role="img",
    )
    svg.set("class", classes)
    ET.SubElement(svg, "style").text = STYLE
    return svg


def _empty(svg: ET.Element, options: Options) -> None:
    _text(svg, options.width / 2, options.height / 2, "no data in this window", "empty", anchor="middle")


def _line_chart(svg: ET.Element, lines: list[Series], step: int | None, options: Options) -> None:
    first, last = _span(options, [bucket for line in lines for bucket in line.values], step or 3600)
    y_ticks = _value_ticks(max(max(line.values.values()) for line in lines), max(2, options.height // 50))
    frame = _frame(options, first, last, y_ticks[-1], legend=not options.sparkline)
    if not options.sparkline:
        _axes(svg, frame, options, y_ticks)
    for line in lines:
        drawn = ET.SubElement(svg, "polyline", points=frame.polyline(_with_zeros(line.values, step)))
        drawn.set("class", f"series {line.css}")
        drawn.set("data-key", _clean(line.key))
        drawn.set("data-points", str(len(line.values)))
        drawn.set("data-total", _number(line.total))
        ET.SubElement(drawn, "title").text = _clean(line.label)
    if not options.sparkline:
        _legend(svg, lines, frame, options)


def _span(options: Options, times: list[float], pad: float) -> tuple[float, float]:
    """The time axis: the window asked for (widened to the rows), else the rows' times; never empty."""
    first = min(times) if options.start is None else min(options.start, *times)
    last = max(times) if options.stop is None else max(options.stop, *times)
    return (first - pad, last + pad) if first == last else (first, last)


def _frame(options: Options, first: float, last: float, high: float, legend: bool) -> Frame:
    if options.sparkline:
        return Frame(2, 2, options.width - 2, options.height - 2, first, last, high)
    legend_width = min(200, options.width * 0.3) if legend else 0
    return Frame(52, 10, options.width - 12 - legend_width, options.height - 36, first, last, high)


def _axes(svg: ET.Element, frame: Frame, options: Options, y_ticks: list[float]) -> None:
    axes = ET.SubElement(svg, "g")
    axes.set("class", "axes")
    _line(axes, frame.left, frame.top, frame.left, frame.bottom, "axis y-axis")
    for value in y_ticks:
        y = frame.y(value)
        _line(axes, frame.left, y, frame.right, y, "grid")
        label = _text(axes, frame.left - 4, y + 4, _number(value), "tick", anchor="end")
        label.set("data-value", _number(value))
    _time_axis(axes, frame)


def _time_axis(axes: ET.Element, frame: Frame) -> None:
    """The x axis: round UTC times, one label per ~110 pixels, and its title."""
    _line(axes, frame.left, frame.bottom, frame.right, frame.bottom, "axis x-axis")
    for epoch, text in time_ticks(frame.first, frame.last, max(2, int((frame.right - frame.left) // 110))):
        x = frame.x(epoch)
        _line(axes, x, frame.bottom, x, frame.bottom + 4, "axis")
        label = _text(axes, x, frame.bottom + 16, text, "tick", anchor="middle")
        label.set("data-time", _number(epoch))
    _text(axes, frame.right, frame.bottom + 30, "time (UTC)", "axis-title", anchor="end")


def _legend(svg: ET.Element, lines: list[Series], frame: Frame, options: Options) -> None:
    legend = ET.SubElement(svg, "g")
    legend.set("class", "legend")
    left = frame.right + 12
    room = max(4, int((options.width - left - 24) // 6.5))
    spacing = min(16.0, (options.height - frame.top - 8) / len(lines))  # many keys: closer, still inside
    for index, line in enumerate(lines):
        y = frame.top + 8 + index * spacing
        swatch = ET.SubElement(legend, "rect", x=f"{left:.1f}", y=f"{y - 8:.1f}", width="10", height="10")
        swatch.set("class", f"swatch {line.css}")
        text = line.label
        shown = text if len(text) <= room else "…" + text[1 - room :]  # keys differ at the end (topics)
        label = _text(legend, left + 14, y + 1, shown, "legend-label")
        label.set("data-key", _clean(line.key))
        label.set("data-total", _number(line.total))
        ET.SubElement(label, "title").text = _clean(text)


def _timeline(svg: ET.Element, rows: Sequence[Row], options: Options) -> None:
    """One lane per category, a dot per event at its time (Latest rows are events, not a series)."""
    times = [float(row["timestamp"]) for row in rows]
    first, last = _span(options, times, 3600)
    lanes = sorted({str(row["category"]) for row in rows})
    frame = _frame(options, first, last, len(lanes), legend=False)
    if not options.sparkline:
        axes = ET.SubElement(svg, "g")
        axes.set("class", "axes")
        _time_axis(axes, frame)
    lane_height = (frame.bottom - frame.top) / len(lanes)
    where = {name: frame.top + (index + 0.5) * lane_height for index, name in enumerate(lanes)}
    group = ET.SubElement(svg, "g")
    group.set("class", "timeline")
    if not options.sparkline and lane_height >= 10:
        for name, y in where.items():
            _line(group, frame.left, y, frame.right, y, "grid")
            _text(group, frame.left + 2, y - 3, name, "lane-label")
    radius = max(1.5, min(4.0, lane_height / 3))
    for row, epoch in zip(rows, times, strict=True):
        dot = ET.SubElement(
            group, "circle", cx=f"{frame.x(epoch):.1f}", cy=f"{where[str(row['category'])]:.1f}", r=f"{radius:.1f}"
        )
        dot.set("class", "event")
        dot.set("data-key", _clean(str(row["category"])))
        dot.set("data-time", repr(epoch))
        when = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        ET.SubElement(dot, "title").text = _clean(f"{row['category']} ({row['category_constraint']}): {when}")


def _with_zeros(values: dict[float, float], step: int | None) -> list[tuple[float, float]]:
    """The points in time order, dropping to zero in the buckets without data between them."""
    ordered = sorted(values.items())
    if step is None:
        return ordered
    points: list[tuple[float, float]] = []
    for index, (bucket, value) in enumerate(ordered):
        if index and bucket - ordered[index - 1][0] > step:
            previous = ordered[index - 1][0]
            points.append((previous + step, 0))
            if bucket - step > previous + step:
                points.append((bucket - step, 0))
        points.append((bucket, value))
    return points


def time_ticks(first: float, last: float, most: int) -> list[tuple[float, str]]:
    """Round UTC times in ``[first, last]``, labelled in UTC at the step's precision.

    The step is the finest that gives at most ``most`` ticks, unless that leaves fewer
    than two: then the next finer one (never more than a few times ``most``).
    """
    span = max(last - first, 1)
    steps: list[tuple[float, Callable[[], list[float]]]] = [
        (float(step), partial(_fixed_ticks, first, last, step)) for step in STEPS
    ]
    steps += [(months * MONTH, partial(_month_ticks, first, last, months)) for months in MONTHS]
    previous: tuple[float, list[float]] | None = None
    for step, ticks_of in steps:
        if span / step > 10 * most:
            continue  # far too many to list
        ticks = ticks_of()
        if len(ticks) <= most:
            if len(ticks) < 2 and previous is not None:
                step, ticks = previous
            return [(tick, _time_label(tick, step, span)) for tick in ticks]
        previous = (step, ticks)
    return []


def _fixed_ticks(first: float, last: float, step: int) -> list[float]:
    """Multiples of ``step`` seconds since the epoch (weeks: Mondays) in ``[first, last]``."""
    offset = WEEK_OFFSET if step == 604800 else 0
    begin = math.ceil((first - offset) / step) * step + offset
    return [float(begin + n * step) for n in range(int((last - begin) // step) + 1)]


def _month_ticks(first: float, last: float, months: int) -> list[float]:
    start = datetime.fromtimestamp(first, UTC)
    index = start.year * 12 + start.month - 1
    index = -(-index // months) * months  # the first multiple of the step at or after the start's month
    ticks: list[float] = []
    while True:
        moment = datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC).timestamp()
        if moment > last:
            return ticks
        if moment >= first:
            ticks.append(moment)
        index += months


def _time_label(epoch: float, step: float, span: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    if step >= YEAR:
        return moment.strftime("%Y")
    if step >= MONTH:
        return moment.strftime("%Y-%m")
    if step >= 86400:
        return moment.strftime("%Y-%m-%d")
    if step >= 60:
        return moment.strftime("%m-%d %H:%M" if span > 86400 else "%H:%M")
    return moment.strftime("%H:%M:%S")


def _value_ticks(high: float, most: int) -> list[float]:
    """Round-number ticks from zero to at least ``high``: steps of 1, 2 or 5 times a power of ten."""
    if high <= 0:
        return [0.0, 1.0]
    raw = high / most
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(step, 1.0)  # counts are whole numbers
    return [n * step for n in range(math.ceil(high / step) + 1)]


def _line(parent: ET.Element, x1: float, y1: float, x2: float, y2: float, css: str) -> None:
    line = ET.SubElement(parent, "line", x1=f"{x1:.1f}", y1=f"{y1:.1f}", x2=f"{x2:.1f}", y2=f"{y2:.1f}")
    line.set("class", css)


def _text(parent: ET.Element, x: float, y: float, content: str, css: str, anchor: str = "start") -> ET.Element:
    text = ET.SubElement(parent, "text", x=f"{x:.1f}", y=f"{y:.1f}")
    text.set("class", css)
    if anchor != "start":
        text.set("text-anchor", anchor)
    text.text = _clean(content)
    return text


def _clean(text: str) -> str:
    """Text XML can hold: characters it cannot (NUL, most control characters) become U+FFFD."""
    return NOT_XML.sub("\ufffd", text)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
