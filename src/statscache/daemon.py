"""The daemon: sources in, flushes out, acknowledgements only after commit.

One thread runs the loop: poll each source (which hands messages to the
pipeline), flush when due, and after a flush commits tell the sources, so the
AMQP source acknowledges exactly what was counted. A flush the database refuses
keeps its messages pending (unacknowledged) and is retried with backoff. On
SIGTERM or SIGINT it stops consuming, flushes, acknowledges and exits.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError

from statscache import retention
from statscache.backfill import Backfill, plan
from statscache.config import Config
from statscache.health import HealthServer, Metrics
from statscache.message import Message, Rejected
from statscache.pipeline import Pipeline, Settings
from statscache.plugin import Plugin, discover
from statscache.sources.amqp import AmqpSource
from statscache.sources.backoff import Backoff
from statscache.sources.datagrepper import ClientSettings, DatagrepperClient
from statscache.sources.zmq import ZmqSource
from statscache.store import Store, StoreError, first_line

log = logging.getLogger(__name__)
SHUTDOWN_BUDGET = 4.0  # seconds for the last flush, within the 5 s a service manager allows
LIVE_MARGIN = 300.0  # seconds a live message may be late or its sender's clock behind


class Source(Protocol):
    """What the daemon needs of a source."""

    name: str

    @property
    def consuming(self) -> bool: ...

    def poll(self, timeout: float) -> None: ...

    def commit(self) -> None: ...

    def close(self) -> None: ...


class Daemon:
    """Owns the store, the plugins, the sources and the flush schedule."""

    def __init__(self, config: Config, classes: list[type[Plugin]] | None = None) -> None:
        self.config = config
        self.classes = classes if classes is not None else discover()
        self.store = Store(config.db_url)
        self.metrics = Metrics()
        settings = Settings(
            flush_interval=config.flush_interval,
            max_pending=self._max_pending(config),
            seen_retention=config.seen_retention_days * 86400,
        )
        self.pipeline = Pipeline(self.store, [cls() for cls in self.classes], settings, on_commit=self._committed)
        self.sources: list[Source] = []
        if config.amqp_enabled:
            self.sources.append(AmqpSource(config.amqp, self.receive))
        if config.zmq.endpoints:
            self.sources.append(ZmqSource(config.zmq, self.receive))
        self.stopping = threading.Event()
        self.backfill: Backfill | None = None
        self.backfilled: set[str] = set()  # plugins whose history is complete up to live start
        self.backfilled_lock = threading.Lock()  # the back-fill thread adds, the loop reads
        self.retry = Backoff()
        self.last_flush: float | None = None
        self.health: HealthServer | None = None

    @staticmethod
    def _max_pending(config: Config) -> int:
        """Flush as soon as the broker has sent all it will before an acknowledgement.

        The broker stops at ``prefetch_count`` unacknowledged messages, and they are
        acknowledged only by a flush: waiting for the timer then would idle.
        """
        prefetch = int(config.amqp.qos.get("prefetch_count") or 0)
        if config.amqp_enabled and 0 < prefetch < config.max_pending:
            return prefetch
        return config.max_pending

    def receive(self, item: Message | Rejected) -> None:
        """A source hands over one message (or a rejection)."""
        self.metrics.received.inc()
        if isinstance(item, Rejected):
            self.metrics.rejected.labels(item.reason).inc()
            self.pipeline.reject(item.reason)
            return
        self.pipeline.add(item)
        self.metrics.last_message.set(item.epoch)

    def run(self) -> int:
        """Run until a signal; the process exit status."""
        if not self.sources:
            log.error("no source configured: enable [amqp] or list [zmq] endpoints")
            return 2
        self._handle_signals()
        self._start_health()
        try:
            if not self._prepare():
                return 1
            log.info("running %d statistics from %s", len(self.classes), ", ".join(s.name for s in self.sources))
            self._start_backfill()
            self._start_retention()
            while not self.stopping.is_set():
                for source in self.sources:
                    source.poll(0.1 / len(self.sources))
                self.metrics.pending.set(self.pipeline.pending)
                if self.pipeline.due() and self.retry.due():
                    self.flush()
            return self._shutdown()
        finally:
            if self.health is not None:
                self.health.stop()
            self.store.close()

    def stop(self) -> None:
        """Ask the loop to finish (what a signal does)."""
        self.stopping.set()

    def flush(self) -> bool:
        """Flush now; on a database failure keep the messages pending and schedule a retry."""
        before = (self.pipeline.stats.accepted, self.pipeline.stats.duplicates)
        started = time.perf_counter()
        try:
            self.pipeline.flush()
        except (SQLAlchemyError, StoreError) as error:
            self.metrics.flush_failures.inc()
            log.warning(
                "flush failed, %d messages stay pending and unacknowledged (%s); retrying in %.1fs",
                self.pipeline.pending,
                first_line(error),
                self.retry.failed(),
            )
            return False
        self.retry.succeeded()
        self.metrics.flush_seconds.observe(time.perf_counter() - started)
        self.metrics.accepted.inc(self.pipeline.stats.accepted - before[0])
        self.metrics.duplicates.inc(self.pipeline.stats.duplicates - before[1])
        return True

    def health_report(self) -> dict[str, Any]:
        """Consuming, database reachable, age of the last flush."""
        try:
            self.store.check()
            database = True
        except StoreError:
            database = False
        consuming = {source.name: source.consuming for source in self.sources}
        age = None if self.last_flush is None else round(time.time() - self.last_flush, 3)
        backfill = None if self.backfill is None else self.backfill.report
        return {
            "healthy": database and all(consuming.values()),
            "consuming": consuming,
            "database": database,
            "last_flush_age_seconds": age,
            "pending": self.pipeline.pending,
            "backfill": None if backfill is None else {"messages": backfill.messages, "gaps": len(backfill.gaps)},
        }

    def _committed(self, batch: list[Message]) -> None:
        self.last_flush = time.time()
        self.metrics.last_flush.set(self.last_flush)
        for source in self.sources:
            source.commit()
        with self.backfilled_lock:
            complete = sorted(self.backfilled)
        if complete and batch:
            # live messages arrive about in order: all sent before the newest counted one,
            # less a margin for clock skew and stragglers, are counted too
            try:
                self.store.advance_checkpoint(complete, max(m.epoch for m in batch) - LIVE_MARGIN)
            except SQLAlchemyError as error:  # the flush itself committed; the next one advances it
                log.warning("could not advance checkpoints: %s", first_line(error))

    def _start_backfill(self) -> None:
        """Back-fill, beside live consumption, what each statistic missed before now."""
        if not self.config.backfill:
            return
        started = time.time()
        ranges = plan(self.store, self.classes, started, default=started - self.config.backfill_days * 86400)
        complete = {plugin.ident for plugin in self.classes} - {i for r in ranges for i in r.idents}
        with self.backfilled_lock:
            self.backfilled.update(complete)
        if not ranges:
            return
        client = DatagrepperClient(ClientSettings(url=self.config.datagrepper_url))
        self.backfill = Backfill(self.store, client.window, stopping=self.stopping)
        report = self.backfill.report
        self.metrics.backfill_messages.set_function(lambda: report.messages)
        self.metrics.backfill_gaps.set_function(lambda: len(report.gaps))

        def work() -> None:
            try:
                assert self.backfill is not None
                for span in ranges:
                    gaps = len(self.backfill.report.gaps)
                    self.backfill.run([span])
                    if len(self.backfill.report.gaps) == gaps and not self.stopping.is_set():
                        with self.backfilled_lock:
                            self.backfilled.update(span.idents)
                log.info("back-fill finished: %s", self.backfill.report.summary())
            except Exception:  # noqa: BLE001 - the live side goes on; the checkpoints tell what is missing
                log.exception("back-fill stopped")
            finally:
                client.close()

        threading.Thread(target=work, name="statscache-backfill", daemon=True).start()

    def _start_retention(self) -> None:
        """Every ``retention_interval`` seconds, from start-up on, trim what the policy limits."""
        interval = self.config.retention_interval
        if not interval:
            return
        policy = self.config.policy

        def work() -> None:
            while not self.stopping.is_set():
                try:
                    retention.enforce(self.store, self.classes, policy, time.time())
                except Exception as error:  # noqa: BLE001 - counting goes on; the next round tries again
                    log.warning("retention failed: %s; retrying in %.0fs", first_line(error), interval)
                self.stopping.wait(interval)

        threading.Thread(target=work, name="statscache-retention", daemon=True).start()

    def _prepare(self) -> bool:
        """Create or migrate the schema, waiting for the database if it is not up yet."""
        while not self.stopping.is_set():
            try:
                self.store.check()
                self.store.prepare(self.classes)
                self.retry.succeeded()
                return True
            except StoreError as error:
                delay = self.retry.failed()
                log.warning("%s; retrying in %.1fs", error, delay)
                self.stopping.wait(delay)
        return False

    def _shutdown(self) -> int:
        """Flush what is pending (within the budget), acknowledge it, close the sources."""
        deadline = time.monotonic() + SHUTDOWN_BUDGET
        done = self.flush()
        while not done and time.monotonic() + self.retry.base < deadline:
            time.sleep(min(self.retry.base, max(0.0, deadline - time.monotonic())))
            done = self.flush()
        for source in self.sources:
            source.close()
        if not done:
            log.error("stopped with %d messages not counted; the broker will redeliver them", self.pipeline.pending)
            return 1
        log.info("stopped: %s", self.pipeline.stats.summary())
        return 0

    def _handle_signals(self) -> None:
        def stop(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s; stopping", signal.Signals(signum).name)
            self.stop()

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)

    def _start_health(self) -> None:
        if self.config.health_port:
            try:
                self.health = HealthServer(
                    self.config.health_host, self.config.health_port, self.metrics, self.health_report
                )
            except OSError as error:
                log.error("cannot serve health on port %d: %s", self.config.health_port, error.strerror)
                return
            self.health.start()
