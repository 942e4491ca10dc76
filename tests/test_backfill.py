"""Back-fill from a real HTTP stand-in for datagrepper on loopback: no hole, nothing twice."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy.exc import SQLAlchemyError

import recompute as expect
from datagrepper import Datagrepper
from helpers import all_rows, builtin_classes, replay_messages, same_rows
from statscache.backfill import Backfill, plan
from statscache.cli import cli
from statscache.message import from_dict
from statscache.sources.datagrepper import ClientSettings, DatagrepperClient
from statscache.store import Store
from test_statistics import expected as expected_statistics

CORPUS = Path(__file__).parent / "corpus"
# as datanommer stores them: with the usernames and packages it derived at ingestion
RECORDS = [
    {**record, "users": sorted(from_dict(record).usernames), "packages": sorted(from_dict(record).packages)}
    for record in expect.unique_records([CORPUS / "fedmsg.jsonl"])
]
SINCE = min(r["timestamp"] for r in RECORDS) - 1
UNTIL = max(r["timestamp"] for r in RECORDS) + 1
MONTH = 30 * 86400.0


def assert_statistics(store: Store, records: list[dict[str, Any]]) -> None:
    rows = all_rows(store)
    for ident, want in expected_statistics(records).items():
        assert same_rows(rows[ident], want), ident


def backfill(url: str, db: str, *extra: str) -> Any:
    args = ["backfill", "--since", str(SINCE), "--until", str(UNTIL), "--datagrepper", url, "--db", db]
    return CliRunner().invoke(cli, [*args, "--window", str(MONTH), *extra], catch_exceptions=False)


def test_backfill_equals_the_recomputation(sqlite_url: str) -> None:
    with Datagrepper(RECORDS) as archive:
        result = backfill(archive.url, sqlite_url)
        assert result.exit_code == 0, result.output
        assert "no gap" in result.output
        assert archive.max_in_flight <= 2, "at most two windows in flight: polite to a shared service"
    with Store(sqlite_url) as store:
        assert_statistics(store, RECORDS)
        state = store.plugin_state()
        assert all(entry["checkpoint"] == UNTIL for entry in state.values())


def test_failures_retried_and_overloaded_windows_halved(sqlite_url: str) -> None:
    with Datagrepper(RECORDS) as archive:
        archive.fail(3, status=502)  # retried with backoff
        store = Store(sqlite_url)
        classes = builtin_classes()
        store.prepare(classes)
        client = DatagrepperClient(ClientSettings(url=archive.url, retries=2, backoff=0.01, timeout=0.5))
        archive.slow(1.0, times=3)  # a timeout, then 502s: the window is halved until it is served
        job = Backfill(store, client.window, window=4 * MONTH, min_window=60)
        report = job.run(plan(store, classes, UNTIL, since=SINCE))
        client.close()
        assert not report.gaps
    assert_statistics(store, RECORDS)


def test_rows_arriving_in_a_window_being_walked_are_not_missed(sqlite_url: str) -> None:
    early = sorted(RECORDS, key=lambda r: r["timestamp"])
    late = {**early[5], "msg_id": "late-arrival", "timestamp": early[5]["timestamp"] + 0.5}
    added = False

    def arrive(_: dict[str, Any]) -> None:
        nonlocal added
        if not added and archive.requests > 3:
            archive.add([late])  # lands before the page being read
            added = True

    with Datagrepper(RECORDS) as archive:
        archive.on_page = arrive
        result = backfill(archive.url, sqlite_url, "--window", str(100 * 365 * 86400.0))
        assert result.exit_code == 0, result.output
    assert added
    with Store(sqlite_url) as store:
        assert_statistics(store, [*RECORDS, late])


def test_a_window_that_keeps_failing_is_a_gap_and_the_checkpoint_stays_before_it(sqlite_url: str) -> None:
    with Datagrepper(RECORDS) as archive:
        archive.fail(10_000, status=500)
        result = backfill(archive.url, sqlite_url, "--plugin", "volume-1d", "--retries", "0", "--window", "3e9")
        assert result.exit_code == 1 and "gap" in result.output
    status = CliRunner().invoke(cli, ["status", "--db", sqlite_url])
    assert "gap " in status.output and "HTTP 500" in status.output
    with Store(sqlite_url) as store:
        assert store.plugin_state()["volume-1d"]["checkpoint"] in (None, SINCE)
    with Datagrepper(RECORDS) as archive:  # the archive is back: a rerun fills the hole
        assert backfill(archive.url, sqlite_url, "--plugin", "volume-1d").exit_code == 0
    with Store(sqlite_url) as store:
        assert same_rows(
            store.rows(builtin_classes()[[c.ident for c in builtin_classes()].index("volume-1d")]),
            expected_statistics(RECORDS)["volume-1d"],
        )
        assert store.gaps() == []


def midway(db: str) -> bool:
    """Whether some statistic's back-fill checkpoint lies strictly inside the span."""
    if not Path(db.removeprefix("sqlite:///")).exists():
        return False
    with Store(db) as store:
        try:
            checkpoints = [entry["checkpoint"] for entry in store.plugin_state().values()]
        except SQLAlchemyError:  # not created yet
            return False
    return any(c is not None and SINCE < c < UNTIL for c in checkpoints)


def test_killed_midway_then_rerun(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'kill.db'}"
    with Datagrepper(RECORDS) as archive:
        archive.slow(0.05, times=10_000)
        args = ["backfill", "--since", str(SINCE), "--until", str(UNTIL), "--datagrepper", archive.url]
        process = subprocess.Popen(
            [sys.executable, "-m", "statscache", *args, "--db", db, "--window", str(MONTH)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60  # kill it once it has checkpointed part of the way, however slow the machine
        while time.monotonic() < deadline and process.poll() is None and not midway(db):
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert midway(db), "it was killed mid-way"
        archive.slow(0, times=0)
        assert backfill(archive.url, db).exit_code == 0
    with Store(db) as store:
        assert_statistics(store, RECORDS)


def test_a_new_plugin_backfills_only_itself(sqlite_url: str) -> None:
    classes = builtin_classes()
    old = [cls for cls in classes if cls.ident != "volume-by-topic-1d"]
    store, _ = replay_messages(sqlite_url, [from_dict(r) for r in RECORDS], classes=old)
    store.advance_checkpoint([cls.ident for cls in old], UNTIL)
    before = all_rows(store, old)
    ranges = plan(store, classes, UNTIL, since=SINCE)
    assert [r.idents for r in ranges] == [["volume-by-topic-1d"]]
    with Datagrepper(RECORDS) as archive:
        assert backfill(archive.url, sqlite_url).exit_code == 0
    assert all_rows(store, old) == before
    assert same_rows(
        store.rows(next(c for c in classes if c.ident == "volume-by-topic-1d")),
        expected_statistics(RECORDS)["volume-by-topic-1d"],
    )


def test_bad_arguments_are_one_line(sqlite_url: str) -> None:
    result = CliRunner().invoke(cli, ["backfill", "--since", "later", "--db", sqlite_url])
    assert result.exit_code == 1 and "--since" in result.output
    result = CliRunner().invoke(cli, ["backfill", "--since", "20", "--until", "10", "--db", sqlite_url])
    assert result.exit_code == 1 and "before" in result.output
