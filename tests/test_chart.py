"""SVG charts (``/api/<ident>?format=svg``), read back with xml.etree and checked against recomputation.

The expected series come from ``recompute`` (the messages of the corpus, bucketed by the
test's own code); the chart's lines are decoded from the SVG: their number of data
buckets, totals, legend, and the values their vertices stand for on the y axis.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from flask import Flask
from flask.testing import FlaskClient

import recompute as expect
from helpers import replay_files, replay_messages
from statscache.message import from_dict
from statscache.web import create_app

CORPUS = Path(__file__).parent / "corpus"
FILES = [CORPUS / "fedmsg.jsonl", CORPUS / "fedora_messaging.jsonl"]
NS = {"svg": "http://www.w3.org/2000/svg"}
H, D = 3600, 86400
Buckets = dict[int, int]  # bucket start -> count


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return expect.unique_records(FILES)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    url = f"sqlite:///{tmp_path_factory.mktemp('chart') / 'chart.db'}"
    store, _ = replay_files(url, FILES)
    store.close()
    app = create_app(url)
    yield app
    app.extensions["statscache"].store.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# --- reading a chart back ------------------------------------------------------------------------------------


def svg(client: FlaskClient, url: str, **headers: str) -> ET.Element:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.data
    assert response.mimetype == "image/svg+xml"
    return ET.fromstring(response.data)  # it parses: well-formed XML


def lines(root: ET.Element) -> list[ET.Element]:
    return root.findall(".//svg:polyline[@class]", NS)


def legend(root: ET.Element) -> list[tuple[str, int]]:
    labels = root.findall(".//svg:g[@class='legend']/svg:text", NS)
    return [(label.get("data-key", ""), int(label.get("data-total", "-1"))) for label in labels]


def y_scale(root: ET.Element) -> Callable[[float], int]:
    """Pixel height to value, from the y axis's own tick labels (drawn 4 px below their value)."""
    labels = [t for t in root.iter(f"{{{NS['svg']}}}text") if t.get("data-value")]
    ticks = [(float(t.get("data-value", "")), float(t.get("y", "")) - 4) for t in labels]
    (v0, y0), (v1, y1) = min(ticks), max(ticks)
    return lambda y: round(v0 + (y0 - y) / (y0 - y1) * (v1 - v0))


def drawn_values(root: ET.Element, line: ET.Element) -> list[int]:
    """The values of a line's vertices in time order, without the zeros drawn for empty buckets."""
    value = y_scale(root)
    vertices = [tuple(map(float, point.split(","))) for point in line.get("points", "").split()]
    xs = [x for x, _ in vertices]
    assert xs == sorted(xs), "a line runs forward in time"
    return [v for v in (value(y) for _, y in vertices) if v != 0]


def text_of(root: ET.Element, css: str) -> list[str]:
    return [t.text or "" for t in root.iter(f"{{{NS['svg']}}}text") if t.get("class") == css]


# --- independent expectations --------------------------------------------------------------------------------


def by_key(records: list[dict[str, Any]], size: int, key: Callable[[str], str]) -> dict[str, Buckets]:
    found: dict[str, Buckets] = defaultdict(dict)
    for row in expect.keyed(records, size, "k", lambda r, t, b: [key(t)]):
        found[row["k"]][row["timestamp"]] = row["volume"]
    return found


def in_window(buckets: Buckets, start: float, stop: float) -> Buckets:
    return {b: n for b, n in buckets.items() if start <= b <= stop}


def top_and_other(per_key: dict[str, Buckets], top: int) -> list[tuple[str, Buckets]]:
    ranked = sorted(per_key, key=lambda k: (-sum(per_key[k].values()), k))
    other: Counter[int] = Counter()
    for name in ranked[top:]:
        other.update(per_key[name])
    return [(name, per_key[name]) for name in ranked[:top]] + ([("other", dict(other))] if ranked[top:] else [])


