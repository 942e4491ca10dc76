"""The ZeroMQ source: fedmsg's bus, SUB sockets with topic-prefix filters.

fedmsg publishes two frames, ``[topic, json envelope]``. ZeroMQ has no
acknowledgement: what arrives while the daemon is down is back-filled from
datagrepper instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson
import zmq

from statscache.config import ZmqConfig
from statscache.message import NOT_JSON, NOT_OBJECT, Message, Rejected, from_dict

log = logging.getLogger(__name__)
Sink = Callable[[Message | Rejected], None]


def decode(frames: list[bytes]) -> Message | Rejected:
    """``[topic, json]`` as a Message (the frame's topic wins over a missing envelope topic)."""
    if len(frames) != 2:
        return Rejected(NOT_OBJECT, f"expected 2 frames, got {len(frames)}")
    topic, payload = frames
    try:
        envelope = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        return Rejected(NOT_JSON, str(error))
    if isinstance(envelope, dict) and not envelope.get("topic"):
        envelope["topic"] = topic.decode("utf-8", "replace")
    try:
        return from_dict(envelope)
    except Rejected as rejected:
        return rejected


class ZmqSource:
    """SUB sockets connected to every endpoint; ``poll`` delivers to ``sink``."""

    name = "zmq"

    def __init__(self, config: ZmqConfig, sink: Sink, context: zmq.Context[zmq.Socket[bytes]] | None = None) -> None:
        self.config = config
        self.sink = sink
        self.context = context or zmq.Context.instance()
        self.socket = self.context.socket(zmq.SUB)
        for topic in config.topics:
            self.socket.setsockopt(zmq.SUBSCRIBE, topic.encode())
        for endpoint in config.endpoints:
            self.socket.connect(endpoint)
            log.info("subscribed to %s", endpoint)

    @property
    def consuming(self) -> bool:
        """Always, once connected: ZeroMQ reconnects by itself."""
        return not self.socket.closed

    def poll(self, timeout: float) -> None:
        """Deliver what arrives within ``timeout`` seconds (at most a burst of 10,000)."""
        if not self.socket.poll(int(timeout * 1000)):
            return
        for _ in range(10_000):
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            item = decode(frames)
            if isinstance(item, Rejected):
                log.warning("rejected a fedmsg message: %s", item)
            self.sink(item)

    def commit(self) -> None:
        """Nothing to acknowledge on ZeroMQ."""

    def close(self) -> None:
        """Close the socket."""
        self.socket.close(linger=0)
