"""Configuration: the daemon's TOML file and the web app's settings, overridable by ``STATSCACHE_*`` variables.

For the daemon, top-level keys configure statscache itself; ``[amqp]`` takes fedora-messaging's
own keys (``amqp_url``, ``queues``, ``bindings``, ``qos``, ``tls``); ``[zmq]``
lists fedmsg endpoints. The web app takes :class:`WebConfig` from ``STATSCACHE_*``
variables. Every setting carries its docstring; ``docs/configuration.md`` is generated
from them (:mod:`statscache.reference`).
"""

from __future__ import annotations

import os
import socket
import tomllib
import uuid
from dataclasses import dataclass, field, fields
from importlib.resources import files
from pathlib import Path
from typing import Any

from statscache.retention import DEFAULTS as DEFAULT_RETENTION
from statscache.retention import Policy, PolicyError
from statscache.sources.datagrepper import FEDORA as FEDORA_DATAGREPPER
from statscache.store import DEFAULT_URL

FEDORA_PUBLIC_BROKER = "amqps://fedora:@rabbitmq.fedoraproject.org/%2Fpublic_pubsub"
ENV_PREFIX = "STATSCACHE_"


class ConfigError(Exception):
    """The configuration cannot be used; the message says why in one line."""


def _certificate(name: str) -> str:
    return str(files("statscache") / "certs" / name)