def assert_draws(root: ET.Element, want: list[tuple[str, Buckets]]) -> None:
    """Each expected series is a line with as many data points as buckets, the right total and values."""
    drawn = lines(root)
    assert [line.get("data-key") for line in drawn] == [name for name, _ in want]
    assert legend(root) == [(name, sum(buckets.values())) for name, buckets in want]
    for line, (name, buckets) in zip(drawn, want, strict=True):
        assert "series" in line.get("class", "").split()
        assert int(line.get("data-points", "")) == len(buckets), name
        assert int(line.get("data-total", "")) == sum(buckets.values()), name
        assert drawn_values(root, line) == [n for _, n in sorted(buckets.items())], name


# --- tests ---------------------------------------------------------------------------------------------------


def test_an_unkeyed_counter_is_one_line_of_every_bucket(client: FlaskClient, records: list[dict[str, Any]]) -> None:
    want = {row["timestamp"]: row["volume"] for row in expect.volume(records, D)}
    assert_draws(svg(client, "/api/volume-1d?format=svg"), [("volume", want)])


def test_a_keyed_counter_draws_its_top_keys_and_the_rest_as_other(
    client: FlaskClient, records: list[dict[str, Any]]
) -> None:
    per_key = by_key(records, D, expect.category)
    root = svg(client, "/api/volume-by-category-1d?format=svg")
    want = top_and_other(per_key, 5)
    assert_draws(root, want)
    total = sum(n for buckets in per_key.values() for n in buckets.values())
    assert dict(legend(root))["other"] == total - sum(sum(b.values()) for _, b in want[:5])
    assert_draws(svg(client, "/api/volume-by-topic-1d?format=svg&top=3"), top_and_other(by_key(records, D, str), 3))


def test_the_chart_takes_the_window_filters_and_roll_up(client: FlaskClient, records: list[dict[str, Any]]) -> None:
    per_key = by_key(records, D, expect.category)
    start, stop = 1400000000, 1560000000
    windowed = {k: in_window(b, start, stop) for k, b in per_key.items()}
    windowed = {k: b for k, b in windowed.items() if b}
    rolled = svg(client, f"/api/volume-by-category-1h?format=svg&resolution=1d&start={start}&stop={stop}")
    assert_draws(rolled, top_and_other(windowed, 5))
    chosen = svg(client, "/api/volume-by-category-1d?format=svg&category=bodhi&category=git&top=1")
    assert_draws(chosen, top_and_other({k: per_key[k] for k in ("bodhi", "git")}, 1))
    hourly = {row["timestamp"]: row["volume"] for row in expect.volume(records, H)}
    oldest = dict(sorted(hourly.items())[:10])
    assert_draws(svg(client, "/api/volume-1h?format=svg&order=asc&limit=10"), [("volume", oldest)])
    newest = dict(sorted(hourly.items())[-10:])
    assert_draws(svg(client, "/api/volume-1h?format=svg&limit=10"), [("volume", newest)])


def test_distinct_users_are_one_line(client: FlaskClient, records: list[dict[str, Any]]) -> None:
    want = expect.distinct(records, D, 0, lambda record: from_dict(record).usernames)
    root = svg(client, "/api/active-users-1d?format=svg")
    assert_draws(root, [("users", {row["timestamp"]: row["users"] for row in want})])
    peak = max(row["users"] for row in want)  # users of different days do not add up: the legend says the peak
    assert text_of(root, "legend-label") == [f"users, peak {peak}"]


