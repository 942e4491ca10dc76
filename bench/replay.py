"""Replay throughput with every built-in plugin into SQLite, against a bare parse loop.

Both run in this one process over the same generated file: the baseline only
reads the lines and parses them with orjson; the replay reads, normalises,
deduplicates and counts them into every built-in statistic, committing to
SQLite. Prints messages per second, the ratio, and the peak memory.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload  # noqa: E402

from statscache.pipeline import Pipeline, Settings  # noqa: E402
from statscache.plugin import discover  # noqa: E402
from statscache.sources.file import read  # noqa: E402
from statscache.store import Store  # noqa: E402


def bare_loop(path: Path) -> tuple[int, float]:
    started = time.perf_counter()
    count = 0
    with path.open("rb") as lines:
        for line in lines:
            orjson.loads(line)
            count += 1
    return count, time.perf_counter() - started


def replay(path: Path, url: str) -> tuple[int, float]:
    """Replay the file with every built-in plugin; (accepted, seconds)."""
    classes = discover()
    store = Store(url)
    store.prepare(classes)
    pipeline = Pipeline(store, [cls() for cls in classes], Settings(flush_interval=1.0, max_pending=10_000))
    started = time.perf_counter()
    pipeline.feed(read(str(path)))
    pipeline.close()
    elapsed = time.perf_counter() - started
    store.close()
    return pipeline.stats.accepted, elapsed


def main() -> None:
    gc.set_threshold(50_000, 20, 20)  # as the statscache command sets it
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3, help="alternate bare/replay rounds; best of each is kept")
    args = parser.parse_args()
    bare, replays = [], []
    with tempfile.TemporaryDirectory() as scratch:
        path = workload.write(Path(scratch) / "workload.jsonl", args.count, args.days)
        size = path.stat().st_size / 1e6
        for round_ in range(args.rounds):
            bare.append(bare_loop(path))
            replays.append(replay(path, f"sqlite:///{scratch}/bench-{round_}.db"))
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    bare_count, bare_seconds = min(bare, key=lambda r: r[1])
    accepted, replay_seconds = min(replays, key=lambda r: r[1])
    bare_rate, replay_rate = bare_count / bare_seconds, accepted / replay_seconds
    print(f"workload     {args.count} messages over {args.days:g} days, {size:.0f} MB of JSON lines")
    print(f"bare loop    {bare_rate:12,.0f} msg/s  (best of {args.rounds}: {bare_seconds:.2f} s)")
    print(
        f"replay       {replay_rate:12,.0f} msg/s  (best of {args.rounds}: {replay_seconds:.2f} s, {len(discover())} plugins)"
    )
    print(f"ratio        {replay_rate / bare_rate:12.3f}  (goal >= 0.10)")
    print(f"peak memory  {peak_mb:12.0f} MB    (goal < 300 MB; the whole process, all rounds)")


if __name__ == "__main__":
    main()