def default_queue(db_url: str) -> str:
    """A durable queue name unique to this host and database, stable across restarts (a UUID,
    as Fedora's broker requires)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"statscache:{socket.getfqdn()}:{db_url}"))


@dataclass
class AmqpConfig:
    """fedora-messaging's connection keys; the default listens to Fedora's public broker."""

    amqp_url: str = FEDORA_PUBLIC_BROKER
    """The broker; the default is Fedora's public one (``$STATSCACHE_AMQP_URL`` overrides it)."""
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Queues to declare and consume; empty: one durable queue named by a UUID derived from this
    host and ``db_url`` (stable across restarts; Fedora's broker deletes queues idle for an hour).
    Several workers on one queue share its messages."""
    bindings: list[dict[str, Any]] = field(default_factory=list)
    """``{queue, exchange, routing_keys}`` tables; empty: the queue bound to ``amq.topic`` with ``#``."""
    qos: dict[str, int] = field(default_factory=lambda: {"prefetch_size": 0, "prefetch_count": 5000})
    """``prefetch_count``: unacknowledged messages the broker sends; a flush starts as soon as this
    many wait (they are acknowledged only once counted)."""
    tls: dict[str, str | None] = field(
        default_factory=lambda: {
            "ca_cert": _certificate("cacert.pem"),
            "keyfile": _certificate("fedora-key.pem"),
            "certfile": _certificate("fedora-cert.pem"),
        }
    )
    """``ca_cert``, ``keyfile``, ``certfile`` for ``amqps://``; the default is Fedora's public certificates,
    shipped in the package."""


@dataclass
class ZmqConfig:
    """fedmsg over ZeroMQ: SUB endpoints and topic prefixes (empty: everything)."""

    endpoints: list[str] = field(default_factory=list)
    """fedmsg PUB endpoints to subscribe to, like ``tcp://hub.fedoraproject.org:9940``
    (``$STATSCACHE_ZMQ_ENDPOINTS``, comma-separated, overrides them)."""
    topics: list[str] = field(default_factory=lambda: [""])
    """Topic prefixes to subscribe to; ``""`` is everything."""


@dataclass
class Config:
    """Everything ``statscache run`` needs."""

    db_url: str = DEFAULT_URL
    """Where statistics are kept: ``sqlite:///path`` or ``postgresql://user@host/db`` (``--db`` wins)."""
    flush_interval: float = 1.0
    """Seconds between flushes (a flush commits counted messages, then acknowledges them)."""
    max_pending: int = 10_000
    """Flush early once this many messages wait (bounds memory on any input)."""
    seen_retention_days: float = 30.0
    """Days of message ids kept to recognise redelivered and replayed messages."""
    health_host: str = "127.0.0.1"
    """Address of the health (``GET /healthz``) and Prometheus metrics (``GET /metrics``) server."""
    health_port: int = 9940
    """Port of that server; 0 turns it off."""
    amqp_enabled: bool = True
    """Consume fedora-messaging's AMQP bus (false: only the ``[zmq]`` endpoints)."""
    backfill: bool = True
    """At start-up, back-fill from datagrepper what each statistic missed, while consuming live."""
    datagrepper_url: str = FEDORA_DATAGREPPER
    """The datagrepper to back-fill from."""
    backfill_days: float = 1.0
    """Days of history a statistic that has never run takes (at most its backlog delta)."""
    retention_interval: float = 3600.0
    """Seconds between runs of the retention job (the first at start-up); 0 turns it off."""
    amqp: AmqpConfig = field(default_factory=AmqpConfig)
    """fedora-messaging's own connection keys."""
    zmq: ZmqConfig = field(default_factory=ZmqConfig)
    """fedmsg over ZeroMQ."""
    retention: dict[str, float | str] = field(default_factory=lambda: dict(DEFAULT_RETENTION))
    """Days each resolution's buckets are kept (``"1m" = 90``, or ``"forever"``), on top of the defaults;
    resolutions not named are kept forever. A statistic is trimmed only when a coarser one of its
    family keeps longer; reads past its retention are answered from that coarser one."""

    def __post_init__(self) -> None:
        if self.flush_interval <= 0 or self.max_pending < 1:
            raise ConfigError("flush_interval must be positive and max_pending at least 1")
        if self.retention_interval < 0:
            raise ConfigError("retention_interval must be 0 (off) or a positive number of seconds")
        try:
            Policy.parse(self.retention)
        except PolicyError as error:
            raise ConfigError(str(error)) from None
        if not 0 <= self.health_port <= 65535:
            raise ConfigError(f"health_port {self.health_port} is not a port (0 turns it off)")
        if not self.amqp.queues:
            name = default_queue(self.db_url)
            self.amqp.queues = {name: {"durable": True, "auto_delete": False, "exclusive": False, "arguments": {}}}
        if not self.amqp.bindings:
            queue = next(iter(self.amqp.queues))
            self.amqp.bindings = [{"queue": queue, "exchange": "amq.topic", "routing_keys": ["#"]}]

    @property
    def policy(self) -> Policy:
        """The retention policy: ``[retention]`` on top of the defaults."""
        return Policy.parse(self.retention)


@dataclass(frozen=True)
class WebConfig:
    """What the web app (``statscache serve``, or gunicorn with ``create_app()``) takes."""

    db_url: str = DEFAULT_URL
    """The database the daemon writes (``--db`` of ``statscache serve`` wins)."""
    max_rows_per_page: int = 1000
    """The largest ``rows_per_page`` a client may ask for."""
    max_chart_rows: int = 50_000
    """The most rows one SVG chart draws; past it the chart shows the first rows in ``order`` and says so."""
    stream_poll_interval: float = 1.0
    """Seconds between an event stream's looks at its statistic's update time."""
    stream_heartbeat: float = 15.0
    """Seconds without an event after which a stream sends a keepalive comment (for proxies)."""
    stream_lifetime: float = 300.0
    """Seconds an event stream lasts before the client reconnects, so no worker thread is held forever."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not isinstance(value, str) and value <= 0:
                raise ConfigError(f"{item.name} must be positive, not {value!r}")

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> WebConfig:
        """From Flask-style upper-case keys (``MAX_ROWS_PER_PAGE``); strings from the environment converted."""
        found = {}
        for item in fields(cls):
            if item.name.upper() in values:
                found[item.name] = _typed(item.name, values[item.name.upper()], item.type)
        return cls(**found)


SECTIONS = ("amqp", "zmq", "retention")
SCALARS = {f.name: f.type for f in fields(Config) if f.name not in SECTIONS}


def load(path: str | None = None, environ: dict[str, str] | None = None) -> Config:
    """The TOML file at ``path`` (if any), then ``STATSCACHE_*`` variables on top."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except OSError as error:
            raise ConfigError(f"{path}: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: not valid TOML: {error}") from None
    for name, value in _from_environment(os.environ if environ is None else environ).items():
        data[name] = {**data.get(name, {}), **value} if isinstance(value, dict) else value
    return build(data)


def build(data: dict[str, Any]) -> Config:
    """A :class:`Config` from parsed TOML, with a clear error for any unknown or mistyped key."""
    data = dict(data)
    amqp = _section(AmqpConfig, data.pop("amqp", {}), "amqp")
    zmq = _section(ZmqConfig, data.pop("zmq", {}), "zmq")
    retention = data.pop("retention", {})
    if not isinstance(retention, dict):
        raise ConfigError("[retention] must be a table of resolution = days")
    unknown = sorted(set(data) - set(SCALARS))
    if unknown:
        raise ConfigError(
            f"unknown setting {unknown[0]!r} (known: {', '.join(sorted(SCALARS))}, [amqp], [zmq], [retention])"
        )
    for name, value in data.items():
        data[name] = _typed(name, value, SCALARS[name])
    return Config(amqp=amqp, zmq=zmq, retention={**DEFAULT_RETENTION, **retention}, **data)


def _section(cls: type[Any], data: Any, name: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"[{name}] must be a table")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r} in [{name}] (known: {', '.join(sorted(known))})")
    return cls(**data)


def _typed(name: str, value: Any, kind: Any) -> Any:
    """Check (and, from environment strings, convert) one scalar setting."""
    target = {"str": str, "float": float, "int": int, "bool": bool}[str(kind)]
    if isinstance(value, str) and target is not str:
        try:
            return value.strip().lower() in ("1", "true", "yes", "on") if target is bool else target(value)
        except ValueError:
            raise ConfigError(f"{name} must be {target.__name__}, not {value!r}") from None
    if target is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, target) or (target is not bool and isinstance(value, bool)):
        raise ConfigError(f"{name} must be {target.__name__}, not {value!r}")
    return value


def _from_environment(environ: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in SCALARS:
        value = environ.get(ENV_PREFIX + name.upper())
        if value:
            found[name] = value
    amqp_url = environ.get(ENV_PREFIX + "AMQP_URL")
    if amqp_url:
        found["amqp"] = {"amqp_url": amqp_url}
    endpoints = environ.get(ENV_PREFIX + "ZMQ_ENDPOINTS")
    if endpoints:
        found["zmq"] = {"endpoints": [e.strip() for e in endpoints.split(",") if e.strip()]}
    return found
