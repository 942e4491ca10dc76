"""Back-fill: fetch what each statistic missed, so a restart or a new statistic leaves no hole.

Each plugin has a *checkpoint*: the time up to which it is known complete. A
back-fill runs from it (or, for a plugin that has none, from the requested
start, never earlier than its ``backlog_delta``) to the moment live
consumption began. Plugins that start at the same time form one range, fetched
once and counted into just them. A range is cut into windows; a few windows are
in flight at once, each read page by page; a window datagrepper cannot serve
(502/504/timeout) is halved; one that still fails is recorded as a *gap*, and
the checkpoint never passes it. Every message is counted once per plugin by the
ledger, so windows that overlap, a rerun after an interruption, or live traffic
arriving at the same time never count anything twice.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from statscache.buckets import iso
from statscache.message import Message, Rejected
from statscache.pipeline import Pipeline, Settings
from statscache.plugin import Plugin
from statscache.sources.datagrepper import WindowFailed
from statscache.store import Store

log = logging.getLogger(__name__)
Fetch = Callable[[float, float], list[Message | Rejected]]


@dataclass(frozen=True)
class Range:
    """A span of history that a group of plugins is missing."""

    start: float
    end: float
    plugins: tuple[type[Plugin], ...]

    @property
    def idents(self) -> list[str]:
        """The plugins' idents."""
        return [plugin.ident for plugin in self.plugins]


@dataclass
class Report:
    """What a back-fill did."""

    messages: int = 0
    accepted: int = 0
    windows: int = 0
    gaps: list[tuple[float, float, str]] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the command line and the log."""
        gaps = f", {len(self.gaps)} gaps (see statscache status)" if self.gaps else ", no gap"
        return f"{self.windows} windows, {self.messages} messages read, {self.accepted} new{gaps}"


def plan(
    store: Store, classes: Iterable[type[Plugin]], until: float, since: float | None = None, default: float = 0.0
) -> list[Range]:
    """The ranges to fetch: each plugin from its checkpoint (else ``since``, else ``default``),
    never before ``since`` nor before ``until - backlog_delta``, grouped by start."""
    state = store.plugin_state()
    starts: dict[float, list[type[Plugin]]] = {}
    for plugin in classes:
        checkpoint = state.get(plugin.ident, {}).get("checkpoint")
        start = checkpoint if checkpoint is not None else (since if since is not None else default)
        if since is not None:
            start = max(start, since)
        if plugin.backlog_delta is not None:
            start = max(start, until - plugin.backlog_delta.total_seconds())
        if start < until:
            starts.setdefault(start, []).append(plugin)
    return [Range(start, until, tuple(plugins)) for start, plugins in sorted(starts.items())]


class Backfill:
    """Runs ranges of windows through a pipeline of just the range's plugins."""

    def __init__(
        self,
        store: Store,
        fetch: Fetch,
        *,
        window: float = 3600.0,
        min_window: float = 60.0,
        concurrency: int = 2,
        progress: Callable[[int, int], None] | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self.store, self.fetch = store, fetch
        self.window, self.min_window, self.concurrency = window, min_window, concurrency
        self.progress = progress or (lambda messages, windows: None)
        self.stopping = stopping or threading.Event()
        self.report = Report()

    def run(self, ranges: Sequence[Range]) -> Report:
        """Fetch and count every range, oldest first."""
        for span in ranges:
            if self.stopping.is_set():
                break
            log.info("back-filling %s for %s", _span(span.start, span.end), ", ".join(span.idents))
            self._run(span)
        return self.report

    def _run(self, span: Range) -> None:
        pipeline = Pipeline(self.store, [plugin() for plugin in span.plugins], Settings(flush_interval=math.inf))
        todo = _cut(span.start, span.end, self.window)
        done: dict[float, float] = {}
        failed = False
        frontier = span.start
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="statscache-backfill") as pool:
            running: dict[Future[list[Message | Rejected]], tuple[float, float]] = {}
            while (todo or running) and not self.stopping.is_set():
                while todo and len(running) < self.concurrency:
                    start, end = todo.pop(0)
                    running[pool.submit(self.fetch, start, end)] = (start, end)
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=lambda f: running[f][0]):
                    start, end = running.pop(future)
                    try:
                        items = future.result()
                    except WindowFailed as error:
                        if error.overloaded and end - start > self.min_window:
                            middle = (start + end) / 2
                            todo[:0] = [(start, middle), (middle, end)]  # halve it and try again
                            log.info("datagrepper struggled with %s (%s); halving it", _span(start, end), error.reason)
                            continue
                        failed = True
                        self._gap(span, start, end, error.reason)
                        continue
                    self._count(pipeline, items)
                    done[start] = end
                    while frontier in done:
                        frontier = done.pop(frontier)
                    self.store.advance_checkpoint(span.idents, frontier)  # never past a gap
        pipeline.close()
        if not failed and frontier >= span.end:
            self.store.clear_gaps(span.idents, span.start, span.end)

    def _count(self, pipeline: Pipeline, items: list[Message | Rejected]) -> None:
        before = pipeline.stats.accepted
        pipeline.feed(items)
        pipeline.flush()  # commit the window before the checkpoint passes it
        self.report.messages += len(items)
        self.report.accepted += pipeline.stats.accepted - before
        self.report.windows += 1
        self.progress(len(items), 1)

    def _gap(self, span: Range, start: float, end: float, reason: str) -> None:
        log.error("gap: %s could not be fetched (%s); checkpoints stay before it", _span(start, end), reason)
        self.store.record_gap(span.idents, start, end, reason)
        self.report.gaps.append((start, end, reason))


def _cut(start: float, end: float, size: float) -> list[tuple[float, float]]:
    """Consecutive windows of at most ``size`` seconds covering ``[start, end]``."""
    edges = [start + size * step for step in range(math.ceil((end - start) / size))] + [end]
    return [(low, high) for low, high in zip(edges, edges[1:], strict=False) if high > low]


def _span(start: float, end: float) -> str:
    return f"{iso(start)}..{iso(end)}"
