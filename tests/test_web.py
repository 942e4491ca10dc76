"""The web API: every parameter and format, headers, errors, paging walks, OpenAPI conformance."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from email.utils import format_datetime
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

import recompute as expect
from helpers import replay_files, replay_messages
from statscache.message import from_dict
from statscache.models import Window
from statscache.plugin import discover
from statscache.web import create_app

CORPUS = Path(__file__).parent / "corpus"
PLUGINS = {cls.ident: cls for cls in discover()}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'web.db'}"
    store, _ = replay_files(url, [CORPUS / "fedmsg.jsonl", CORPUS / "fedora_messaging.jsonl"])
    store.close()
    return url


@pytest.fixture(scope="module")
def app(db: str) -> Iterator[Flask]:
    app = create_app(db)
    yield app
    app.extensions["statscache"].store.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def rows(client: FlaskClient, url: str) -> list[dict[str, Any]]:
    response = client.get(url)
    assert response.status_code == 200, response.data
    data: list[dict[str, Any]] = response.get_json()
    return data


def everything(client: FlaskClient, ident: str, query: str = "") -> list[dict[str, Any]]:
    return rows(client, f"/api/{ident}?rows_per_page=1000&{query}")


def links(response: Any) -> dict[str, str]:
    found = {}
    for part in response.headers["Link"].split(", "):
        url, rel = part.split("; ")
        found[rel.split('"')[1]] = url.strip("<>")
    return found


def test_index_json_csv_and_jsonp(client: FlaskClient) -> None:
    assert client.get("/api/").get_json() == sorted(PLUGINS)
    csv = client.get("/api/", headers={"Accept": "text/csv"})
    assert csv.mimetype == "text/csv" and csv.get_data(as_text=True).splitlines() == sorted(PLUGINS)
    js = client.get("/api/?callback=cb.handle")
    assert js.mimetype == "application/javascript"
    assert js.get_data(as_text=True) == f"/**/cb.handle({json.dumps(sorted(PLUGINS), separators=(',', ':'))});"


def test_plugins_describes_every_statistic(client: FlaskClient) -> None:
    described = {item["ident"]: item for item in client.get("/api/plugins").get_json()}
    assert set(described) == set(PLUGINS)
    volume = described["volume-1h"]
    assert volume["resolution"] == 3600 and volume["kind"] == "counter" and volume["columns"] == ["timestamp", "volume"]
    assert volume["newest"] == max(row["timestamp"] for row in everything(client, "volume-1h"))
    assert volume["links"]["self"].endswith("/api/volume-1h")
    assert described["release-engineering-event-logs"]["links"]["layout"].endswith("/layout")
    assert described["volume-1h"]["description"]


@pytest.mark.parametrize("ident", sorted(PLUGINS))
def test_rows_are_the_rows_of_statscache_show(client: FlaskClient, db: str, ident: str) -> None:
    from statscache.store import Store

    with Store(db) as store:
        newest_first = store.rows(PLUGINS[ident], Window(descending=True))
        oldest_first = store.rows(PLUGINS[ident])
    assert everything(client, ident) == newest_first, "the default order is desc"
    assert everything(client, ident, "order=asc") == oldest_first
    assert sorted(map(repr, newest_first)) == sorted(map(repr, oldest_first))


def test_window_limit_and_formats(client: FlaskClient) -> None:
    all_rows = everything(client, "volume-1d", "order=asc")
    start, stop = all_rows[3]["timestamp"], all_rows[10]["timestamp"]
    inside = [row for row in all_rows if start <= row["timestamp"] <= stop]
    assert everything(client, "volume-1d", f"order=asc&start={start}&stop={stop}") == inside
    iso = quote(datetime.fromtimestamp(start, UTC).isoformat())
    assert everything(client, "volume-1d", f"order=asc&start={iso}&stop={stop}") == inside
    limited = client.get("/api/volume-1d?order=asc&limit=5&rows_per_page=2&page=3")
    assert limited.get_json() == all_rows[4:5]
    assert limited.headers["X-Total-Count"] == "5" and limited.headers["X-Link-Count"] == "3"
    csv = client.get("/api/volume-1d?format=csv&order=asc&rows_per_page=3").get_data(as_text=True)
    assert csv.splitlines() == ["timestamp,volume"] + [f"{r['timestamp']},{r['volume']}" for r in all_rows[:3]]
    for accept in ("application/json", "text/json"):
        assert client.get("/api/volume-1d", headers={"Accept": accept}).mimetype == "application/json"
    for accept in ("text/csv", "application/csv"):
        assert client.get("/api/volume-1d", headers={"Accept": accept}).mimetype == "text/csv"
    assert client.get("/api/volume-1d?format=json", headers={"Accept": "text/csv"}).mimetype == "application/json"


def test_key_filters_are_or_within_a_name(client: FlaskClient) -> None:
    every = everything(client, "volume-by-category-1d")
    picked = everything(client, "volume-by-category-1d", "category=bodhi&category=buildsys")
    assert picked == [row for row in every if row["category"] in ("bodhi", "buildsys")]
    assert {row["category"] for row in picked} == {"bodhi", "buildsys"}
    releng = everything(client, "release-engineering-event-logs", "category=compose-rawhide_primary")
    assert releng and all(row["category"] == "compose-rawhide_primary" for row in releng)


@pytest.mark.parametrize(
    ("fine", "coarse", "resolution"),
    [
        ("volume-1m", "volume-1h", "1h"),
        ("volume-1s", "volume-1d", "86400"),
        ("volume-by-category-1m", "volume-by-category-1d", "1d"),
        ("volume-by-topic-1h", "volume-by-topic-1d", "24h"),
    ],
)
def test_roll_up_equals_the_coarser_statistic(client: FlaskClient, fine: str, coarse: str, resolution: str) -> None:
    assert everything(client, fine, f"resolution={resolution}") == everything(client, coarse)
    some = everything(client, coarse, "order=asc")
    start, stop = some[2]["timestamp"], some[-3]["timestamp"]
    window = f"start={start}&stop={stop}"
    assert everything(client, fine, f"resolution={resolution}&{window}") == everything(client, coarse, window)


def test_top_over_a_roll_up_ranks_the_rolled_window(client: FlaskClient) -> None:
    days = everything(client, "volume-by-category-1d", "order=asc")
    start = days[len(days) // 2]["timestamp"] - 3600  # mid-day: the roll-up starts at the next whole day
    coarse = everything(client, "volume-by-category-1d", f"top=3&start={start}")
    assert coarse and everything(client, "volume-by-category-1m", f"resolution=1d&top=3&start={start}") == coarse


def test_weekly_roll_up_starts_on_monday(client: FlaskClient) -> None:
    weeks = everything(client, "volume-1d", "resolution=1w")
    assert weeks and all(datetime.fromtimestamp(row["timestamp"], UTC).weekday() == 0 for row in weeks)
    assert sum(row["volume"] for row in weeks) == sum(row["volume"] for row in everything(client, "volume-1d"))


def test_top_ranks_keys_by_total_in_the_window(client: FlaskClient) -> None:
    every = everything(client, "volume-by-category-1d", "order=asc")
    start = every[len(every) // 3]["timestamp"]
    inside = [row for row in every if row["timestamp"] >= start]
    totals = Counter[str]()
    for row in inside:
        totals[row["category"]] += row["volume"]
    best = sorted(totals, key=lambda key: (-totals[key], key))[:3]
    top = everything(client, "volume-by-category-1d", f"order=asc&top=3&start={start}")
    assert top == [row for row in inside if row["category"] in best]


def test_link_headers_keep_parameters_and_pin_stop(client: FlaskClient) -> None:
    response = client.get("/api/volume-by-category-1h?category=git&category=bodhi&rows_per_page=5&order=asc&page=2")
    found = links(response)
    assert set(found) == {"first", "prev", "next", "last"}
    query = parse_qs(urlsplit(found["next"]).query)
    assert query["category"] == ["git", "bodhi"] and query["rows_per_page"] == ["5"] and query["order"] == ["asc"]
    assert query["page"] == ["3"] and abs(float(query["stop"][0]) - time.time()) < 60
    assert query["as_of"] == query["stop"], "rows written after the first page stay out of the walk"
    assert parse_qs(urlsplit(found["prev"]).query)["page"] == ["1"]
    assert response.headers["X-Link-Number"] == "2"
    total = int(response.headers["X-Total-Count"])
    assert int(response.headers["X-Link-Count"]) == -(-total // 5)
    assert parse_qs(urlsplit(found["last"]).query)["page"] == [response.headers["X-Link-Count"]]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Link" in response.headers["Access-Control-Expose-Headers"]


def test_conditional_requests(client: FlaskClient) -> None:
    first = client.get("/api/volume-1h")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert client.get("/api/volume-1h", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/api/volume-1h", headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get("/api/volume-1h?order=asc", headers={"If-None-Match": etag}).status_code == 200
    earlier = format_datetime(datetime.fromtimestamp(0, UTC), usegmt=True)
    assert client.get("/api/volume-1h", headers={"If-Modified-Since": earlier}).status_code == 200


def test_a_flush_changes_the_etag(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'etag.db'}"
    lines = (CORPUS / "fedmsg.jsonl").read_text().splitlines()
    replay_messages(url, [from_dict(json.loads(line)) for line in lines[:50] if json.loads(line)["timestamp"]])
    client = create_app(url).test_client()
    first = client.get("/api/volume-1d")
    assert client.get("/api/volume-1d").headers["X-Total-Count"] == first.headers["X-Total-Count"]
    replay_messages(url, [from_dict(json.loads(line)) for line in lines[50:] if json.loads(line)["timestamp"]])
    after = client.get("/api/volume-1d", headers={"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200
    assert int(after.headers["X-Total-Count"]) > int(first.headers["X-Total-Count"]), "the cached count was dropped"
    assert int(after.headers["X-Total-Count"]) == len(everything(client, "volume-1d"))


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("page=0", "page"),
        ("page=x", "page"),
        ("page=999", "page"),
        ("rows_per_page=0", "rows_per_page"),
        ("rows_per_page=1001", "rows_per_page"),
        ("limit=-1", "limit"),
        ("order=sideways", "order"),
        ("order=asc&order=desc", "order"),
        ("format=xml", "format"),
        ("start=tomorrow", "start"),
        ("stop=nan", "stop"),
        ("start=20&stop=10", "start"),
        ("callback=alert(1)", "callback"),
        ("callback=1abc", "callback"),
        ("format=csv&callback=cb", "callback"),
        ("user=alice", "user"),
        ("resolution=7s", "resolution"),
        ("resolution=1x", "resolution"),
        ("resolution=30", "resolution"),
        ("top=0", "top"),
    ],
)
def test_bad_parameters_are_400_with_the_parameter(client: FlaskClient, query: str, parameter: str) -> None:
    response = client.get(f"/api/volume-1m?{query}")
    assert response.status_code == 400, (query, response.data)
    body = response.get_json()
    assert body["parameter"] == parameter and body["error"]


def test_parameters_a_statistic_cannot_take(client: FlaskClient) -> None:
    assert client.get("/api/volume-1m?top=3").get_json()["parameter"] == "top"
    assert client.get("/api/active-users-1d?resolution=1w").get_json()["parameter"] == "resolution"
    assert client.get("/api/volume-by-user-1d?category=git").get_json()["parameter"] == "category"


def test_other_errors(client: FlaskClient) -> None:
    missing = client.get("/api/no-such-thing")
    assert missing.status_code == 404 and missing.get_json()["parameter"] == "ident"
    assert client.get("/api/volume-1d/layout").status_code == 404
    refused = client.get("/api/volume-1d", headers={"Accept": "image/png"})
    assert refused.status_code == 406 and refused.get_json()["error"]
    jsonp_without_callback = client.get("/api/volume-1d", headers={"Accept": "application/javascript"})
    assert jsonp_without_callback.status_code == 400
    wrong_method = client.post("/api/volume-1d")
    assert wrong_method.status_code == 405 and wrong_method.get_json()["error"]


def test_layout(client: FlaskClient) -> None:
    layout = client.get("/api/release-engineering-event-logs/layout").get_json()
    assert layout == json.loads(json.dumps(PLUGINS["release-engineering-event-logs"].layout))  # type: ignore[attr-defined]
    assert client.get("/api/release-engineering-event-logs/layout?callback=x").mimetype == "application/javascript"


def walk(client: FlaskClient, url: str) -> list[dict[str, Any]]:
    """Follow rel=next from ``url`` to the end."""
    walked: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200
        walked += response.get_json()
        next_url = links(response).get("next")
    return walked


@pytest.mark.parametrize("size", [1, 7, 100])
@pytest.mark.parametrize("query", ["", "category=bodhi&category=git", "order=asc&limit=50", "top=4&order=asc"])
def test_walking_next_links_gives_every_row_once_while_rows_arrive(tmp_path: Path, size: int, query: str) -> None:
    url = f"sqlite:///{tmp_path / 'walk.db'}"
    records = expect.unique_records([CORPUS / "fedmsg.jsonl"])
    replay_messages(url, [from_dict(record) for record in records])
    app = create_app(url)
    client = app.test_client()
    ident = "volume-by-category-1d"
    pinned = time.time()
    unpaginated = rows(client, f"/api/{ident}?rows_per_page=1000&stop={pinned}&{query}")
    walked: list[dict[str, Any]] = []
    next_url: str | None = f"/api/{ident}?rows_per_page={size}&stop={pinned}&{query}"
    arrivals = 0
    while next_url:
        response = client.get(next_url)
        walked += response.get_json()
        next_url = links(response).get("next")
        # live traffic: new messages, newer than the pinned stop, land between page requests
        fresh = {**records[arrivals % len(records)], "msg_id": f"live-{arrivals}", "timestamp": pinned + 60 + arrivals}
        replay_messages(url, [from_dict(fresh)], classes=[PLUGINS[ident]])
        arrivals += 1
    assert walked == unpaginated and len(walked) == len({(r["timestamp"], r["category"]) for r in walked})
    assert len(everything(client, ident, query)) >= len(unpaginated)  # the new rows are there for the next walk
    app.extensions["statscache"].store.close()


def test_openapi_document_names_every_statistic(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    ident = document["paths"]["/api/{ident}"]["get"]["parameters"][0]
    assert ident["schema"]["enum"] == sorted(PLUGINS)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_real_statscache_serve_process(db: str, tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "statscache", "serve", "--port", str(port), "--db", db],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/volume-1d?rows_per_page=3", timeout=2) as r:
                    body, headers = json.load(r), r.headers
                break
            except OSError:
                time.sleep(0.1)
        assert body is not None and len(body) == 3, "the server answered"
        assert headers["X-Link-Number"] == "1" and headers["Access-Control-Allow-Origin"] == "*"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/volume-1d?page=0", timeout=2)
        with refused.value as answer:
            assert answer.code == 400 and json.load(answer)["parameter"] == "page"
    finally:
        server.terminate()
        server.communicate(timeout=10)


QUERIES = [
    "volume-by-category-1m?resolution=1d&rows_per_page=1000",
    "volume-1s?resolution=1w&rows_per_page=1000",
    "volume-by-topic-1h?top=5&order=asc&rows_per_page=1000",
    "volume-by-category-1h?category=bodhi&category=git&limit=30&rows_per_page=7&page=3",
    "active-users-1w?rows_per_page=1000",
    "release-engineering-event-logs?rows_per_page=1000&category=compose-rawhide_primary",
    "pagure-contributions-by-project-1d?order=asc&rows_per_page=1000",
]


@pytest.mark.postgres
def test_postgres_serves_the_same_answers(postgres_url: str, client: FlaskClient) -> None:
    store, _ = replay_files(postgres_url, [CORPUS / "fedmsg.jsonl", CORPUS / "fedora_messaging.jsonl"])
    app = create_app(postgres_url)
    try:
        on_postgres = app.test_client()
        for query in QUERIES:
            stop = f"&stop={int(time.time())}"
            sqlite_answer, postgres_answer = client.get(f"/api/{query}{stop}"), on_postgres.get(f"/api/{query}{stop}")
            assert postgres_answer.status_code == sqlite_answer.status_code == 200, query
            assert postgres_answer.get_json() == sqlite_answer.get_json(), query
            assert postgres_answer.get_json(), query
            assert postgres_answer.headers["X-Total-Count"] == sqlite_answer.headers["X-Total-Count"]
    finally:
        app.extensions["statscache"].store.close()
