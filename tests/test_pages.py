"""The pages, in a real headless Chromium against the app on a real loopback HTTP server.

Debian's ``chromium`` (``make browser`` installs it) is driven by Playwright; nothing is
downloaded. The database is the corpus replayed through the pipeline, and what the pages
must show is recomputed from the corpus lines by ``recompute.py``, not taken from the code.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import pytest
from flask import Flask
from playwright import sync_api as playwright
from werkzeug.serving import make_server

import recompute as expect
from helpers import replay_files, replay_messages
from statscache.message import from_dict
from statscache.web import create_app


CORPUS = Path(__file__).parent / "corpus"
FILES = [CORPUS / "fedmsg.jsonl", CORPUS / "fedora_messaging.jsonl"]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).parent.parent / "test-artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
WIDE = {"width": 1440, "height": 900}
WEEK = 604800
START, STOP = "2015-01-05", "2018-12-30T23:59:59"  # a Monday, and the end of a Sunday: whole weeks
START_EPOCH, STOP_EPOCH = 1420416000, 1546214399
WEEKLY = f"start={START}&stop={STOP}&resolution=1w"
SVG = "{http://www.w3.org/2000/svg}"


# --- a server and a browser ---------------------------------------------------------------------------


class Server:
    """The app on 127.0.0.1, on a free port, in a thread: real HTTP, as a browser sees it."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.http = make_server("127.0.0.1", 0, app, threaded=True)
        self.base = f"http://127.0.0.1:{self.http.server_port}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.app.extensions["statscache"].store.close()


def corpus_db(directory: Path) -> str:
    url = f"sqlite:///{directory / 'pages.db'}"
    store, _ = replay_files(url, FILES)
    store.close()
    return url


def serve(url: str) -> Server:
    return Server(create_app(url, STREAM_POLL_INTERVAL=0.2, STREAM_HEARTBEAT=2))


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return corpus_db(tmp_path_factory.mktemp("pages"))


@pytest.fixture(scope="module")
def server(db: str) -> Iterator[Server]:
    running = serve(db)
    yield running
    running.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium) first", pytrace=False)
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return expect.unique_records(FILES)


@dataclass
class Watched:
    """A page and everything that went wrong on it, or left the machine."""

    page: Any
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def check(self) -> None:
        assert not self.outside, f"requests outside 127.0.0.1: {self.outside}"
        assert not self.errors, f"console errors: {self.errors}"
        assert not self.failed, f"failed requests: {self.failed}"


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    contexts: list[Any] = []

    def opener(viewport: dict[str, int] = WIDE, scheme: str = "light") -> Watched:
        context = browser.new_context(viewport=viewport, color_scheme=scheme, device_scale_factor=1)
        contexts.append(context)
        # Anything not on loopback is refused before it leaves, and recorded as a failure.
        context.route(lambda url: urlsplit(url).hostname != "127.0.0.1", lambda route: route.abort())
        page = context.new_page()
        watched = Watched(page)
        page.on("request", lambda r: _outside(watched, r.url))
        page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: watched.errors.append(str(e)))
        page.on("requestfailed", lambda r: _failed(watched, r.url, r.failure))
        page.on("response", lambda r: watched.failed.append(f"{r.url}: {r.status}") if r.status >= 400 else None)
        return watched

    yield opener
    for context in contexts:
        context.close()


def _failed(watched: Watched, url: str, failure: str | None) -> None:
    # A page that leaves closes its event stream: that cancellation is no failure.
    if not (urlsplit(url).path.endswith("/stream") and failure == "net::ERR_ABORTED"):
        watched.failed.append(f"{url}: {failure}")


