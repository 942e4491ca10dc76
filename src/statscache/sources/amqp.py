"""The AMQP source: fedora-messaging's bus through RabbitMQ, acknowledged only after commit.

Deliveries are consumed with manual acknowledgement. A message that cannot be
a :class:`Message` (a poison message) is rejected at once without requeue; a
good one is acknowledged by :meth:`AmqpSource.commit`, which the daemon calls
only after the flush that counted it has committed. A lost connection is
retried with backoff; what was delivered but not acknowledged is redelivered
by the broker and recognised by its id.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Any

import orjson
import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from statscache.config import AmqpConfig
from statscache.message import NOT_JSON, Message, Rejected, from_dict
from statscache.sources.backoff import Backoff
from statscache.store import first_line

log = logging.getLogger(__name__)
Sink = Callable[[Message | Rejected], None]


def decode(routing_key: str, properties: pika.BasicProperties, body: bytes) -> Message | Rejected:
    """A delivery as a Message: the routing key is the topic, the AMQP headers the headers."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        return Rejected(NOT_JSON, str(error))
    headers = dict(properties.headers or {})
    record: dict[str, Any] = {"id": properties.message_id, "topic": routing_key, "headers": headers, "body": payload}
    if "sent-at" not in headers and properties.timestamp is not None:
        record["timestamp"] = properties.timestamp
    try:
        return from_dict(record)
    except Rejected as rejected:
        return rejected


class AmqpSource:
    """Consumes the configured queues; ``poll`` delivers to ``sink`` in the caller's thread."""

    name = "amqp"

    def __init__(self, config: AmqpConfig, sink: Sink) -> None:
        self.config = config
        self.sink = sink
        self.connection: pika.BlockingConnection | None = None
        self.channel: BlockingChannel | None = None
        self.backoff = Backoff()
        self._unacked: int | None = None  # highest delivery tag of a good message not yet acknowledged

    @property
    def consuming(self) -> bool:
        """Whether the source is connected and consuming."""
        return self.connection is not None and self.connection.is_open

    def poll(self, timeout: float) -> None:
        """Deliver what arrives within ``timeout`` seconds; (re)connect when due."""
        if not self.consuming:
            if self.backoff.due():
                self._connect()
            return
        assert self.connection is not None
        try:
            self.connection.process_data_events(time_limit=timeout)
        except (pika.exceptions.AMQPError, OSError) as error:
            self._lost(error)

    def commit(self) -> None:
        """Acknowledge every good delivery so far: the flush that counted them committed."""
        if self._unacked is None or self.channel is None or not self.consuming:
            return
        try:
            self.channel.basic_ack(self._unacked, multiple=True)
            self._unacked = None
        except (pika.exceptions.AMQPError, OSError) as error:
            self._lost(error)

    def close(self) -> None:
        """Stop consuming and close the connection (unacknowledged messages go back to the queue)."""
        if self.consuming:
            assert self.connection is not None
            try:
                self.connection.close()
            except (pika.exceptions.AMQPError, OSError):
                pass
        self.connection = self.channel = None

    def _connect(self) -> None:
        try:
            connection = pika.BlockingConnection(self._parameters())
            channel = connection.channel()
            self._declare(channel)
        except (pika.exceptions.AMQPError, OSError, ssl.SSLError) as error:
            log.warning(
                "cannot reach the AMQP broker (%s); retrying in %.0fs", first_line(error), self.backoff.failed()
            )
            return
        self.connection, self.channel, self._unacked = connection, channel, None
        self.backoff.succeeded()
        log.info("consuming from %s", ", ".join(self.config.queues))

    def _parameters(self) -> pika.URLParameters:
        parameters = pika.URLParameters(self.config.amqp_url)
        parameters.heartbeat = 30
        if self.config.amqp_url.startswith("amqps"):
            context = ssl.create_default_context(cafile=self.config.tls.get("ca_cert"))
            if self.config.tls.get("certfile"):
                context.load_cert_chain(self.config.tls["certfile"] or "", self.config.tls.get("keyfile"))
            parameters.ssl_options = pika.SSLOptions(context, parameters.host)
        return parameters

    def _declare(self, channel: BlockingChannel) -> None:
        qos = self.config.qos
        channel.basic_qos(prefetch_size=qos.get("prefetch_size", 0), prefetch_count=qos.get("prefetch_count", 1000))
        for name, options in self.config.queues.items():
            channel.queue_declare(
                name,
                durable=options.get("durable", True),
                auto_delete=options.get("auto_delete", False),
                exclusive=options.get("exclusive", False),
                arguments=options.get("arguments") or None,
            )
        for binding in self.config.bindings:
            queue = binding.get("queue") or next(iter(self.config.queues))
            for key in binding.get("routing_keys", ["#"]):
                channel.queue_bind(queue, binding.get("exchange", "amq.topic"), routing_key=key)
        for name in self.config.queues:
            channel.basic_consume(name, self._on_message, auto_ack=False)

    def _on_message(self, channel: BlockingChannel, method: Any, properties: pika.BasicProperties, body: bytes) -> None:
        item = decode(method.routing_key, properties, body)
        if isinstance(item, Rejected):
            channel.basic_reject(method.delivery_tag, requeue=False)
            log.warning("rejected a poison message on %s: %s", method.routing_key, item)
        else:
            self._unacked = method.delivery_tag
        self.sink(item)

    def _lost(self, error: BaseException) -> None:
        log.warning("lost the AMQP connection (%s); reconnecting in %.0fs", first_line(error), self.backoff.failed())
        self.close()
        self._unacked = None  # those deliveries come back from the broker, and the ledger knows them
