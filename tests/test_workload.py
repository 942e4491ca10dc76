"""The benchmark workload generator (bench/workload.py) against its documented targets.

The targets are recomputed here from the corpus files and the documented model (Zipf over
the ranking table; a 3:1 daily sinusoid peaking at 15:00 UTC; weekends at 0.6), not taken
from the generator's own weights or rate function.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from statscache.message import Message
from statscache.sources.file import read

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import workload  # noqa: E402

CORPUS = Path(__file__).parent / "corpus"
COUNT = 120_000
DAYS = 28  # four whole weeks from a Monday
MONDAY = 1_699_833_600.0  # 2023-11-13 00:00 UTC
PEAK, TROUGH, PEAK_RATIO, WEEKEND_RATIO = 15, 3, 3.0, 0.6


def canonical(body: Any) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def corpus_bodies() -> dict[str, set[bytes]]:
    """Every topic of the corpus with the bodies it carries (read with the standard json module)."""
    found: dict[str, set[bytes]] = {}
    for name in ("fedmsg.jsonl", "fedora_messaging.jsonl"):
        for line in (CORPUS / name).read_text().splitlines():
            record = json.loads(line)
            body = record.get("msg", record.get("body"))
            if isinstance(record.get("topic"), str) and isinstance(body, dict):
                found.setdefault(record["topic"], set()).add(canonical(body))
    return found


def chi_square_limit(df: int, z: float = 3.29) -> float:
    """The chi-square value exceeded with probability about 0.0005 (Wilson-Hilferty)."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def chi_square(observed: Counter[Any], expected: dict[Any, float]) -> float:
    return sum((observed[key] - want) ** 2 / want for key, want in expected.items())


@pytest.fixture(scope="module")
def sample() -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in workload.messages(COUNT, days=DAYS, start=MONDAY, seed=7)]


def test_ids_are_fresh_and_unique(sample: list[dict[str, Any]]) -> None:
    ids = {record["msg_id"] for record in sample}
    assert len(ids) == COUNT
    other = {orjson.loads(line)["msg_id"] for line in workload.messages(1000, days=DAYS, start=MONDAY, seed=8)}
    assert not ids & other


def test_timestamps_are_sorted_within_the_span(sample: list[dict[str, Any]]) -> None:
    stamps = [record["timestamp"] for record in sample]
    assert stamps == sorted(stamps)
    assert MONDAY <= stamps[0] and stamps[-1] < MONDAY + DAYS * 86400
    assert stamps[0] < MONDAY + 3600 and stamps[-1] > MONDAY + DAYS * 86400 - 3600  # the whole span is used


def test_bodies_and_topics_are_the_corpus_own(sample: list[dict[str, Any]]) -> None:
    bodies = corpus_bodies()
    strangers = [r["topic"] for r in sample if canonical(r["msg"]) not in bodies.get(r["topic"], set())]
    assert not strangers
    assert len({record["topic"] for record in sample}) > 0.8 * len(bodies)  # most topics appear


def test_category_mix_follows_the_zipf_table(sample: list[dict[str, Any]]) -> None:
    corpus_categories = {topic.split(".")[3] for topic in corpus_bodies()}
    assert set(workload.RANKING) == corpus_categories and len(workload.RANKING) == len(corpus_categories)
    harmonic = sum(1 / rank for rank in range(1, len(workload.RANKING) + 1))
    share = {name: 1 / (rank * harmonic) for rank, name in enumerate(workload.RANKING, start=1)}
    assert share["buildsys"] == pytest.approx(0.222, abs=0.001)  # 1 / H(50)
    seen = Counter(record["topic"].split(".")[3] for record in sample)
    assert max(abs(seen[name] / COUNT - want) for name, want in share.items()) < 0.005
    expected = {name: want * COUNT for name, want in share.items()}
    assert chi_square(seen, expected) < chi_square_limit(len(share) - 1)


def weekday_hours(sample: list[dict[str, Any]]) -> Counter[int]:
    """Messages per UTC hour of the day, Mondays to Fridays only."""
    return Counter(int(r["timestamp"] % 86400 // 3600) for r in sample if (r["timestamp"] - MONDAY) // 86400 % 7 < 5)


def test_hourly_histogram_follows_the_daily_rhythm(sample: list[dict[str, Any]]) -> None:
    hours = weekday_hours(sample)
    assert max(hours, key=hours.__getitem__) in range(PEAK - 1, PEAK + 2)
    assert min(hours, key=hours.__getitem__) in range(TROUGH - 1, TROUGH + 2)
    assert hours[PEAK] / hours[TROUGH] == pytest.approx(PEAK_RATIO, rel=0.08)
    amplitude = (PEAK_RATIO - 1) / (PEAK_RATIO + 1)
    shape = {h: 1 + amplitude * math.cos(2 * math.pi * (h + 0.5 - PEAK) / 24) for h in range(24)}
    total = hours.total()
    expected = {h: total * weight / sum(shape.values()) for h, weight in shape.items()}
    assert chi_square(hours, expected) < chi_square_limit(23)


def test_weekends_dip(sample: list[dict[str, Any]]) -> None:
    days = Counter(int((record["timestamp"] - MONDAY) // 86400 % 7) for record in sample)
    weekday = sum(days[d] for d in range(5)) / 5
    weekend = (days[5] + days[6]) / 2
    assert weekend / weekday == pytest.approx(WEEKEND_RATIO, rel=0.03)


def test_uniform_traffic_would_fail_these_checks() -> None:
    """The checks above can fail: uniform times and corpus frequencies are far from the targets."""
    flat = Counter({h: 1000 for h in range(24)})
    shape = {h: 1 + 0.5 * math.cos(2 * math.pi * (h + 0.5 - PEAK) / 24) for h in range(24)}
    expected = {h: 24_000 * w / sum(shape.values()) for h, w in shape.items()}
    assert chi_square(flat, expected) > chi_square_limit(23)


def test_same_seed_same_lines_and_any_size_streams() -> None:
    first = list(itertools.islice(workload.messages(10_000, days=3, seed=5), 50))
    assert first == list(itertools.islice(workload.messages(10_000, days=3, seed=5), 50))
    assert first != list(itertools.islice(workload.messages(10_000, days=3, seed=6), 50))
    began = time.perf_counter()
    huge = list(itertools.islice(workload.messages(10**12, days=30), 1000))  # a trillion: never materialised
    assert time.perf_counter() - began < 10 and len(huge) == 1000


def test_cli_writes_gzip_lines_replay_accepts(tmp_path: Path) -> None:
    out = tmp_path / "w.jsonl.gz"
    workload.main(["--messages", "2000", "--days", "2", "--seed", "3", "--out", str(out)])
    items = list(read(str(out)))
    assert len(items) == 2000 and all(isinstance(item, Message) for item in items)
    assert [item.id for item in items] == [orjson.loads(line)["msg_id"] for line in workload.messages(2000, 2, seed=3)]
