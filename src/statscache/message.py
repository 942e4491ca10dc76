"""The normalised message every source produces and every plugin reads.

A :class:`Message` is built from any of the shapes Fedora's bus has used:

* a datagrepper ``/raw`` row or a fedmsg envelope (``msg_id``, ``topic``,
  ``timestamp`` in epoch seconds, ``msg``, optional ``users``/``packages``);
* a fedora-messaging serialised message or a datagrepper ``/v2/search`` entry
  (``id``, ``topic``, ``headers`` with an ISO-8601 ``sent-at``, ``body``).

Input that cannot become a message raises :class:`Rejected` with a short,
stable reason code, so callers can count rejections per reason.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson

from statscache import people

UNCLASSIFIED = "Unclassified"

# Reason codes, stable: they appear in summaries and metrics.
NOT_JSON = "not-json"
NOT_OBJECT = "not-object"
NO_TOPIC = "no-topic"
NO_TIMESTAMP = "no-timestamp"
BODY_NOT_OBJECT = "body-not-object"
_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
REASONS = (NOT_JSON, NOT_OBJECT, NO_TOPIC, NO_TIMESTAMP, BODY_NOT_OBJECT)


class Rejected(ValueError):
    """Raised when input cannot be normalised; ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class Message:
    """One immutable, normalised bus message (timestamps are UTC).

    ``usernames`` and ``packages`` are given by the input (datagrepper rows
    carry them) or derived on first use; ``category`` is derived at once.
    """

    __slots__ = ("id", "topic", "epoch", "body", "headers", "category", "_usernames", "_packages")
    id: str
    topic: str
    epoch: float
    body: dict[str, Any]
    headers: dict[str, Any]
    category: str
    _usernames: frozenset[str] | None
    _packages: frozenset[str] | None

    def __init__(
        self,
        id: str,  # noqa: A002 - the field is called id everywhere on the bus
        topic: str,
        epoch: float,
        body: dict[str, Any],
        headers: dict[str, Any] | None = None,
        usernames: frozenset[str] | None = None,
        packages: frozenset[str] | None = None,
    ) -> None:
        init = object.__setattr__
        init(self, "id", id)
        init(self, "topic", topic)
        init(self, "epoch", epoch)
        init(self, "body", body)
        init(self, "headers", headers if headers is not None else {})
        init(self, "category", category_of(topic))
        init(self, "_usernames", usernames)
        init(self, "_packages", packages)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Message is immutable: cannot set {name}")

    def __repr__(self) -> str:
        return f"Message(id={self.id!r}, topic={self.topic!r}, timestamp={self.timestamp.isoformat()})"

    @property
    def timestamp(self) -> datetime:
        """When the message was sent, timezone-aware UTC."""
        return datetime.fromtimestamp(self.epoch, tz=UTC)

    @property
    def usernames(self) -> frozenset[str]:
        """Fedora accounts involved: given, else from the schema, else guessed."""
        if self._usernames is None:
            self._derive_names()
        return self._usernames  # type: ignore[return-value]

    @property
    def packages(self) -> frozenset[str]:
        """Packages involved: given, else from the schema, else guessed."""
        if self._packages is None:
            self._derive_names()
        return self._packages  # type: ignore[return-value]

    def _derive_names(self) -> None:
        """Fill whichever of usernames and packages the input did not give (one schema load)."""
        users, packages = people.names(self)
        if self._usernames is None:
            object.__setattr__(self, "_usernames", users)
        if self._packages is None:
            object.__setattr__(self, "_packages", packages)

    def as_dict(self) -> dict[str, Any]:
        """The fedora-messaging serialised shape (used for payloads and replays)."""
        headers = dict(self.headers)
        headers.setdefault("sent-at", self.timestamp.isoformat())
        return {"id": self.id, "topic": self.topic, "headers": headers, "body": self.body}


def category_of(topic: str) -> str:
    """The application, as datanommer computes it (``topic.split('.')[3]``)."""
    parts = topic.split(".", 4)
    return parts[3] if len(parts) > 3 else UNCLASSIFIED


def parse_line(line: bytes | str) -> Message:
    """Parse one JSON line into a :class:`Message`, or raise :class:`Rejected`."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise Rejected(NOT_JSON, str(error)) from None
    return from_dict(data)


def from_dict(data: Any) -> Message:
    """Normalise any supported shape into a :class:`Message`."""
    if not isinstance(data, dict):
        raise Rejected(NOT_OBJECT, type(data).__name__)
    topic = data.get("topic")
    if not isinstance(topic, str) or not topic.strip():
        raise Rejected(NO_TOPIC)
    headers = data.get("headers")
    headers = headers if isinstance(headers, dict) else {}
    body = _body(data)
    epoch = _epoch(data.get("timestamp"), headers.get("sent-at"))
    return Message(
        id=_id(data, topic, epoch, body),
        topic=topic,
        epoch=epoch,
        body=body,
        headers=headers,
        usernames=_names(data.get("users")),
        packages=_names(data.get("packages")),
    )


def _body(data: dict[str, Any]) -> dict[str, Any]:
    body = data["msg"] if "msg" in data else data.get("body")
    if not isinstance(body, dict):
        raise Rejected(BODY_NOT_OBJECT, type(body).__name__)
    return body


def _epoch(timestamp: Any, sent_at: Any) -> float:
    """Epoch seconds from a numeric ``timestamp``, else an ISO-8601 ``sent-at``."""
    for value in (timestamp, sent_at):
        epoch = _to_epoch(value)
        if epoch is not None:
            return epoch
    raise Rejected(NO_TIMESTAMP)


def _to_epoch(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        epoch = float(value)
    elif isinstance(value, str):
        try:
            epoch = parse_time(value)
        except ValueError:
            return None
    else:
        return None
    return epoch if 0 <= epoch < 32503680000 else None  # 1970 .. 3000


def parse_time(text: str) -> float:
    """Epoch seconds from epoch-seconds text or ISO-8601 (naive means UTC)."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _id(data: dict[str, Any], topic: str, epoch: float, body: dict[str, Any]) -> str:
    for key in ("msg_id", "id"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value if len(value) <= 255 else "sha256-" + hashlib.sha256(value.encode()).hexdigest()[:32]
    try:
        content = orjson.dumps([topic, epoch, body], option=_CANONICAL)
    except TypeError:  # e.g. an integer beyond 64 bits: still deterministic
        content = repr((topic, epoch, sorted(body.items(), key=repr))).encode()
    return "sha256-" + hashlib.sha256(content).hexdigest()[:32]


def _names(value: Any) -> frozenset[str] | None:
    if not isinstance(value, list):
        return None
    return frozenset(item for item in value if isinstance(item, str) and item)
