"""SVG chart rendering against the JSON response for the same query, in the same run.

Builds a throw-away SQLite database holding ``--days`` of generated 1-minute buckets of
``volume-by-category-1m`` (``--categories`` categories, Zipf-distributed rates, so quiet
ones miss most minutes) and of ``volume-1m``, then asks the app in-process (Flask's test
client: no network, so the figures are the app's own cost) for the whole window as JSON
(one page holding every row) and as ``format=svg``, alternating, until ``--seconds`` have
passed. Prints rows, bytes, p50 per format and the ratio svg/json.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flask.testing import FlaskClient

from statscache.plugin import discover
from statscache.store import Store
from statscache.web import create_app

START = 1_700_006_400  # a midnight, UTC


def build(url: str, days: float, categories: int, seed: int = 1) -> dict[str, int]:
    """Fill both statistics' tables directly (the flush is not what is measured); rows per ident."""
    plugins = {cls.ident: cls for cls in discover()}
    chosen = [plugins["volume-by-category-1m"], plugins["volume-1m"]]
    rng = random.Random(seed)
    rates = [3.0 / (rank + 1) for rank in range(categories)]  # Zipf: the first busy, the last rare
    keyed, totals = [], []
    for minute in range(int(days * 1440)):
        bucket = START + minute * 60
        total = 0
        for rank, rate in enumerate(rates):
            count = sum(1 for _ in range(6) if rng.random() < rate / 6)
            if count:
                keyed.append({"bucket": bucket, "key": f"category-{rank:02d}", "count": count, "created": 0.0})
                total += count
        if total:
            totals.append({"bucket": bucket, "count": total, "created": 0.0})
    with Store(url) as store:
        store.prepare(chosen)
        with store.engine.begin() as connection:
            connection.execute(store.table(chosen[0]).insert(), keyed)
            connection.execute(store.table(chosen[1]).insert(), totals)
    return {chosen[0].ident: len(keyed), chosen[1].ident: len(totals)}


def timed(ask: Callable[[], bytes]) -> tuple[float, int]:
    began = time.perf_counter()
    body = ask()
    return time.perf_counter() - began, len(body)


def measure(client: FlaskClient, query: str, seconds: float) -> dict[str, tuple[float, int, int]]:
    """p50 seconds, body bytes and samples per format, the two formats alternating."""
    samples: dict[str, list[float]] = {"json": [], "svg": []}
    sizes: dict[str, int] = {}

    def ask(fmt: str) -> bytes:
        response = client.get(f"{query}&format={fmt}")
        assert response.status_code == 200, response.data[:200]
        return response.data

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline or min(len(s) for s in samples.values()) < 3:
        for fmt in samples:
            took, size = timed(lambda fmt=fmt: ask(fmt))  # type: ignore[misc]
            samples[fmt].append(took)
            sizes[fmt] = size
    return {fmt: (statistics.median(times), sizes[fmt], len(times)) for fmt, times in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=3.0, help="days of 1-minute buckets (default 3)")
    parser.add_argument("--categories", type=int, default=20, help="categories (default 20)")
    parser.add_argument("--seconds", type=float, default=10.0, help="time per query (default 10)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="statscache-chart-bench-") as scratch:
        url = f"sqlite:///{Path(scratch) / 'chart.db'}"
        counts = build(url, args.days, args.categories)
        most = max(counts.values())
        app = create_app(url, MAX_ROWS_PER_PAGE=most, MAX_CHART_ROWS=most)
        client = app.test_client()
        stop = START + int(args.days * 86400)
        print(f"window: {args.days:g} days of 1-minute buckets, {args.categories} categories")
        print(f"{'query':<58} {'rows':>7} {'json ms':>8} {'svg ms':>8} {'svg/json':>8} {'json KB':>8} {'svg KB':>7}")
        for ident, extra in (
            ("volume-by-category-1m", ""),
            ("volume-1m", ""),
            ("volume-1m", "&sparkline=1"),
            ("volume-by-category-1m", "&resolution=1h"),
        ):
            query = f"/api/{ident}?start={START}&stop={stop}&rows_per_page={most}{extra}"
            result = measure(client, query, args.seconds)
            rows = counts[ident] if "resolution" not in extra else int(client.get(query).headers["X-Total-Count"])
            (json_s, json_b, _), (svg_s, svg_b, _) = result["json"], result["svg"]
            shown = f"{ident}{extra}"
            print(
                f"{shown:<58} {rows:>7} {json_s * 1000:>8.1f} {svg_s * 1000:>8.1f} {svg_s / json_s:>8.2f}"
                f" {json_b / 1024:>8.0f} {svg_b / 1024:>7.0f}"
            )
        app.extensions["statscache"].store.close()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
