"""Time buckets: UTC, aligned to the Unix epoch, labelled by their start."""

from __future__ import annotations

import time
from datetime import timedelta

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# 1970-01-01 was a Thursday; the first Monday 00:00 UTC is four days later.
MONDAY_OFFSET = 4 * 86400


def bucket_start(epoch: float, seconds: int, offset: int = 0) -> int:
    """The start (epoch seconds) of the ``seconds``-long bucket holding ``epoch``."""
    return int((epoch - offset) // seconds) * seconds + offset


def iso(epoch: float | None) -> str:
    """``2024-01-01T00:00:00Z`` for log lines and summaries (``-`` for None)."""
    return "-" if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def label(resolution: timedelta) -> str:
    """A short, stable label for a resolution: ``1s``, ``5s``, ``1m``, ``1h``, ``1d``, ``1w``."""
    seconds = int(resolution.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_duration(text: str) -> int | None:
    """Seconds in ``3600``, ``1h``, ``15s`` or ``2w``; None when it is not a positive duration."""
    text = text.strip()
    try:
        seconds = int(text[:-1]) * UNITS[text[-1]] if text[-1:] in UNITS else int(text)
    except ValueError:
        return None
    return seconds if seconds > 0 else None
