"""Every built-in statistic over the whole corpus equals an independent recomputation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import recompute as expect
from helpers import all_rows, builtin_classes, replay_files
from statscache.message import from_dict
from statscache.models import Window
from statscache.plugins.releng import ReleaseEngineeringEventLogs

FILES = ["fedmsg.jsonl", "fedora_messaging.jsonl", "fedmsg_variants.jsonl", "fedora_messaging_partial.jsonl"]
S, M, H, D, W = 1, 60, 3600, 86400, 604800


def users(record: dict[str, Any], *_: Any) -> frozenset[str]:
    return from_dict(record).usernames


def packages(record: dict[str, Any], *_: Any) -> frozenset[str]:
    return from_dict(record).packages


def pagure_project(body: dict[str, Any]) -> str | None:
    """Written afresh for the test: the first project-like object in the usual places."""
    places = [body, body.get("pullrequest"), body.get("issue"), body.get("commit")]
    for place in places:
        for key in ("project", "repo"):
            project = place.get(key) if isinstance(place, dict) else None
            if isinstance(project, dict):
                if project.get("fullname"):
                    return str(project["fullname"])
                if project.get("name"):
                    ns = project.get("namespace")
                    return f"{ns}/{project['name']}" if ns else str(project["name"])
    return None


def expected(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    pagure = [r for r in records if r["topic"].startswith("io.pagure.prod.")]
    out: dict[str, list[dict[str, Any]]] = {}
    for tag, size in (("1s", S), ("5s", 5 * S), ("15s", 15 * S), ("1m", M), ("1h", H), ("1d", D)):
        out[f"volume-{tag}"] = expect.volume(records, size)
    for tag, size in (("1s", S), ("15s", 15 * S), ("1m", M), ("1h", H), ("1d", D)):
        out[f"volume-by-category-{tag}"] = expect.keyed(records, size, "category", lambda r, t, b: [expect.category(t)])
    for tag, size in (("1m", M), ("1h", H), ("1d", D)):
        out[f"volume-by-topic-{tag}"] = expect.keyed(records, size, "topic", lambda r, t, b: [t])
    for tag, size in (("1h", H), ("1d", D)):
        out[f"volume-by-user-{tag}"] = expect.keyed(records, size, "user", users)
        out[f"volume-by-package-{tag}"] = expect.keyed(records, size, "package", packages)
    out["active-users-1d"] = expect.distinct(records, D, 0, users)
    out["active-users-1w"] = expect.distinct(records, W, expect.WEEK_START, users)
    out["pagure-contributions-1d"] = expect.volume(pagure, D)
    out["pagure-contributions-by-user-1d"] = expect.keyed(pagure, D, "user", users)
    out["pagure-contributions-by-project-1d"] = expect.keyed(
        pagure, D, "project", lambda r, t, b: [p for p in [pagure_project(b)] if p]
    )
    return out


def sort_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: [str(row[k]) for k in sorted(row)])


def newest_events(records: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[float, str]]:
    """Newest (epoch, id) per key, keys from the plugin's own ``events`` (its per-message input)."""
    plugin = ReleaseEngineeringEventLogs()
    newest: dict[tuple[str, str], tuple[float, str]] = {}
    for record in records:
        message = from_dict(record)
        for key in plugin.events(message):
            candidate = (message.epoch, message.id)
            if key not in newest or candidate > newest[key]:
                newest[key] = candidate
    return newest


@pytest.fixture(scope="module")
def records(corpus: Path) -> list[dict[str, Any]]:
    return expect.unique_records(corpus / name for name in FILES)


def test_every_builtin_is_checked(records: list[dict[str, Any]]) -> None:
    checked = set(expected(records)) | {"release-engineering-event-logs"}
    assert checked == {cls.ident for cls in builtin_classes()}


def test_statistics_equal_recomputation(db_url: str, corpus: Path, records: list[dict[str, Any]]) -> None:
    store, stats = replay_files(db_url, [corpus / name for name in FILES])
    assert stats.accepted == len(records)
    rows = all_rows(store)
    for ident, rows_expected in expected(records).items():
        assert sort_rows(rows[ident]) == sort_rows(rows_expected), ident
        assert rows_expected, f"{ident}: the corpus should give this statistic some rows"
    releng = {
        (r["category"], r["category_constraint"]): (r["timestamp"], r["message"]["id"])
        for r in rows["release-engineering-event-logs"]
    }
    assert releng == newest_events(records)
    assert releng, "the corpus holds compose events"


def test_rows_are_ordered_by_time(sqlite_url: str, corpus: Path) -> None:
    store, _ = replay_files(sqlite_url, [corpus / "fedmsg.jsonl"])
    cls = next(c for c in builtin_classes() if c.ident == "volume-by-category-1h")
    ascending = [row["timestamp"] for row in store.rows(cls)]
    descending = [row["timestamp"] for row in store.rows(cls, Window(descending=True))]
    assert ascending == sorted(ascending) and descending == sorted(ascending, reverse=True)
    middle = ascending[len(ascending) // 2]
    window = store.rows(cls, Window(start=middle, stop=middle + 3600))
    assert window and all(middle <= row["timestamp"] <= middle + 3600 for row in window)
