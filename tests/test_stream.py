"""The event stream (``/api/<ident>/stream``) on a real HTTP server, fed by real flushes.

The app runs under werkzeug's threaded server on a loopback port; the stream is read with
httpx; new messages are counted into the same database through the Pipeline, as the
daemon counts them; each event's rows must equal what the JSON API answers for them.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from helpers import replay_files
from statscache.message import from_dict
from statscache.pipeline import Pipeline, Settings
from statscache.plugin import discover
from statscache.store import Store
from statscache.web import create_app

CORPUS = Path(__file__).parent / "corpus"
FILES = [CORPUS / "fedmsg.jsonl", CORPUS / "fedora_messaging.jsonl"]
WAIT = 5.0  # seconds an event may take: a 0.1 s poll and a flush


@dataclass
class Server:
    base: str
    url: str  # the database
    listeners: list[Listener] = field(default_factory=list)


@pytest.fixture
def server(db_url: str) -> Iterator[Server]:
    """The app on a loopback port over a database (SQLite, then PostgreSQL) holding the corpus."""
    url = db_url
    replay_files(url, FILES)[0].close()
    app = create_app(url, STREAM_POLL_INTERVAL=0.1, STREAM_LIFETIME=20, STREAM_HEARTBEAT=0.5)
    http: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=http.serve_forever, daemon=True)
    serving.start()
    running = Server(f"http://127.0.0.1:{http.server_port}", url)
    yield running
    http.shutdown()
    serving.join(10)
    for listener in running.listeners:
        listener.close()
    finish_streams()
    app.extensions["statscache"].store.close()


def finish_streams() -> None:
    """Wait for the server's request threads: a stream ends at its first write after the client left."""
    for thread in threading.enumerate():
        if "process_request_thread" in thread.name:
            thread.join(WAIT)
            assert not thread.is_alive(), "a stream outlived its client"


