"""Independent recomputation of the built-in statistics, straight from JSON lines.

Written from the definitions in the issue and DESIGN.md, without calling the code
under test (except ``Message.usernames``/``packages`` as the per-message input of
the user and package statistics: the extractor has its own accuracy test).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

WEEK_START = 4 * 86400  # 1970-01-05, a Monday


def valid(record: Any) -> tuple[str, str, float, dict[str, Any], dict[str, Any]] | None:
    """(id, topic, epoch, body, headers) for a usable record, else None."""
    if not isinstance(record, dict):
        return None
    topic = record.get("topic")
    if not isinstance(topic, str) or not topic.strip():
        return None
    body = record["msg"] if "msg" in record else record.get("body")
    if not isinstance(body, dict):
        return None
    headers = record.get("headers") if isinstance(record.get("headers"), dict) else {}
    stamp = record.get("timestamp")
    if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
        epoch = float(stamp)
    elif isinstance(headers.get("sent-at"), str):
        epoch = datetime.fromisoformat(headers["sent-at"]).astimezone(timezone.utc).timestamp()
    else:
        return None
    ident = record.get("msg_id") or record.get("id")
    if not ident:
        canonical = json.dumps([topic, epoch, body], sort_keys=True, separators=(",", ":"))
        ident = "content:" + hashlib.sha1(canonical.encode()).hexdigest()
    return ident, topic, epoch, body, headers


def unique_records(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every usable record of the files, first occurrence of each id only."""
    seen: set[str] = set()
    kept = []
    for path in paths:
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            parsed = valid(record)
            if parsed is None or parsed[0] in seen:
                continue
            seen.add(parsed[0])
            kept.append(record)
    return kept


def start(epoch: float, seconds: int, offset: int = 0) -> int:
    return int((epoch - offset) // seconds) * seconds + offset


def category(topic: str) -> str:
    parts = topic.split(".")
    return parts[3] if len(parts) > 3 else "Unclassified"


def volume(records: list[dict[str, Any]], seconds: int) -> list[dict[str, Any]]:
    counts = Counter(start(valid(r)[2], seconds) for r in records)  # type: ignore[index]
    return [{"timestamp": b, "volume": n} for b, n in sorted(counts.items())]


def keyed(records: list[dict[str, Any]], seconds: int, name: str, keys_of: Any) -> list[dict[str, Any]]:
    counts: Counter[tuple[int, str]] = Counter()
    for record in records:
        ident, topic, epoch, body, headers = valid(record)  # type: ignore[misc]
        for key in set(keys_of(record, topic, body)):
            counts[start(epoch, seconds), key] += 1
    return [{"timestamp": b, name: k, "volume": n} for (b, k), n in sorted(counts.items())]


def distinct(records: list[dict[str, Any]], seconds: int, offset: int, members_of: Any) -> list[dict[str, Any]]:
    members: dict[int, set[str]] = defaultdict(set)
    for record in records:
        ident, topic, epoch, body, headers = valid(record)  # type: ignore[misc]
        members_here = set(members_of(record))
        if members_here:
            members[start(epoch, seconds, offset)] |= members_here
    return [{"timestamp": b, "users": len(m)} for b, m in sorted(members.items())]