def test_time_labels_are_utc_whatever_the_local_zone(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30: local labels would differ in every format
    time.tzset()
    try:
        queries = [
            "volume-1d",
            "volume-1h?start=1718000000&stop=1718900000",
            "volume-1m?start=1344340000&stop=1344365000",
            "volume-1s?start=1359947128&stop=1359947640",
        ]
        formats = ("%Y", "%Y-%m", "%Y-%m-%d", "%m-%d %H:%M", "%H:%M", "%H:%M:%S")
        for query in queries:
            root = svg(client, f"/api/{query}{'&' if '?' in query else '?'}format=svg")
            ticks = [t for t in root.iter(f"{{{NS['svg']}}}text") if t.get("data-time")]
            assert len(ticks) >= 2, query
            for tick in ticks:
                moment = datetime.fromtimestamp(float(tick.get("data-time", "")), UTC)
                assert tick.text in {moment.strftime(f) for f in formats}, (query, tick.text, moment)
            assert "time (UTC)" in text_of(root, "axis-title")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_y_ticks_are_round_numbers_from_zero(client: FlaskClient) -> None:
    root = svg(client, "/api/volume-by-category-1d?format=svg")
    values = [int(t.get("data-value", "")) for t in root.iter(f"{{{NS['svg']}}}text") if t.get("data-value")]
    step = values[1] - values[0]
    assert values[0] == 0 and values == list(range(0, values[-1] + 1, step))
    assert str(step)[0] in "125" and set(str(step)[1:]) <= {"0"}
    assert values[-1] >= max(max(drawn_values(root, line)) for line in lines(root))


def test_keys_from_messages_are_escaped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'escape.db'}"
    nasty = ["<script>&\"x'", "tab\tand\x01control", "plain"]
    messages = [
        from_dict(
            {"msg_id": f"m{i}-{n}", "topic": f"org.fedoraproject.prod.{key}.done", "timestamp": 1e9 + n, "msg": {}}
        )
        for i, key in enumerate(nasty)
        for n in range(i + 1)
    ]
    replay_messages(url, messages)
    app = create_app(url)
    try:
        root = svg(app.test_client(), "/api/volume-by-category-1d?format=svg")
        assert [key for key, _ in legend(root)] == ["plain", "tab\tand\ufffdcontrol", "<script>&\"x'"]
        assert [line.get("data-key") for line in lines(root)] == [key for key, _ in legend(root)]
        assert not root.findall(".//svg:script", NS) and not root.findall(".//script")
    finally:
        app.extensions["statscache"].store.close()


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("width=10", "width"),
        ("width=4001", "width"),
        ("width=wide", "width"),
        ("height=0", "height"),
        ("height=2001", "height"),
        ("sparkline=yes", "sparkline"),
        ("width=300&width=400", "width"),
        ("callback=cb", "callback"),
    ],
)
def test_bad_chart_parameters_are_400_json(client: FlaskClient, query: str, parameter: str) -> None:
    response = client.get(f"/api/volume-1d?format=svg&{query}")
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert response.get_json()["parameter"] == parameter and response.get_json()["error"]


def test_an_empty_window_says_so(client: FlaskClient) -> None:
    root = svg(client, "/api/volume-by-category-1d?format=svg&start=1000&stop=2000")
    assert not lines(root) and text_of(root, "empty") == ["no data in this window"]


def test_size_and_sparkline(client: FlaskClient) -> None:
    root = svg(client, "/api/volume-by-category-1d?format=svg&width=640&height=200")
    title = root.find("svg:title", NS)
    assert title is not None and title.text == "Message volume by category (1d)"
    assert (root.get("width"), root.get("height"), root.get("viewBox")) == ("640", "200", "0 0 640 200")
    spark = svg(client, "/api/volume-by-category-1d?format=svg&sparkline=1")
    assert (spark.get("width"), spark.get("height")) == ("160", "32")
    assert "sparkline" in spark.get("class", "").split()
    assert len(lines(spark)) == 6 and not legend(spark) and not text_of(spark, "tick")
    for line in lines(spark):
        for point in line.get("points", "").split():
            x, y = map(float, point.split(","))
            assert 0 <= x <= 160 and 0 <= y <= 32
    style = "".join(s.text or "" for s in spark.iter(f"{{{NS['svg']}}}style"))
    assert "prefers-color-scheme: dark" in style and "currentColor" in style


def test_release_engineering_events_are_a_timeline(client: FlaskClient) -> None:
    rows = client.get("/api/release-engineering-event-logs?rows_per_page=1000").get_json()
    root = svg(client, "/api/release-engineering-event-logs?format=svg")
    events = root.findall(".//svg:circle[@class='event']", NS)
    assert sorted((e.get("data-key"), float(e.get("data-time", ""))) for e in events) == sorted(
        (row["category"], row["timestamp"]) for row in rows
    )
    assert not lines(root) and len(text_of(root, "tick")) >= 2