class Listener:
    """Reads one stream in a thread: its events (and comments) arrive on a queue."""

    def __init__(self, server: Server, path: str, **headers: str) -> None:
        self.items: queue.Queue[dict[str, str]] = queue.Queue()
        self.status: queue.Queue[int] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, args=(server.base + path, headers), daemon=True)
        self.thread.start()
        server.listeners.append(self)
        assert self.status.get(timeout=WAIT) == 200

    def close(self) -> None:
        """Hang up (at the next line: the heartbeat comes twice a second)."""
        self.stop.set()
        self.thread.join(WAIT)

    def _read(self, url: str, headers: dict[str, str]) -> None:
        with httpx.stream("GET", url, headers=headers, timeout=30) as response:
            self.status.put(response.status_code)
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache" and response.headers["x-accel-buffering"] == "no"
            event: dict[str, str] = {}
            for line in response.iter_lines():
                if self.stop.is_set():
                    return
                if line.startswith(":"):
                    self.items.put({"comment": line[1:].strip()})
                elif line:
                    name, _, value = line.partition(":")
                    event[name] = value.removeprefix(" ")
                elif event:
                    self.items.put(event)
                    event = {}
        self.items.put({"closed": ""})

    def next_event(self) -> dict[str, Any]:
        """The next ``rows`` event (skipping comments and ``retry``), its data parsed."""
        deadline = time.monotonic() + WAIT
        while True:
            item = self.items.get(timeout=max(0.01, deadline - time.monotonic()))
            assert "closed" not in item, "the stream ended early"
            if item.get("event") == "rows":
                data: dict[str, Any] = json.loads(item["data"])
                assert item["id"] == repr(data["updated"])
                return data

    def quiet_for(self, seconds: float) -> bool:
        """No rows event arrives for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = self.items.get(timeout=left)
            except queue.Empty:
                return True
            if item.get("event") == "rows":
                return False
        return True


def flush(url: str, *records: dict[str, Any]) -> None:
    """Count messages into the database as the daemon does: a pipeline over every plugin, one flush."""
    classes = discover()
    with Store(url) as store:
        store.prepare(classes)
        pipeline = Pipeline(store, [cls() for cls in classes], Settings(flush_interval=3600))
        for record in records:
            pipeline.add(from_dict(record))
        pipeline.flush()


def message(topic: str, when: float, **body: Any) -> dict[str, Any]:
    return {"msg_id": f"live-{topic}-{time.monotonic_ns()}", "topic": topic, "timestamp": when, "msg": body}


def api_rows(server: Server, query: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.base}/api/{query}&rows_per_page=1000", timeout=10)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def test_each_flush_pushes_the_rows_it_added_or_changed(server: Server) -> None:
    now = time.time()
    start = int(now - 3600)
    listener = Listener(server, f"/api/volume-by-category-1m/stream?start={start}")
    flush(server.url, message("org.fedoraproject.prod.bodhi.update.comment", now), message("org.x.y.koji.z", now))
    first = listener.next_event()
    assert first["ident"] == "volume-by-category-1m"
    window = f"volume-by-category-1m?start={start}&order=asc"
    assert first["rows"] == api_rows(server, window) and len(first["rows"]) == 2
    # an upsert into an existing row (its created time does not move) and a new row
    flush(server.url, message("org.fedoraproject.prod.bodhi.update.edit", now), message("org.x.y.git.z", now))
    second = listener.next_event()
    assert second["updated"] > first["updated"]
    assert second["rows"] == [row for row in api_rows(server, window) if row["category"] != "koji"]
    assert [row["volume"] for row in second["rows"] if row["category"] == "bodhi"] == [2]


def test_the_stream_takes_filters_and_roll_up_and_stays_quiet_when_nothing_of_it_changed(server: Server) -> None:
    now = time.time()
    query = "category=bodhi&resolution=1h&order=desc"
    listener = Listener(server, f"/api/volume-by-category-1m/stream?{query}")  # start: the default
    flush(server.url, message("org.x.y.git.z", now))  # another key: updated_at moves, no row of the stream does
    assert listener.quiet_for(1.0)
    flush(server.url, message("org.x.y.bodhi.z", now), message("org.x.y.bodhi.z", now), message("org.x.y.git.z", now))
    event = listener.next_event()
    hour = int(now // 3600 * 3600)
    assert event["rows"] == api_rows(server, f"volume-by-category-1m?{query}&start={hour}")
    assert [(row["timestamp"], row["category"], row["volume"]) for row in event["rows"]] == [(hour, "bodhi", 2)]


def test_distinct_and_latest_statistics_stream_too(server: Server) -> None:
    now = time.time()
    users = Listener(server, "/api/active-users-1d/stream")
    events = Listener(server, "/api/release-engineering-event-logs/stream")
    flush(
        server.url,
        {**message("org.fedoraproject.prod.fas.user.update", now, user="streamer"), "users": ["streamer"]},
        message("org.fedoraproject.prod.compose.branched.complete", now, log="done", branch="18"),
    )
    day = int(now // 86400 * 86400)
    assert users.next_event()["rows"] == api_rows(server, f"active-users-1d?start={day}&order=asc")
    latest = events.next_event()["rows"]
    assert latest and all(row["timestamp"] == now for row in latest)
    assert latest == api_rows(server, f"release-engineering-event-logs?start={now}&order=asc")


def test_a_reconnection_with_an_old_event_id_gets_the_window_again(server: Server) -> None:
    now = time.time()
    flush(server.url, message("org.x.y.bodhi.z", now))
    start = int(now - 3600)
    path = f"/api/volume-by-category-1m/stream?start={start}"
    stale = Listener(server, path, **{"Last-Event-ID": "12345.0"})
    assert stale.next_event()["rows"] == api_rows(server, f"volume-by-category-1m?start={start}&order=asc")
    fresh = Listener(server, path)
    assert fresh.quiet_for(0.6)


def test_the_stream_keeps_alive_and_ends_after_its_lifetime(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'life.db'}"
    flush(url, message("org.x.y.bodhi.z", time.time()))
    app = create_app(url, STREAM_POLL_INTERVAL=0.1, STREAM_LIFETIME=1.5, STREAM_HEARTBEAT=0.3)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        began = time.monotonic()
        with httpx.stream("GET", f"http://127.0.0.1:{http.server_port}/api/volume-1m/stream", timeout=10) as response:
            text = "".join(response.iter_text())
        lasted = time.monotonic() - began
        assert 1.2 < lasted < 4, lasted
        assert text.startswith("retry: 2000\n\n") and text.count(": keepalive\n\n") >= 2
    finally:
        http.shutdown()
        finish_streams()
        app.extensions["statscache"].store.close()


def test_a_database_failing_mid_stream_ends_it_quietly(sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    flush(sqlite_url, message("org.x.y.bodhi.z", time.time()))
    app = create_app(sqlite_url, STREAM_POLL_INTERVAL=0.1, STREAM_LIFETIME=20, STREAM_HEARTBEAT=0.3)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        stream = Listener(Server(f"http://127.0.0.1:{http.server_port}", sqlite_url), "/api/volume-1m/stream")
        while stream.items.get(timeout=WAIT) != {"comment": "keepalive"}:  # until it has polled the table
            pass
        with Store(sqlite_url) as store, store.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE statscache_plugins")  # every poll now fails
        deadline = time.monotonic() + WAIT
        while "closed" not in stream.items.get(timeout=max(0.01, deadline - time.monotonic())):
            pass
        assert "stream of volume-1m ended: the database failed" in caplog.text
    finally:
        http.shutdown()
        finish_streams()
        app.extensions["statscache"].store.close()


@pytest.mark.parametrize(
    ("path", "status", "parameter"),
    [
        ("/api/no-such-thing/stream", 404, "ident"),
        ("/api/volume-1m/stream?resolution=7s", 400, "resolution"),
        ("/api/volume-1m/stream?start=tomorrow", 400, "start"),
        ("/api/volume-1m/stream?order=sideways", 400, "order"),
        ("/api/volume-1m/stream?category=bodhi", 400, "category"),
        ("/api/volume-by-category-1m/stream?top=3", 400, "top"),
        ("/api/volume-by-category-1m/stream?stop=10", 400, "stop"),
        ("/api/volume-1m/stream?format=csv", 400, "format"),
    ],
)
def test_bad_requests_are_json_errors_before_the_stream_starts(
    sqlite_url: str, path: str, status: int, parameter: str
) -> None:
    app = create_app(sqlite_url)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        response = httpx.get(f"http://127.0.0.1:{http.server_port}{path}", timeout=10)
    finally:
        http.shutdown()
        finish_streams()
        app.extensions["statscache"].store.close()
    assert response.status_code == status and response.headers["content-type"] == "application/json"
    assert response.json()["parameter"] == parameter and response.json()["error"]
