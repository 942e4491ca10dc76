"""Test helpers for the live daemon: publishing to the real RabbitMQ, a cuttable TCP proxy."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
import pika
import pika.exceptions

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


class Bus:
    """A private topic exchange and queue on the real broker, deleted afterwards."""

    def __init__(self) -> None:
        self.exchange = f"statscache-test-{uuid.uuid4()}"
        self.queue = str(uuid.uuid4())
        self.connect()

    def connect(self) -> None:
        """(Re)connect the publishing side, declaring the exchange and the queue."""
        if hasattr(self, "connection"):
            try:
                self.connection.process_data_events(0)  # notice the broker's close
                self.connection.close()
            except pika.exceptions.AMQPError:
                pass
        self.connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        self.channel = self.connection.channel()
        self.channel.exchange_declare(self.exchange, exchange_type="topic", auto_delete=False)
        # declared here as the daemon declares it, so what is published before it starts waits
        self.channel.queue_declare(self.queue, durable=True, auto_delete=False)
        self.channel.queue_bind(self.queue, self.exchange, routing_key="#")
        self.channel.confirm_delivery()

    def amqp_config(self, url: str = AMQP_URL) -> dict[str, Any]:
        """The ``[amqp]`` section a daemon consuming this bus uses."""
        return {
            "amqp_url": url,
            "queues": {self.queue: {"durable": True, "auto_delete": False, "exclusive": False, "arguments": {}}},
            "bindings": [{"queue": self.queue, "exchange": self.exchange, "routing_keys": ["#"]}],
            "qos": {"prefetch_size": 0, "prefetch_count": 200},
        }

    def publish_record(self, record: dict[str, Any]) -> None:
        """Publish a datagrepper-shaped record the way fedora-messaging would."""
        headers: dict[str, Any] = {"fedora_messaging_schema": "base.message", "fedora_messaging_severity": 20}
        if isinstance(record.get("headers"), dict) and "msg" not in record:  # fedora-messaging shape
            headers.update(record["headers"])
        stamp = record.get("timestamp")
        if isinstance(stamp, int | float) and not isinstance(stamp, bool):
            headers["sent-at"] = datetime.fromtimestamp(stamp, UTC).isoformat()
        body = record.get("msg", record.get("body"))
        self.publish(record.get("topic") or "", orjson.dumps(body), headers, record.get("msg_id") or record.get("id"))

    def publish(self, topic: str, body: bytes, headers: dict[str, Any], message_id: str | None = None) -> None:
        """Publish raw bytes (for poison messages too), confirmed by the broker."""
        properties = pika.BasicProperties(
            content_type="application/json",
            content_encoding="utf-8",
            headers=headers,
            message_id=message_id,
            delivery_mode=2,
        )
        self.channel.basic_publish(self.exchange, topic, body, properties)

    def publish_all(self, records: Iterable[dict[str, Any]]) -> int:
        count = 0
        for record in records:
            self.publish_record(record)
            count += 1
        return count

    def queued(self) -> int:
        """Messages ready in the queue (not delivered, or delivered and returned)."""
        return int(self.channel.queue_declare(self.queue, passive=True).method.message_count)

    def close(self) -> None:
        try:
            self.channel.queue_delete(self.queue)
            self.channel.exchange_delete(self.exchange)
        finally:
            self.connection.close()


class Proxy:
    """A TCP proxy on loopback to a real server, which a test can cut and restore."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.listener: socket.socket | None = None
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.restore()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def restore(self) -> None:
        """Listen (again, on the same port) and forward new connections."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and break every open one, like a server going away."""
        with self.lock:
            if self.listener is not None:
                try:
                    self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
                except OSError:
                    pass
                self.listener.close()
                self.listener = None
            for connection in self.connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                connection.close()
            self.connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
