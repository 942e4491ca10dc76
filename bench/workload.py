"""Generate a replay workload: real bodies from the corpus, fresh ids, timestamps over a span."""

from __future__ import annotations

import argparse
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus"
SOURCES = ("fedmsg.jsonl", "fedora_messaging.jsonl")


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


def messages(count: int, days: float = 30.0, start: float = 1_700_000_000.0, seed: int = 1) -> Iterator[bytes]:
    """``count`` JSON lines in datagrepper's raw shape, timestamps spread over ``days``."""
    rng = random.Random(seed)
    pool = templates()
    span = days * 86400
    for _ in range(count):
        template = rng.choice(pool)
        body = template.get("msg", template.get("body"))
        yield orjson.dumps(
            {
                "msg_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "topic": template["topic"],
                "timestamp": round(start + rng.random() * span, 3),
                "msg": body,
            }
        )


def write(path: Path, count: int, days: float = 30.0, seed: int = 1) -> Path:
    """Write the workload as JSON lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for line in messages(count, days, seed=seed):
            out.write(line + b"\n")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--days", type=float, default=30.0)
    args = parser.parse_args()
    write(args.path, args.count, args.days)