def _outside(watched: Watched, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname != "127.0.0.1":
        watched.outside.append(url)


def visit(watched: Watched, url: str) -> Any:
    """Load a page and wait until its images (lazy ones too) and scripts have settled."""
    page = watched.page
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, url
    for top in range(0, page.evaluate("document.body.scrollHeight"), page.viewport_size["height"] // 2):
        page.evaluate(f"window.scrollTo(0, {top})")  # lazy images load as they come into view
        page.wait_for_timeout(20)
    page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=15_000)
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(300)  # the enhanced chart draws after its fetch
    broken = page.evaluate("Array.from(document.images).filter(i => !i.naturalWidth).map(i => i.src)")
    assert not broken, f"images that did not load: {broken}"
    return response


def shoot(watched: Watched, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    watched.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    watched.page.screenshot(path=str(SHOTS / f"{name}-first-screen.png"))  # what one sees on arrival


def chart_svg(watched: Watched) -> ET.Element:
    """The SVG the page's chart shows, fetched from the page's own image URL."""
    text = watched.page.evaluate("async () => (await fetch(document.querySelector('#chart-svg').src)).text()")
    return ET.fromstring(text)


def table(watched: Watched, column: str) -> list[tuple[float, int]]:
    cells = watched.page.eval_on_selector_all(
        "table.rows tbody tr[data-timestamp]",
        f"rows => rows.map(r => [Number(r.dataset.timestamp), Number(r.querySelector('[data-column={column}]')"
        ".textContent)])",
    )
    return [(float(stamp), int(value)) for stamp, value in cells]


# --- what the corpus says ------------------------------------------------------------------------------


def weekly(records: list[dict[str, Any]], key: bool = False) -> Counter[Any]:
    """Messages per Monday-aligned week of the window, per category when ``key``."""
    counts: Counter[Any] = Counter()
    for record in records:
        _, topic, epoch, _, _ = expect.valid(record)  # type: ignore[misc]
        if START_EPOCH <= epoch < STOP_EPOCH + 1:
            week = expect.start(epoch, WEEK, expect.WEEK_START)
            counts[(week, expect.category(topic)) if key else week] += 1
    return counts


def newest(records: list[dict[str, Any]], wanted: Any) -> tuple[float, set[str], dict[str, Any]]:
    """The newest time among the messages ``wanted(topic, body)`` accepts, the raw statuses
    (``wanted``'s answer) of the messages at that time, and one of their bodies.

    Several corpus messages share a time; which one wins the tie is the store's id order,
    so a test accepts any status of the tie and checks the time exactly.
    """
    found = []
    for record in records:
        _, topic, epoch, body, _ = expect.valid(record)  # type: ignore[misc]
        status = wanted(topic, body)
        if status is not None:
            found.append((epoch, status, body))
    top = max(epoch for epoch, _, _ in found)
    tied = [(status, body) for epoch, status, body in found if epoch == top]
    return top, {status for status, _ in tied}, tied[0][1]


def pungi_status(topic: str, body: dict[str, Any]) -> str | None:
    """The status of a pungi compose of the Fedora-24 stream."""
    if topic.endswith(".pungi.compose.status.change") and str(body.get("compose_id")).startswith("Fedora-24-"):
        return str(body["status"]).lower()
    return None


def rawhide_status(topic: str, body: dict[str, Any]) -> str | None:
    """The phase of a whole rawhide compose (not a step), primary: no arch, no other product."""
    parts = topic.split(".")
    primary = not body.get("arch") and str(body.get("compose_id", "Fedora-Rawhide-")).startswith("Fedora-Rawhide-")
    if parts[3:5] == ["compose", "rawhide"] and len(parts) == 6 and primary:
        return parts[5]
    return None


def utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


# --- every page -----------------------------------------------------------------------------------------

PAGES = {
    "home": "/",
    "statistic-volume": f"/statistics/volume-1d?{WEEKLY}",
    "statistic-category": "/statistics/volume-by-category-1d?range=all",
    "statistic-releng": "/statistics/release-engineering-event-logs",
    "dashboard": "/dashboards/release-engineering",
    "reference": "/reference",
}


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["phone", "wide"])
def test_every_page_loads_cleanly_and_stays_on_loopback(
    open_page: Any, server: Server, name: str, scheme: str, size: str
) -> None:
    watched = open_page(PHONE if size == "phone" else WIDE, scheme)
    visit(watched, server.base + PAGES[name])
    page = watched.page
    assert page.title().endswith("statscache")
    assert page.evaluate("document.querySelector('meta[name=viewport]') !== null")
    # Nothing sticks out sideways on a phone: wide tables scroll inside their own box.
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    dark = sum(int(part) for part in background[background.index("(") + 1 : -1].split(",")[:3]) < 3 * 128
    assert dark == (scheme == "dark"), background
    shoot(watched, f"{name}-{size}-{scheme}")
    watched.check()


def test_home_lists_every_statistic_with_a_sparkline_and_its_update(open_page: Any, server: Server, db: str) -> None:
    watched = open_page()
    visit(watched, server.base + "/")
    page = watched.page
    idents = page.eval_on_selector_all(".card", "cards => cards.map(c => c.dataset.ident)")
    assert idents == sorted(server.app.extensions["statscache"].plugins)
    sparks = page.eval_on_selector_all(".card .spark img", "imgs => imgs.map(i => i.getAttribute('src'))")
    assert len(sparks) == len(idents) and all("format=svg" in src and "sparkline=1" in src for src in sparks)
    updated = page.eval_on_selector_all(".card time.updated", "ts => ts.map(t => t.textContent)")
    assert all(text.endswith("UTC") for text in updated), updated
    watched.check()


def test_statistic_page_shows_the_recomputed_weeks_in_chart_and_table(
    open_page: Any, server: Server, records: list[dict[str, Any]]
) -> None:
    want = weekly(records)
    assert 10 < len(want) < 100  # one page of the table holds them all
    watched = open_page()
    visit(watched, server.base + f"/statistics/volume-1d?{WEEKLY}")
    page = watched.page
    assert table(watched, "volume") == sorted(want.items(), reverse=True)  # newest first
    svg = chart_svg(watched)
    lines = svg.findall(f".//{SVG}polyline")
    series = [line for line in lines if "series" in line.get("class", "").split()]
    assert [(line.get("data-key"), line.get("data-points"), line.get("data-total")) for line in series] == [
        ("volume", str(len(want)), str(sum(want.values())))
    ]
    # The interactive chart (vendored uPlot) draws the same buckets.
    host = page.wait_for_selector(".uplot-host[data-points]", timeout=5_000)
    assert host.get_attribute("data-points") == str(len(want))
    links = dict(page.eval_on_selector_all(".links a", "as => as.map(a => [a.textContent, a.href])"))
    rows = json.loads(page.evaluate(f"async () => (await fetch({json.dumps(links['JSON'])})).text()"))
    assert [(row["timestamp"], row["volume"]) for row in rows] == sorted(want.items(), reverse=True)
    csv = page.evaluate(f"async () => (await fetch({json.dumps(links['CSV'])})).text()")
    assert csv.splitlines()[0] == "timestamp,volume" and len(csv.splitlines()) == len(want) + 1
    watched.check()


@pytest.mark.parametrize("ident", ["volume-1d", "volume-by-category-1d"])
def test_the_window_form_asks_for_the_window_typed(
    open_page: Any, server: Server, records: list[dict[str, Any]], ident: str
) -> None:
    watched = open_page(PHONE)
    visit(watched, server.base + f"/statistics/{ident}?range=all")
    page = watched.page
    page.fill("input[name=start]", "")  # left empty: from the first row
    page.fill("input[name=stop]", STOP)
    page.select_option("select[name=resolution]", str(WEEK))
    with page.expect_navigation():
        page.click("form.window button[type=submit]")
    rows = page.eval_on_selector_all(
        "table.rows tbody tr[data-timestamp]", "rows => rows.map(r => r.dataset.timestamp)"
    )
    weeks = set()
    for record in records:
        epoch = expect.valid(record)[2]  # type: ignore[index]
        if epoch < STOP_EPOCH + 1:
            weeks.add(expect.start(epoch, WEEK, expect.WEEK_START))
    total = page.locator("#live .status").inner_text()
    if ident == "volume-1d":
        assert [int(float(stamp)) for stamp in rows] == sorted(weeks, reverse=True)[:100]
        assert f" {len(weeks)} rows." in total
    else:
        assert {int(float(stamp)) for stamp in rows} <= weeks
    watched.check()


@pytest.mark.parametrize("path", ["/", f"/statistics/volume-1d?{WEEKLY}", "/dashboards/release-engineering"])
def test_pages_read_without_javascript(browser: Any, server: Server, records: list[dict[str, Any]], path: str) -> None:
    context = browser.new_context(java_script_enabled=False, viewport=PHONE)
    try:
        watched = Watched(context.new_page())
        watched.page.on("requestfailed", lambda r: _failed(watched, r.url, r.failure))
        visit(watched, server.base + path)
        page = watched.page
        assert page.locator(".uplot-host").count() == 0  # the server's SVG is all there is
        if "statistics" in path:
            assert page.locator("#chart-svg").is_visible()
            assert table(watched, "volume") == sorted(weekly(records).items(), reverse=True)
        if "dashboards" in path:
            assert page.locator(".entry").count() > 0
        watched.check()
    finally:
        context.close()


def test_keyed_chart_has_the_recomputed_top_keys_and_other(
    open_page: Any, server: Server, records: list[dict[str, Any]]
) -> None:
    counts = weekly(records, key=True)
    totals: Counter[str] = Counter()
    weeks: Counter[str] = Counter()
    for (_, category), n in counts.items():
        totals[category] += n
        weeks[category] += 1
    ranked = sorted(totals, key=lambda name: (-totals[name], name))
    watched = open_page()
    visit(watched, server.base + f"/statistics/volume-by-category-1d?{WEEKLY}")
    lines = [line for line in chart_svg(watched).iter(f"{SVG}polyline") if "series" in line.get("class", "").split()]
    got = {line.get("data-key"): (int(line.get("data-total", -1)), int(line.get("data-points", -1))) for line in lines}
    want = {name: (totals[name], weeks[name]) for name in ranked[:5]}
    assert {name: got[name] for name in want} == want
    other = {week for (week, category) in counts if category in ranked[5:]}
    assert got["other"] == (sum(totals[name] for name in ranked[5:]), len(other))
    watched.check()


def test_dashboard_shows_the_newest_compose_status(
    open_page: Any, server: Server, records: list[dict[str, Any]]
) -> None:
    watched = open_page()
    visit(watched, server.base + "/dashboards/release-engineering")
    page = watched.page
    for component, title, wanted in (
        ("pungi-composes", "Fedora-24", pungi_status),
        ("compose-rawhide_primary", "Whole compose", rawhide_status),
    ):
        epoch, statuses, _ = newest(records, wanted)
        entry = page.locator(f"[data-component='{component}'] .entry").filter(has=page.locator(".what", has_text=title))
        assert entry.count() == 1, (component, title)
        assert entry.locator(".status").get_attribute("data-raw") in statuses
        assert entry.locator(".when").inner_text() == utc(epoch)
        assert entry.locator(".badge.stale").count() == 1  # 2015 and 2017: past every threshold
    watched.check()


def test_reference_lists_every_path_and_parameter(open_page: Any, server: Server) -> None:
    from statscache.web import openapi

    document = openapi.document(sorted(server.app.extensions["statscache"].plugins))
    watched = open_page()
    visit(watched, server.base + "/reference")
    page = watched.page
    shown = page.eval_on_selector_all(".operation h2 code", "cs => cs.map(c => c.textContent)")
    assert shown == list(document["paths"])
    rows = page.eval_on_selector_all(
        ".operation",
        "ops => ops.map(op => Array.from(op.querySelectorAll('table.parameters tbody tr td:first-child code'))"
        ".map(c => c.textContent))",
    )
    want = [
        [p["name"] for p in op.get("parameters", [])] for item in document["paths"].values() for op in item.values()
    ]
    assert rows == want
    watched.check()


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/statistics/no-such-thing", 404, "no-such-thing"),
        ("/statistics/volume-1d?range=fortnight", 400, "range must be one of"),
        ("/statistics/volume-1d?start=yesterday", 400, "start must be epoch seconds or ISO-8601"),
        ("/statistics/volume-1d?resolution=7s", 400, "resolution must be a multiple of 86400"),
        ("/no/such/page", 404, "was not found on the server"),
    ],
)
def test_errors_are_pages_with_the_message(open_page: Any, server: Server, path: str, status: int, text: str) -> None:
    watched = open_page(PHONE)
    response = watched.page.goto(server.base + path)
    assert response is not None and response.status == status
    assert response.headers["content-type"].startswith("text/html")
    assert text in watched.page.locator(".error .message").inner_text()
    assert "Traceback" not in watched.page.content()


