"""The daemon's own health and metrics, served on a small HTTP port.

``GET /healthz`` answers 200 when every source consumes and the database
answers (503 otherwise) with the age of the last flush; ``GET /metrics`` is the
Prometheus exposition of :class:`Metrics`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

log = logging.getLogger(__name__)


class Metrics:
    """What the daemon counts, in its own registry."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.received = Counter("statscache_messages_received", "Messages received from the sources", registry=registry)
        self.accepted = Counter(
            "statscache_messages_accepted", "Messages new to at least one statistic", registry=registry
        )
        self.duplicates = Counter(
            "statscache_messages_duplicate", "Messages every statistic had counted", registry=registry
        )
        self.rejected = Counter(
            "statscache_messages_rejected", "Messages that could not be read, by reason", ["reason"], registry=registry
        )
        self.flush_seconds = Histogram("statscache_flush_duration_seconds", "Time a flush takes", registry=registry)
        self.flush_failures = Counter("statscache_flush_failures", "Flushes the database refused", registry=registry)
        self.pending = Gauge("statscache_pending_messages", "Messages waiting for the next flush", registry=registry)
        self.last_message = Gauge(
            "statscache_last_message_timestamp_seconds",
            "Sent-at time of the newest message received",
            registry=registry,
        )
        self.last_flush = Gauge(
            "statscache_last_flush_timestamp_seconds", "Wall-clock time of the last committed flush", registry=registry
        )
        self.backfill_messages = Gauge(
            "statscache_backfill_messages", "Messages read by the start-up back-fill", registry=registry
        )
        self.backfill_gaps = Gauge(
            "statscache_backfill_gaps",
            "Windows the back-fill could not fetch (see statscache status)",
            registry=registry,
        )


Check = Callable[[], dict[str, Any]]


def application(metrics: Metrics, check: Check) -> Callable[..., Iterable[bytes]]:
    """The WSGI app: ``/healthz`` from ``check()``, ``/metrics`` from ``metrics``."""
    exposition = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return exposition(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            report = check()
            status = "200 OK" if report["healthy"] else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [orjson.dumps(report)]
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"error": "try /healthz or /metrics"}']

    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class names it so
        log.debug("health: " + format, *args)


class HealthServer:
    """Serves :func:`application` from a background thread."""

    def __init__(self, host: str, port: int, metrics: Metrics, check: Check) -> None:
        self.server: WSGIServer = make_server(host, port, application(metrics, check), handler_class=_Quiet)
        self.thread = threading.Thread(target=self.server.serve_forever, name="statscache-health", daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on (useful when asked for port 0)."""
        return int(self.server.server_port)

    def start(self) -> None:
        """Start serving."""
        self.thread.start()
        log.info("health and metrics on http://%s:%d/healthz and /metrics", *self.server.server_address[:2])

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
