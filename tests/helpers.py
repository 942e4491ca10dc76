"""Small helpers shared by tests: replaying files and reading statistics back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from statscache.message import Message, Rejected
from statscache.pipeline import Pipeline, Settings, Stats
from statscache.plugin import Plugin, discover
from statscache.sources.file import read
from statscache.store import Store


def builtin_classes() -> list[type[Plugin]]:
    return discover()


def replay_messages(
    url: str,
    items: Iterable[Message | Rejected],
    classes: Sequence[type[Plugin]] | None = None,
    settings: Settings | None = None,
) -> tuple[Store, Stats]:
    """Count ``items`` into a database, as ``statscache replay`` does."""
    classes = list(classes if classes is not None else builtin_classes())
    store = Store(url)
    store.prepare(classes)
    pipeline = Pipeline(store, [cls() for cls in classes], settings or Settings(flush_interval=3600))
    pipeline.feed(items)
    pipeline.close()
    return store, pipeline.stats


def replay_files(url: str, paths: Iterable[Path], **kwargs: Any) -> tuple[Store, Stats]:
    return replay_messages(url, (item for path in paths for item in read(str(path))), **kwargs)


def same_rows(rows: Sequence[dict[str, Any]], want: Sequence[dict[str, Any]]) -> bool:
    """The same rows, whatever their order."""
    return sorted(map(repr, rows)) == sorted(map(repr, want))


def all_rows(store: Store, classes: Sequence[type[Plugin]] | None = None) -> dict[str, list[dict[str, Any]]]:
    return {cls.ident: store.rows(cls) for cls in (classes or builtin_classes())}
