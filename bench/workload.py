"""Generate a Fedora-like replay workload: real corpus bodies, fresh ids, a daily rhythm.

Every generated message copies the topic and body of a real message of the corpus
(``tests/corpus``) and gets a fresh UUID, so the ledger sees each one as new. What is
modelled is the traffic:

* **Topic mix — a documented table, not the corpus's frequencies.** The corpus is a
  collection of test fixtures, so its per-category counts say which projects wrote
  tests, not how busy they are (``compose`` is its largest category). Categories
  (datanommer's: ``topic.split('.')[3]``) are instead ranked by ``RANKING``, an estimate
  of Fedora's bus with builds, packaging and CI busiest (the order ``bench/api.py`` uses,
  then the corpus's remaining categories by corpus frequency), and weighted by Zipf's law:
  the category of rank *r* gets ``1/r`` of the weight, so ``buildsys`` carries 22% of the
  messages and the quietest 0.4%. Within a category every corpus message is equally
  likely, so its topics keep their corpus proportions.
* **Daily and weekly rhythm.** The rate over the UTC day is a sinusoid peaking at
  ``PEAK_HOUR`` (15:00 UTC: European afternoon, US East morning) with relative amplitude
  ``AMPLITUDE``: the peak hour is ``(1 + A) / (1 - A)`` = 3 times as busy as the 03:00
  trough. Saturdays and Sundays run at ``WEEKEND`` (0.6) of a weekday's rate.
* **Timestamps** are sorted and lie in ``[start, start + days)``, with density
  proportional to that rate. They are drawn as sorted uniforms one at a time (the
  minimum of the ones left, so nothing is held in memory) and mapped through the
  rate's cumulative distribution on a one-minute grid.

Any number of messages streams out in constant memory (beside the one-minute grid);
the same seed gives the same lines. Lines are datagrepper's raw shape, which
``statscache replay`` reads::

    python bench/workload.py --messages 1000000 --days 30 --seed 1 --out month.jsonl.gz
"""

from __future__ import annotations

import argparse
import gzip
import io
import math
import random
import uuid
from array import array
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

import orjson

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus"
SOURCES = ("fedmsg.jsonl", "fedora_messaging.jsonl")
START = 1_699_833_600.0  # Monday 2023-11-13 00:00 UTC
DAY = 86400.0
PEAK_HOUR = 15.0  # UTC
AMPLITUDE = 0.5  # peak hour / trough hour = (1 + A) / (1 - A) = 3
WEEKEND = 0.6  # Saturday and Sunday rate / weekday rate
GRID = 60.0  # seconds per cell of the rate's cumulative distribution
# Fedora's bus, busiest first (an estimate: bench/api.py's order, then the rest of the corpus by frequency).
RANKING = (
    "buildsys", "copr", "pagure", "bodhi", "git", "ci", "github", "ansible", "fas", "mailman",
    "anitya", "meetbot", "pungi", "hotness", "fedoratagger", "pkgdb", "trac", "askbot", "bugzilla", "openqa",
    "compose", "forgejo", "fedbadges", "wiki", "jenkins", "nagios", "mbs", "greenwave", "fedimg", "pdc",
    "kerneltest", "koschei", "fmn", "releng", "odcs", "waiverdb", "autocloud", "irc", "planet", "mdapi",
    "nuancier", "rats", "fedora_elections", "summershum", "allpackages", "datanommer", "fedocal", "faf",
    "infragit", "taskotron",
)  # fmt: skip


def category(topic: str) -> str:
    """datanommer's category of a topic."""
    parts = topic.split(".")
    return parts[3] if len(parts) > 3 else "Unclassified"


def templates() -> list[dict[str, Any]]:
    """The corpus messages that carry a topic and a body object."""
    found = []
    for name in SOURCES:
        for line in (CORPUS / name).read_bytes().splitlines():
            record = orjson.loads(line)
            body = record.get("msg", record.get("body"))
            if isinstance(record.get("topic"), str) and isinstance(body, dict):
                found.append(record)
    return found


def weights() -> dict[str, float]:
    """The target share of each category: Zipf (1/rank) over ``RANKING``, summing to 1."""
    raw = {name: 1 / rank for rank, name in enumerate(RANKING, start=1)}
    total = sum(raw.values())
    return {name: weight / total for name, weight in raw.items()}