# --- live ------------------------------------------------------------------------------------------------


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, Server]]:
    url = corpus_db(tmp_path)
    running = serve(url)
    yield url, running
    running.close()


def ingest(url: str, *messages: dict[str, Any]) -> None:
    """Count messages into the database through the pipeline's flush, as the daemon does."""
    store, stats = replay_messages(url, [from_dict(message) for message in messages])
    store.close()
    assert stats.accepted == len(messages)


def test_a_new_message_appears_on_an_open_statistic_page(
    open_page: Any, live: tuple[str, Server], records: list[dict[str, Any]]
) -> None:
    url, running = live
    want = weekly(records)
    busy = max(want)  # the newest week with data: its row grows by one
    quiet = next(week for week in range(START_EPOCH, STOP_EPOCH, WEEK) if week not in want)  # a new row
    watched = open_page()
    visit(watched, running.base + f"/statistics/volume-1d?{WEEKLY}")
    page = watched.page
    page.wait_for_function("document.querySelector('.live-state').textContent.includes('live')", timeout=10_000)
    ingest(
        url,
        {"topic": "org.fedoraproject.prod.pages.test.one", "timestamp": busy + 3600, "msg_id": "pages-1", "msg": {}},
        {"topic": "org.fedoraproject.prod.pages.test.two", "timestamp": quiet + 60, "msg_id": "pages-2", "msg": {}},
    )
    want[busy] += 1
    want[quiet] += 1
    page.wait_for_function(
        f"document.querySelectorAll('table.rows tbody tr[data-timestamp]').length === {len(want)}", timeout=10_000
    )
    assert table(watched, "volume") == sorted(want.items(), reverse=True)
    page.wait_for_function(f"document.querySelector('.uplot-host')?.dataset.points === '{len(want)}'", timeout=10_000)
    svg = ET.fromstring(page.evaluate("async () => (await fetch(document.querySelector('#chart-svg').src)).text()"))
    series = [line for line in svg.iter(f"{SVG}polyline") if "series" in line.get("class", "").split()]
    assert series[0].get("data-points") == str(len(want))
    watched.check()


