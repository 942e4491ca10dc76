"""Back-fill throughput, from datagrepper over HTTP and from datanommer's database, against replay.

One run, the same generated messages (real corpus bodies, fresh ids, a week of
timestamps) three ways, each into a new SQLite file with all built-in statistics:

* **replay** from a JSON-lines file — the baseline;
* **datagrepper**: ``Backfill`` through the HTTP client against the loopback
  stand-in (``tests/datagrepper.py``), which answers instantly, so the figure is
  the client's and statscache's own limit;
* **datanommer**: ``Backfill`` reading a datanommer-shaped PostgreSQL database
  (datanommer's schema, loaded with ``COPY``) in keyset order.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
import workload  # noqa: E402
from api import copy_escape, copy_text, temporary_database  # noqa: E402
from datagrepper import Datagrepper  # noqa: E402
from replay import replay  # noqa: E402
from test_datanommer import SCHEMA  # noqa: E402

from statscache.backfill import Backfill, plan  # noqa: E402
from statscache.plugin import discover  # noqa: E402
from statscache.sources.datagrepper import ClientSettings, DatagrepperClient  # noqa: E402
from statscache.sources.datanommer import read as read_archive  # noqa: E402
from statscache.store import Store  # noqa: E402


def backfill(url: str, fetch: object, start: float, end: float) -> tuple[int, float]:
    """Back-fill ``[start, end]`` into a new database; (messages counted, seconds)."""
    store = Store(url)
    classes = discover()
    store.prepare(classes)
    job = Backfill(store, fetch, window=6 * 3600.0)  # type: ignore[arg-type]
    began = time.perf_counter()
    report = job.run(plan(store, classes, end, since=start))
    elapsed = time.perf_counter() - began
    store.close()
    assert not report.gaps, report.gaps
    return report.accepted, elapsed


def fetch_only(client: DatagrepperClient, start: float, end: float) -> float:
    """Seconds to just read every window (2 in flight), counting nothing: the server's limit."""
    edges = [start + 6 * 3600.0 * k for k in range(int((end - start) // (6 * 3600.0)) + 1)] + [end]
    began = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda pair: client.window(*pair), zip(edges, edges[1:], strict=False)))
    return time.perf_counter() - began


def load_datanommer(url: str, records: list[dict[str, object]]) -> None:
    """datanommer's schema, the records in ``messages`` (users and packages left empty)."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(SCHEMA)
        lines = (
            "\t".join(
                [
                    "1",
                    copy_escape(str(record["msg_id"])),
                    copy_escape(str(record["topic"])),
                    datetime.fromtimestamp(float(record["timestamp"]), UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),  # type: ignore[arg-type]
                    str(record["topic"]).split(".")[3],
                    copy_escape(orjson.dumps(record["msg"]).decode()),
                ]
            )
            + "\n"
            for record in records
        )
        copy_text(connection, "COPY messages (i, msg_id, topic, timestamp, category, msg) FROM STDIN", lines)
        connection.execute("ANALYZE messages")


def main() -> None:
    gc.set_threshold(50_000, 20, 20)  # as the statscache command sets it
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = workload.write(Path(scratch) / "workload.jsonl", args.count, days=7)
        records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        start = min(float(r["timestamp"]) for r in records) - 1
        end = max(float(r["timestamp"]) for r in records) + 1
        counted, replay_seconds = replay(path, f"sqlite:///{scratch}/replay.db")
        with Datagrepper(records) as archive:
            client = DatagrepperClient(ClientSettings(url=archive.url))
            http_counted, http_seconds = backfill(f"sqlite:///{scratch}/http.db", client.window, start, end)
            read_seconds = fetch_only(client, start, end)
            client.close()
            requests = archive.requests
        with temporary_database(keep=False) as database:
            load_datanommer(database, records)
            fetch = lambda low, high: list(read_archive(database, low, high))  # noqa: E731
            db_counted, db_seconds = backfill(f"sqlite:///{scratch}/archive.db", fetch, start, end)
    assert counted == http_counted == db_counted == args.count, (counted, http_counted, db_counted)
    base = counted / replay_seconds
    print(f"workload      {args.count} messages over 7 days, all 24 built-in statistics, SQLite")
    print(f"replay        {base:10,.0f} msg/s   ({replay_seconds:.2f} s; the baseline)")
    print(
        f"datagrepper   {args.count / http_seconds:10,.0f} msg/s   ratio {args.count / http_seconds / base:.2f}  "
        f"({requests} requests of 100 rows to the loopback stand-in, 6 h windows, 2 in flight)"
    )
    print(
        f"  reading only {args.count / read_seconds:9,.0f} msg/s   (the same windows, nothing counted: the stand-in's limit)"
    )
    print(
        f"datanommer    {args.count / db_seconds:10,.0f} msg/s   ratio {args.count / db_seconds / base:.2f}  "
        "(keyset reads of datanommer's PostgreSQL; goal >= 0.5)"
    )


if __name__ == "__main__":
    main()