@dataclass(frozen=True)
class Mix:
    """Categories with their cumulative weights, and each one's corpus messages ``(topic, body JSON)``."""

    names: tuple[str, ...]
    cumulative: tuple[float, ...]
    members: dict[str, list[tuple[str, orjson.Fragment]]]

    @classmethod
    def from_corpus(cls) -> Mix:
        """The corpus grouped by category, weighted by ``weights()``; fails if ``RANKING`` misses one."""
        members: dict[str, list[tuple[str, orjson.Fragment]]] = {}
        for record in templates():
            body = orjson.Fragment(orjson.dumps(record.get("msg", record.get("body"))))
            members.setdefault(category(record["topic"]), []).append((record["topic"], body))
        if missing := set(members) ^ set(RANKING):
            raise ValueError(f"RANKING and the corpus's categories differ: {sorted(missing)}")
        share = weights()
        return cls(RANKING, tuple(accumulate(share[name] for name in RANKING)), members)

    def pick(self, rng: random.Random) -> tuple[str, orjson.Fragment]:
        """A corpus message: its category by weight, then one of the category's messages."""
        index = min(bisect_right(self.cumulative, rng.random() * self.cumulative[-1]), len(self.names) - 1)
        return rng.choice(self.members[self.names[index]])


def rate(moment: float) -> float:
    """The relative message rate at epoch second ``moment``: daily sinusoid, weekend dip."""
    hour = (moment % DAY) / 3600
    daily = 1 + AMPLITUDE * math.cos(2 * math.pi * (hour - PEAK_HOUR) / 24)
    weekday = (int(moment // DAY) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    return daily * (WEEKEND if weekday >= 5 else 1.0)


def cumulative_rate(start: float, span: float) -> tuple[array[float], float]:
    """The rate's integral at the edges of equal cells (about ``GRID`` s) over the span; and the cell width."""
    cells = max(1, math.ceil(span / GRID))
    width = span / cells
    edges = array("d", [0.0])
    edges.extend(accumulate(rate(start + (k + 0.5) * width) * width for k in range(cells)))
    return edges, width


def sorted_uniforms(count: int, rng: random.Random) -> Iterator[float]:
    """``count`` sorted uniforms on [0, 1), one at a time: each the minimum of the ones left."""
    value = 0.0
    for left in range(count, 0, -1):
        value += (1 - value) * -math.expm1(math.log(1 - rng.random()) / left)
        yield min(value, math.nextafter(1.0, 0.0))


def timestamps(count: int, start: float, span: float, rng: random.Random) -> Iterator[float]:
    """``count`` sorted times in ``[start, start + span)`` with density proportional to :func:`rate`."""
    edges, width = cumulative_rate(start, span)
    cell = 0
    for uniform in sorted_uniforms(count, rng):
        target = uniform * edges[-1]
        while cell < len(edges) - 2 and edges[cell + 1] <= target:
            cell += 1
        inside = (target - edges[cell]) / (edges[cell + 1] - edges[cell])
        yield min(start + (cell + inside) * width, math.nextafter(start + span, start))


def messages(count: int, days: float = 30.0, start: float = START, seed: int = 1) -> Iterator[bytes]:
    """``count`` JSON lines in datagrepper's raw shape, in time order over ``days`` from ``start``."""
    rng = random.Random(seed)
    mix = Mix.from_corpus()
    for moment in timestamps(count, start, days * DAY, rng):
        topic, body = mix.pick(rng)
        msg_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        yield orjson.dumps({"msg_id": msg_id, "topic": topic, "timestamp": moment, "msg": body})


def opened(path: Path) -> gzip.GzipFile | io.BufferedWriter:
    """``path`` opened for writing, gzip-compressed when it ends in ``.gz``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        return gzip.GzipFile(path, "wb", compresslevel=1)  # fast: the lines compress well anyway
    return path.open("wb")


def write(path: Path, count: int, days: float = 30.0, seed: int = 1, start: float = START) -> Path:
    """Write the workload as JSON lines (gzip when ``path`` ends in ``.gz``)."""
    with opened(path) as out:
        for line in messages(count, days, start, seed):
            out.write(line + b"\n")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000, help="how many (default 200,000)")
    parser.add_argument("--days", type=float, default=30.0, help="the span of the timestamps (default 30)")
    parser.add_argument("--seed", type=int, default=1, help="the same seed gives the same lines (default 1)")
    parser.add_argument("--start", type=float, default=START, help="epoch seconds (default Monday 2023-11-13 UTC)")
    parser.add_argument("--out", type=Path, required=True, help="file.jsonl or file.jsonl.gz")
    args = parser.parse_args(argv)
    write(args.out, args.messages, args.days, args.seed, args.start)


if __name__ == "__main__":
    main()
