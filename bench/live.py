"""Live throughput: publisher to committed statistics through the local RabbitMQ.

One script run: replay N generated messages from a file into SQLite (the
baseline), then publish the same N messages to a private exchange on the
broker on 127.0.0.1:5672 while an in-process daemon consumes them; the clock
stops when the last one is committed (and so acknowledged). Both count into
all the built-in statistics.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pika

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload  # noqa: E402
from replay import replay  # noqa: E402

from statscache.config import build  # noqa: E402
from statscache.daemon import Daemon  # noqa: E402

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def as_published(line: bytes) -> tuple[str, bytes, pika.BasicProperties]:
    """A workload line as fedora-messaging publishes it: topic, body, persistent with ``sent-at``."""
    record = orjson.loads(line)
    headers = {
        "fedora_messaging_schema": "base.message",
        "sent-at": datetime.fromtimestamp(record["timestamp"], UTC).isoformat(),
    }
    properties = pika.BasicProperties(
        content_type="application/json", headers=headers, message_id=record["msg_id"], delivery_mode=2
    )
    return record["topic"], orjson.dumps(record["msg"]), properties


def publish(lines: list[bytes], exchange: str) -> float:
    """Publish every line as fedora-messaging would; the seconds it took."""
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    started = time.perf_counter()
    for line in lines:
        channel.basic_publish(exchange, *as_published(line))
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def live(lines: list[bytes], scratch: Path, preload: bool) -> float:
    """Seconds to the last commit, from the first publish (or, ``preload``, from a full queue)."""
    exchange, queue = f"statscache-bench-{uuid.uuid4()}", str(uuid.uuid4())
    setup = pika.BlockingConnection(pika.URLParameters(AMQP_URL)).channel()
    setup.exchange_declare(exchange, exchange_type="topic")
    amqp = {
        "amqp_url": AMQP_URL,
        "queues": {queue: {"durable": True, "auto_delete": False}},
        "bindings": [{"queue": queue, "exchange": exchange, "routing_keys": ["#"]}],
        "qos": {"prefetch_count": 5000},
    }
    setup.queue_declare(queue, durable=True, auto_delete=False)
    setup.queue_bind(queue, exchange, routing_key="#")
    if preload:
        publish(lines, exchange)
    daemon = Daemon(
        build(
            {
                "db_url": f"sqlite:///{scratch}/live-{preload}.db",
                "health_port": 0,
                "backfill": False,
                "retention_interval": 0,
                "amqp": amqp,
            }
        )
    )
    runner = threading.Thread(target=daemon.run, daemon=True)
    runner.start()
    while not daemon.sources[0].consuming:
        time.sleep(0.01)
    started = time.perf_counter()
    publisher = multiprocessing.Process(target=publish, args=(lines, exchange)) if not preload else None
    if publisher is not None:
        publisher.start()  # its own process: the daemon's thread would slow it down through the GIL
    while daemon.pipeline.stats.accepted < len(lines):
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    if publisher is not None:
        publisher.join()
    daemon.stop()
    runner.join(timeout=10)
    setup.queue_delete(queue)
    setup.exchange_delete(exchange)
    setup.connection.close()
    return elapsed


def publish_alone(lines: list[bytes]) -> float:
    """The publisher's own speed, to a private exchange with one queue and no consumer."""
    exchange, queue = f"statscache-bench-{uuid.uuid4()}", str(uuid.uuid4())
    channel = pika.BlockingConnection(pika.URLParameters(AMQP_URL)).channel()
    channel.exchange_declare(exchange, exchange_type="topic")
    channel.queue_declare(queue, durable=True)
    channel.queue_bind(queue, exchange, routing_key="#")
    try:
        return publish(lines, exchange)
    finally:
        channel.queue_delete(queue)
        channel.exchange_delete(exchange)
        channel.connection.close()


def main() -> None:
    gc.set_threshold(50_000, 20, 20)  # as the statscache command sets it
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = workload.write(Path(scratch) / "workload.jsonl", args.count, days=7)
        lines = path.read_bytes().splitlines()
        accepted, replay_seconds = replay(path, f"sqlite:///{scratch}/replay.db")
        publish_seconds = publish_alone(lines)
        drain_seconds = live(lines, Path(scratch), preload=True)
        live_seconds = live(lines, Path(scratch), preload=False)
    n = args.count
    replay_rate = accepted / replay_seconds
    print(f"workload      {n} messages over 7 days, all 24 built-in statistics, SQLite")
    print(f"replay        {replay_rate:10,.0f} msg/s   ({replay_seconds:.2f} s; the baseline)")
    print(f"publisher     {n / publish_seconds:10,.0f} msg/s   (one pika connection, nothing consuming)")
    print(
        f"drain         {n / drain_seconds:10,.0f} msg/s   ratio {n / drain_seconds / replay_rate:.2f}  (full queue to last commit)"
    )
    print(
        f"end to end    {n / live_seconds:10,.0f} msg/s   ratio {n / live_seconds / replay_rate:.2f}  (first publish to last commit)"
    )
    print("goal          >= 5,000 msg/s and >= 0.5 of replay")


if __name__ == "__main__":
    main()