def test_negotiation_and_caching_headers(client: FlaskClient) -> None:
    chart = client.get("/api/volume-1d", headers={"Accept": "image/svg+xml"})
    assert chart.mimetype == "image/svg+xml" and chart.headers["Access-Control-Allow-Origin"] == "*"
    assert chart.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert client.get("/api/volume-1d", headers={"Accept": "image/*"}).mimetype == "image/svg+xml"
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert client.get("/api/volume-1d", headers={"Accept": browser}).mimetype == "application/json"
    assert client.get("/api/", headers={"Accept": "image/svg+xml"}).status_code == 406  # only rows draw
    assert client.get("/api/?format=svg").status_code == 400
    etag = client.get("/api/volume-1d?format=svg").headers["ETag"]
    assert etag != client.get("/api/volume-1d").headers["ETag"]
    assert client.get("/api/volume-1d?format=svg", headers={"If-None-Match": etag}).status_code == 304
    assert chart.headers["Last-Modified"] == client.get("/api/volume-1d").headers["Last-Modified"]


def test_the_chart_draws_at_most_the_configured_rows(tmp_path: Path, app: Flask) -> None:
    capped = create_app(app.config["DB_URL"], MAX_CHART_ROWS=7)
    try:
        root = svg(capped.test_client(), "/api/volume-1h?format=svg")
        assert [line.get("data-points") for line in lines(root)] == ["7"]
        assert text_of(root, "note") == ["newest 7 rows"]
    finally:
        capped.extensions["statscache"].store.close()


def test_openapi_offers_svg_for_rows(client: FlaskClient) -> None:
    document = json.loads(client.get("/api/openapi.json").data)
    operation = document["paths"]["/api/{ident}"]["get"]
    assert "image/svg+xml" in operation["responses"]["200"]["content"]
    formats = {p["name"]: p for p in operation["parameters"]}["format"]["schema"]["enum"]
    assert formats == ["json", "csv", "svg"]
    assert {"width", "height", "sparkline"} <= {p["name"] for p in operation["parameters"]}


@pytest.mark.postgres
def test_postgres_draws_the_same_charts(postgres_url: str, client: FlaskClient) -> None:
    replay_files(postgres_url, FILES)[0].close()
    app = create_app(postgres_url)
    try:
        on_postgres = app.test_client()
        for query in (
            "volume-by-category-1d?format=svg",
            "volume-by-topic-1h?format=svg&resolution=1d&top=3&start=1400000000",
            "active-users-1w?format=svg&width=500&height=200",
            "release-engineering-event-logs?format=svg",
            "volume-1h?format=svg&sparkline=1&limit=50",
        ):
            assert on_postgres.get(f"/api/{query}").data == client.get(f"/api/{query}").data, query
    finally:
        app.extensions["statscache"].store.close()


def test_the_time_axis_spans_the_window_asked_for(client: FlaskClient, records: list[dict[str, Any]]) -> None:
    buckets = [row["timestamp"] for row in expect.volume(records, D)]
    start, stop = 1230768000, 1767225600  # 2009-01-01 and 2026-01-01, around the corpus's 2012 to 2024
    for query in (f"start={start}&stop={stop}", f"start={start}"):  # without stop: up to now
        root = svg(client, f"/api/volume-1d?format=svg&{query}")
        ticks = [float(t.get("data-time", "")) for t in root.iter(f"{{{NS['svg']}}}text") if t.get("data-time")]
        assert start <= min(ticks) < min(buckets) and max(buckets) < max(ticks) <= (
            stop if "stop" in query else time.time()
        )
    unbounded = svg(client, "/api/volume-1d?format=svg")
    ticks = [float(t.get("data-time", "")) for t in unbounded.iter(f"{{{NS['svg']}}}text") if t.get("data-time")]
    assert min(buckets) <= min(ticks) and max(ticks) <= max(buckets), "without a window: the rows' own times"
