"""The daemon's configuration: one TOML file, overridable by ``STATSCACHE_*`` variables.

Top-level keys configure statscache itself; ``[amqp]`` takes fedora-messaging's
own keys (``amqp_url``, ``queues``, ``bindings``, ``qos``, ``tls``); ``[zmq]``
lists fedmsg endpoints. Every setting is documented in ``statscache.example.toml``.
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
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    bindings: list[dict[str, Any]] = field(default_factory=list)
    qos: dict[str, int] = field(default_factory=lambda: {"prefetch_size": 0, "prefetch_count": 5000})
    tls: dict[str, str | None] = field(
        default_factory=lambda: {
            "ca_cert": _certificate("cacert.pem"),
            "keyfile": _certificate("fedora-key.pem"),
            "certfile": _certificate("fedora-cert.pem"),
        }
    )


@dataclass
class ZmqConfig:
    """fedmsg over ZeroMQ: SUB endpoints and topic prefixes (empty: everything)."""

    endpoints: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=lambda: [""])


@dataclass
class Config:
    """Everything ``statscache run`` needs."""

    db_url: str = DEFAULT_URL
    flush_interval: float = 1.0
    max_pending: int = 10_000
    seen_retention_days: float = 30.0
    health_host: str = "127.0.0.1"
    health_port: int = 9940
    amqp_enabled: bool = True
    backfill: bool = True
    datagrepper_url: str = FEDORA_DATAGREPPER
    backfill_days: float = 1.0
    amqp: AmqpConfig = field(default_factory=AmqpConfig)
    zmq: ZmqConfig = field(default_factory=ZmqConfig)

    def __post_init__(self) -> None:
        if self.flush_interval <= 0 or self.max_pending < 1:
            raise ConfigError("flush_interval must be positive and max_pending at least 1")
        if not 0 <= self.health_port <= 65535:
            raise ConfigError(f"health_port {self.health_port} is not a port (0 turns it off)")
        if not self.amqp.queues:
            name = default_queue(self.db_url)
            self.amqp.queues = {name: {"durable": True, "auto_delete": False, "exclusive": False, "arguments": {}}}
        if not self.amqp.bindings:
            queue = next(iter(self.amqp.queues))
            self.amqp.bindings = [{"queue": queue, "exchange": "amq.topic", "routing_keys": ["#"]}]


SCALARS = {f.name: f.type for f in fields(Config) if f.name not in ("amqp", "zmq")}


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
    unknown = sorted(set(data) - set(SCALARS))
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r} (known: {', '.join(sorted(SCALARS))}, [amqp], [zmq])")
    for name, value in data.items():
        data[name] = _typed(name, value, SCALARS[name])
    return Config(amqp=amqp, zmq=zmq, **data)


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
