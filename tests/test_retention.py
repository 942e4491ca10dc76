"""Retention: fine buckets dropped after their time, reads past it answered from a coarser statistic."""

from __future__ import annotations

import html
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

import recompute as expect
from helpers import replay_files
from statscache.buckets import iso
from statscache.cli import cli
from statscache.config import ConfigError, build
from statscache.plugin import discover
from statscache.retention import DAY, Policy, PolicyError, enforce
from statscache.store import Store
from statscache.web import create_app

CORPUS = Path(__file__).parent / "corpus"
FILES = [CORPUS / "fedmsg.jsonl", CORPUS / "fedora_messaging.jsonl"]
CLASSES = {cls.ident: cls for cls in discover()}


def epochs(records: list[dict[str, Any]]) -> list[float]:
    return sorted(expect.valid(record)[2] for record in records)  # type: ignore[index]


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return expect.unique_records(FILES)


@pytest.fixture
def filled(db_url: str) -> Iterator[Store]:
    store, _ = replay_files(db_url, FILES)
    yield store
    store.close()


def halfway(records: list[dict[str, Any]]) -> tuple[float, float]:
    """A "now" at the newest record, and a retention that keeps the newer half of the records."""
    times = epochs(records)
    return times[-1], times[-1] - times[len(times) // 2]


def policy(keep: float) -> Policy:
    """Fine statistics keep ``keep`` seconds, per-minute ones twice that, coarser ones forever."""
    return Policy({1: keep, 5: keep, 15: keep, 60: 2 * keep})


def since(rows: list[dict[str, Any]], first: float) -> list[dict[str, Any]]:
    return [row for row in rows if row["timestamp"] >= first]


def test_policy_defaults_overrides_and_errors() -> None:
    default = Policy.parse({})
    assert default.keep == {1: 2 * DAY, 5: 2 * DAY, 15: 2 * DAY, 60: 90 * DAY}, "the issue's defaults"
    assert default.seconds(CLASSES["volume-1h"]) is None and default.seconds(CLASSES["volume-1s"]) == 2 * DAY
    changed = Policy.parse({"1s": "forever", "1h": 400, "5s": 0.5})
    assert changed.keep == {5: 0.5 * DAY, 15: 2 * DAY, 60: 90 * DAY, 3600: 400 * DAY}
    for bad in ({"1x": 2}, {"1s": -1}, {"1s": True}, {"1s": "soon"}, {"0s": 1}):
        with pytest.raises(PolicyError):
            Policy.parse(bad)


def test_config_takes_a_retention_table() -> None:
    config = build({"retention": {"1m": 30}, "retention_interval": 60})
    assert config.policy.keep[60] == 30 * DAY and config.retention_interval == 60.0
    for bad in ({"retention": {"1m": "never"}}, {"retention": 3}, {"retention_interval": -1}):
        with pytest.raises(ConfigError):
            build(bad)


def test_trim_drops_only_old_fine_buckets(filled: Store, records: list[dict[str, Any]]) -> None:
    now, keep = halfway(records)
    before = {ident: filled.plugin_state()[ident]["updated_at"] for ident in CLASSES}

    trimmed = enforce(filled, CLASSES.values(), policy(keep), now)

    first_1s = int(now - keep)  # 1-second buckets start on whole seconds
    first_1m = int((now - 2 * keep) // 60) * 60
    full_1s, full_1m = expect.volume(records, 1), expect.volume(records, 60)
    assert filled.rows(CLASSES["volume-1s"]) == since(full_1s, first_1s)
    assert trimmed["volume-1s"] == len(full_1s) - len(since(full_1s, first_1s)) > 0
    assert filled.rows(CLASSES["volume-1m"]) == since(full_1m, first_1m)
    assert filled.rows(CLASSES["volume-1h"]) == expect.volume(records, 3600), "coarse buckets are kept forever"
    by_category = expect.keyed(records, 1, "category", lambda r, topic, body: [expect.category(topic)])
    assert sorted(filled.rows(CLASSES["volume-by-category-1s"]), key=repr) == sorted(
        since(by_category, first_1s), key=repr
    )
    with filled.reader() as reader:
        retained = reader.retained()
        assert retained["volume-1s"] == first_1s and retained["volume-1m"] == first_1m
        assert "volume-1h" not in retained and "release-engineering-event-logs" not in retained
        assert reader.updated_at(CLASSES["volume-1s"]) > before["volume-1s"], "caches must see the trim"
        assert reader.updated_at(CLASSES["volume-1h"]) == before["volume-1h"]

    status = CliRunner().invoke(cli, ["status", "--db", filled.url]).output.splitlines()
    line = next(line for line in status if line.startswith("volume-1s "))
    assert f"retained_from={iso(first_1s)}" in line and not any("retained_from" in x for x in status if "-1h " in x)

    stamped = filled.plugin_state()["volume-1s"]["updated_at"]
    assert enforce(filled, CLASSES.values(), policy(keep), now)["volume-1s"] == 0
    assert filled.plugin_state()["volume-1s"]["updated_at"] == stamped, "nothing changed, nothing stamped"


def test_nothing_is_trimmed_without_a_coarser_statistic_kept_longer(
    filled: Store, records: list[dict[str, Any]]
) -> None:
    times = epochs(records)
    same = Policy({size: times[-1] - times[0] - 1 for size in (1, 5, 15, 60, 3600, 86400)})
    snapshot = {ident: filled.rows(cls) for ident, cls in CLASSES.items()}
    assert not any(enforce(filled, CLASSES.values(), same, times[-1]).values())
    assert {ident: filled.rows(cls) for ident, cls in CLASSES.items()} == snapshot


@pytest.fixture
def client(filled: Store) -> Iterator[FlaskClient]:
    app = create_app(filled.url)
    yield app.test_client()
    app.extensions["statscache"].store.close()


def read(client: FlaskClient, url: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    response = client.get(url + "&order=asc&rows_per_page=1000")
    assert response.status_code == 200, response.data
    return response.get_json(), dict(response.headers)


def test_reads_past_retention_come_from_a_coarser_statistic(
    client: FlaskClient, filled: Store, records: list[dict[str, Any]]
) -> None:
    now, keep = halfway(records)
    full_1s = expect.volume(records, 1)
    before, headers = read(client, "/api/volume-1s?start=0")
    assert before == full_1s and headers["X-Resolution"] == "1" and "X-Answered-From" not in headers
    assert headers["X-Total-Count"] == str(len(full_1s))

    enforce(filled, CLASSES.values(), policy(keep), now)
    first_1s, first_1m = int(now - keep), int((now - 2 * keep) // 60) * 60

    rows, headers = read(client, "/api/volume-1s?start=0")  # the same question: its cached count must go
    assert rows == expect.volume(records, 3600), "only the hourly statistic holds all of it"
    assert headers["X-Answered-From"] == "volume-1h" and headers["X-Resolution"] == "3600"
    assert headers["X-Total-Count"] == str(len(rows)) and "volume-1s keeps buckets from" in headers["X-Notice"]

    rows, headers = read(client, f"/api/volume-1s?start={first_1m}")
    assert rows == since(expect.volume(records, 60), first_1m)
    assert headers["X-Answered-From"] == "volume-1m" and headers["X-Resolution"] == "60"

    rows, headers = read(client, f"/api/volume-1s?start={first_1m}&resolution=1h")
    hourly = expect.volume([r for r in records if expect.valid(r)[2] >= first_1m], 3600)  # type: ignore[index]
    first_hour = -(-first_1m // 3600) * 3600  # whole hours from start on, as any roll-up reads
    assert rows == since(hourly, first_hour) and headers["X-Answered-From"] == "volume-1m"

    rows, headers = read(client, f"/api/volume-1s?start={first_1s}")
    assert rows == since(full_1s, first_1s) and "X-Answered-From" not in headers, "within retention: itself"


def test_daemon_enforces_retention_periodically(sqlite_url: str, tmp_path: Path) -> None:
    """``statscache run`` trims on its own: corpus messages are years old, past a 1-day retention."""
    store, _ = replay_files(sqlite_url, FILES)
    config = tmp_path / "statscache.toml"
    config.write_text(
        f'db_url = "{sqlite_url}"\namqp_enabled = false\nbackfill = false\nhealth_port = 0\n'
        'retention_interval = 0.2\n[retention]\n"1s" = 1\n"1m" = 1\n[zmq]\nendpoints = ["tcp://127.0.0.1:1"]\n'
    )
    daemon = subprocess.Popen(
        [sys.executable, "-m", "statscache", "run", "--config", str(config)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (store.rows(CLASSES["volume-1m"]) or store.rows(CLASSES["volume-1s"])):
            time.sleep(0.2)
        assert store.rows(CLASSES["volume-1s"]) == [] and store.rows(CLASSES["volume-1m"]) == []
        assert store.rows(CLASSES["volume-15s"]) == [], "15s is kept 2 days by default"
        assert store.rows(CLASSES["volume-1h"]) == expect.volume(expect.unique_records(FILES), 3600)
    finally:
        daemon.terminate()
        _, errors = daemon.communicate(timeout=10)
    assert daemon.returncode == 0, errors
    assert "retention: dropped" in errors


def test_charts_and_pages_past_retention_say_where_they_come_from(
    client: FlaskClient, filled: Store, records: list[dict[str, Any]]
) -> None:
    now, keep = halfway(records)
    enforce(filled, CLASSES.values(), policy(keep), now)

    response = client.get("/api/volume-1s?start=0&format=svg")
    assert response.status_code == 200 and response.headers["X-Answered-From"] == "volume-1h"
    svg = ElementTree.fromstring(response.data)
    series = [node for node in svg.iter() if "series" in node.get("class", "").split()]
    assert [int(node.get("data-points", "0")) for node in series] == [len(expect.volume(records, 3600))]

    page = client.get("/statistics/volume-1s?start=0")
    assert page.status_code == 200
    notice = html.unescape(page.get_data(as_text=True))
    assert "answered from volume-1h in 1h buckets" in notice
    within = client.get(f"/statistics/volume-1s?start={int(now - keep)}").get_data(as_text=True)
    assert 'class="notice retention"' not in within
