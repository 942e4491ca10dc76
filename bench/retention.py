"""Retention on PostgreSQL: how long the trim holds the flush lock, against one flush.

Fills a fresh PostgreSQL database with a generated workload spanning four days
that end now (so the default policy drops half of every fine statistic), then,
in this one process: times a flush of a batch of new live messages (the
baseline), runs the retention job once, and times every transaction it commits.
Prints rows dropped, the whole job, the longest transaction (what a flush
waits at most) and both as ratios to the flush.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload  # noqa: E402

from statscache.pipeline import Pipeline, Settings  # noqa: E402
from statscache.plugin import discover  # noqa: E402
from statscache.retention import Policy, enforce  # noqa: E402
from statscache.sources.file import read  # noqa: E402
from statscache.store import Store  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DAY = 86400.0


@contextmanager
def database() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    name = f"statscache_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def transactions(store: Store) -> list[float]:
    """Durations of every transaction ``store`` commits from now on (appended as they end)."""
    durations: list[float] = []
    began: dict[int, float] = {}

    def begin(connection: Any) -> None:
        began[id(connection)] = time.perf_counter()

    def commit(connection: Any) -> None:
        durations.append(time.perf_counter() - began.pop(id(connection), time.perf_counter()))

    event.listen(store.engine, "begin", begin)
    event.listen(store.engine, "commit", commit)
    return durations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200_000, help="history messages over four days")
    parser.add_argument("--live", type=int, default=5_000, help="messages in the baseline flush")
    args = parser.parse_args()
    now = time.time()
    classes = discover()
    with tempfile.TemporaryDirectory() as scratch, database() as url:
        history = workload.write(Path(scratch) / "history.jsonl", args.count, 4.0, start=now - 4 * DAY)
        live = workload.write(Path(scratch) / "live.jsonl", args.live, 60 / DAY, seed=2, start=now - 60)
        store = Store(url)
        store.prepare(classes)
        pipeline = Pipeline(store, [cls() for cls in classes], Settings(flush_interval=3600, max_pending=10**9))
        pipeline.feed(read(str(history)))
        pipeline.close()
        with store.reader() as reader:
            rows_before = {cls.ident: reader.count(cls) for cls in classes}
        pipeline.feed(read(str(live)))
        started = time.perf_counter()
        pipeline.flush()
        flush = time.perf_counter() - started
        durations = transactions(store)
        started = time.perf_counter()
        dropped = enforce(store, classes, Policy.parse({}), time.time())
        job = time.perf_counter() - started
        store.close()
    fine = sum(rows_before[ident] for ident in dropped)
    longest = max(durations, default=0.0)
    print(f"workload     {args.count} messages over the last 4 days; {fine:,} rows in {len(dropped)} fine statistics")
    print(f"flush        {flush:10.3f} s   ({args.live} live messages, every plugin: the baseline)")
    print(f"retention    {job:10.3f} s   ({sum(dropped.values()):,} rows dropped, {len(durations)} transactions)")
    print(f"longest txn  {longest:10.3f} s   (the most a flush waits on the lock)")
    print(f"ratios       job/flush {job / flush:.2f}, longest txn/flush {longest / flush:.2f}")


if __name__ == "__main__":
    main()
