"""The pipeline: buffer normalised messages and flush them into the store.

Messages wait in memory until a flush: every ``flush_interval`` seconds, as
soon as ``max_pending`` messages wait (so memory stays bounded on any input),
and at close. A flush is one transaction; only after it commits are the
messages handed to ``on_commit`` (where a source acknowledges them).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from statscache.message import Message, Rejected
from statscache.plugin import Plugin
from statscache.store import Store

log = logging.getLogger(__name__)


@dataclass
class Stats:
    """Running totals of what the pipeline saw."""

    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        """One line: accepted, duplicates, rejected per reason."""
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(self.rejected.items())) or "none"
        return f"accepted {self.accepted}, duplicates {self.duplicates}, rejected {self.rejected.total()} ({reasons})"


@dataclass
class Settings:
    """How often and how much to flush."""

    flush_interval: float = 1.0
    max_pending: int = 10_000
    seen_retention: float | None = 30 * 86400.0
    prune_every: float = 3600.0


class Pipeline:
    """Hands messages to plugins through the store, one flush at a time."""

    def __init__(
        self,
        store: Store,
        plugins: Sequence[Plugin],
        settings: Settings | None = None,
        on_commit: Callable[[list[Message]], None] | None = None,
    ) -> None:
        self.store = store
        self.plugins = list(plugins)
        self.settings = settings or Settings()
        self.on_commit = on_commit
        self.stats = Stats()
        self._pending: dict[str, Message] = {}
        self._last_flush = time.monotonic()
        self._last_prune = time.monotonic()

    @property
    def pending(self) -> int:
        """How many messages wait for the next flush."""
        return len(self._pending)

    def add(self, message: Message) -> None:
        """Queue a message for the next flush (the caller calls :meth:`maybe_flush`)."""
        if message.id in self._pending:
            self.stats.duplicates += 1
        else:
            self._pending[message.id] = message

    def reject(self, reason: str) -> None:
        """Count input that could not become a message."""
        self.stats.rejected[reason] += 1

    def feed(self, items: Iterable[Message | Rejected]) -> None:
        """Add every message, count every rejection, flushing whenever one is due."""
        for item in items:
            if isinstance(item, Rejected):
                self.reject(item.reason)
                log.info("rejected: %s", item)
            else:
                self.add(item)
                self.maybe_flush()

    def due(self) -> bool:
        """Whether enough messages wait or the flush interval has passed."""
        waited = time.monotonic() - self._last_flush
        return self.pending >= self.settings.max_pending or waited >= self.settings.flush_interval

    def maybe_flush(self) -> None:
        """Flush if one is due."""
        if self.due():
            self.flush()

    def flush(self) -> None:
        """Write every pending message in one transaction, then report them committed."""
        batch = list(self._pending.values())
        self._last_flush = time.monotonic()
        if batch:
            started = time.perf_counter()
            result = self.store.flush(batch, self.plugins)
            self._pending.clear()
            self.stats.accepted += result.accepted
            self.stats.duplicates += result.duplicates
            log.debug(
                "flushed %d messages (%d new, %d duplicates) in %.3fs",
                len(batch),
                result.accepted,
                result.duplicates,
                time.perf_counter() - started,
            )
            if self.on_commit is not None:
                self.on_commit(batch)
        self._maybe_prune()

    def _maybe_prune(self) -> None:
        retention = self.settings.seen_retention
        if retention is None or time.monotonic() - self._last_prune < self.settings.prune_every:
            return
        self._last_prune = time.monotonic()
        self.store.prune(retention)

    def close(self) -> None:
        """Flush what is left."""
        self.flush()