def test_a_new_compose_status_appears_on_the_open_dashboard(
    open_page: Any, live: tuple[str, Server], records: list[dict[str, Any]]
) -> None:
    url, running = live
    _, _, body = newest(records, pungi_status)
    watched = open_page(PHONE)
    visit(watched, running.base + "/dashboards/release-engineering")
    page = watched.page
    page.wait_for_function("document.querySelector('.live-state').textContent.includes('live')", timeout=10_000)
    now = float(int(time.time()))
    compose = "Fedora-24-20991231.n.0"
    news = {**body, "compose_id": compose, "status": "FINISHED_INCOMPLETE"}
    ingest(url, {"topic": "org.fedoraproject.prod.pungi.compose.status.change", "timestamp": now, "msg": news})
    entry = page.locator(".entry", has_text=compose)
    entry.wait_for(timeout=10_000)
    assert entry.locator(".status").inner_text() == "finished (incomplete)"
    assert entry.locator(".when").inner_text() == utc(now)
    assert entry.locator(".badge.stale").count() == 0  # just now: fresh
    assert page.locator(".entry", has_text=str(body["compose_id"])).count() == 0  # replaced: same stream
    shoot(watched, "dashboard-live-phone-light")
    watched.check()


def test_a_page_on_a_preset_window_follows_new_data(open_page: Any, live: tuple[str, Server]) -> None:
    url, running = live
    watched = open_page()
    visit(watched, running.base + "/statistics/volume-1d")  # the default: the last 30 days of data
    page = watched.page
    page.wait_for_function("document.querySelector('.live-state').textContent.includes('live')", timeout=10_000)
    now = time.time()
    today = expect.start(now, 86400)
    ingest(url, {"topic": "org.fedoraproject.prod.pages.test.today", "timestamp": now, "msg_id": "pages-3", "msg": {}})
    page.wait_for_function(
        f"Array.from(document.querySelectorAll('table.rows tbody tr')).map(r => r.dataset.timestamp)"
        f".join() === '{today}'",
        timeout=10_000,
    )  # the window moved to end today: the corpus's years-old rows left it
    assert table(watched, "volume") == [(today, 1)]
    watched.check()
