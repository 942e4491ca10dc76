"""The live daemon against the real RabbitMQ (and ZeroMQ sockets): exactly once, whatever happens."""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import zmq

import recompute as expect
from bus import Bus, Proxy
from helpers import all_rows, builtin_classes, same_rows
from statscache.store import Store
from test_statistics import expected as expected_statistics

CORPUS = Path(__file__).parent / "corpus"
PG_PORT = 5432


def toml(value: Any) -> str:
    """Just enough TOML for the configs these tests write."""
    return json.dumps(value)


def write_config(path: Path, db_url: str, amqp: dict[str, Any] | None, health_port: int, **extra: Any) -> Path:
    lines = [f"db_url = {toml(db_url)}", f"health_port = {health_port}", "flush_interval = 0.2"]
    if "backfill" not in extra:
        lines.append("backfill = false")
    if "retention_interval" not in extra:  # generated messages are years old: retention would trim them
        lines.append("retention_interval = 0")
    lines += [f"{key} = {toml(value)}" for key, value in extra.items() if not isinstance(value, dict)]
    lines.append(f"amqp_enabled = {'true' if amqp else 'false'}")
    if amqp:
        lines += ["[amqp]", f"amqp_url = {toml(amqp['amqp_url'])}"]
        lines += ["[amqp.qos]", f"prefetch_count = {amqp['qos']['prefetch_count']}"]
        for queue in amqp["queues"]:
            lines += [f"[amqp.queues.{toml(queue)}]", "durable = true", "auto_delete = false"]
        for binding in amqp["bindings"]:
            lines += [
                "[[amqp.bindings]]",
                f"queue = {toml(binding['queue'])}",
                f"exchange = {toml(binding['exchange'])}",
            ]
            lines.append(f"routing_keys = {toml(binding['routing_keys'])}")
    for section, values in extra.items():
        if isinstance(values, dict):
            lines.append(f"[{section}]")
            lines += [f"{key} = {toml(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


STARTED: list[Running] = []


class Running:
    """``statscache run`` as a real process."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.process: subprocess.Popen[bytes] | None = None
        STARTED.append(self)

    def cleanup(self) -> None:
        """Kill a daemon a failed test left running."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if hasattr(self, "out") and not self.out.closed:
            self.out.close()

    def start(self) -> None:
        self.out = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "statscache", "run", "--config", str(self.config)],
            stdout=self.out,
            stderr=subprocess.STDOUT,
        )

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)
        self.out.close()

    def terminate(self) -> tuple[int, float]:
        """SIGTERM; the exit status and how long it took."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self.out.close()
        return code, time.monotonic() - started

    def output(self) -> str:
        return self.log.read_text()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def counted(db_url: str) -> int:
    """Messages counted so far, read from volume-1d (0 before the schema exists)."""
    volume = next(cls for cls in builtin_classes() if cls.ident == "volume-1d")
    with Store(db_url) as store:
        try:
            return sum(int(row["volume"]) for row in store.rows(volume))
        except Exception:  # noqa: BLE001 - the daemon may not have created the tables yet
            return 0


def assert_statistics(db_url: str, records: list[dict[str, Any]], idents: tuple[str, ...] | None = None) -> None:
    """The statistics in the database equal the independent recomputation over ``records``."""
    with Store(db_url) as store:
        rows = all_rows(store)
    want = expected_statistics(records)
    for ident in idents or tuple(want):
        assert same_rows(rows[ident], want[ident]), ident


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(name) and "{" not in line or line.startswith(name + "{")
    )


def generated(count: int, seed: int, start: float = 1_700_000_000.0, span: float = 7 * 86400) -> list[dict[str, Any]]:
    """Fresh messages with real bodies, timestamps over ``span`` seconds from ``start``, unique ids."""
    rng = random.Random(seed)
    templates = [r for r in expect.unique_records([CORPUS / "fedmsg.jsonl"])]
    return [
        {
            **rng.choice(templates),
            "msg_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "timestamp": start + rng.random() * span,
        }
        for _ in range(count)
    ]


@pytest.fixture(autouse=True)
def no_daemon_left_behind() -> Iterator[None]:
    yield
    while STARTED:
        STARTED.pop().cleanup()


@pytest.fixture
def bus() -> Iterator[Bus]:
    bus = Bus()
    yield bus
    bus.close()


def test_corpus_through_the_broker_equals_the_recomputation(bus: Bus, sqlite_url: str, tmp_path: Path) -> None:
    health = free_port()
    daemon = Running(write_config(tmp_path / "c.toml", sqlite_url, bus.amqp_config(), health), tmp_path / "log")
    daemon.start()
    records = [json.loads(line) for line in (CORPUS / "fedmsg.jsonl").read_text().splitlines()]
    records += [json.loads(line) for line in (CORPUS / "fedora_messaging.jsonl").read_text().splitlines()]
    bus.publish_all(records)
    unique = expect.unique_records([CORPUS / "fedmsg.jsonl", CORPUS / "fedora_messaging.jsonl"])
    wait_for(lambda: counted(sqlite_url) == len(unique) and bus.queued() == 0, 60, "every message counted")
    with urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=5) as response:
        report = json.load(response)
    assert report["healthy"] and report["consuming"] == {"amqp": True} and report["database"]
    assert report["last_flush_age_seconds"] is not None
    assert metric(health, "statscache_messages_received_total") == len(records)
    rejected = len(records) - len([r for r in records if expect.valid(r)])
    assert metric(health, "statscache_messages_rejected_total") == rejected > 0
    code, took = daemon.terminate()
    assert code == 0 and took < 5, daemon.output()
    assert_statistics(sqlite_url, unique)


def test_kill_9_at_three_moments_loses_and_doubles_nothing(bus: Bus, postgres_url: str, tmp_path: Path) -> None:
    daemon = Running(write_config(tmp_path / "c.toml", postgres_url, bus.amqp_config(), 0), tmp_path / "log")
    records = generated(4000, seed=7)
    rng = random.Random(3)
    daemon.start()
    sent = 0
    for _ in range(3):
        burst = rng.randint(600, 1200)
        sent += bus.publish_all(records[sent : sent + burst])
        time.sleep(rng.uniform(0.3, 1.5))
        daemon.kill9()
        daemon.start()
    bus.publish_all(records[sent:])
    wait_for(lambda: counted(postgres_url) >= len(records) and bus.queued() == 0, 120, "the backlog drained")
    time.sleep(1)
    code, _ = daemon.terminate()
    assert code == 0, daemon.output()
    assert counted(postgres_url) == len(records)
    assert_statistics(
        postgres_url,
        records,
        ("volume-1s", "volume-1m", "volume-by-category-1h", "volume-by-topic-1d", "volume-by-user-1d"),
    )


def test_database_outage_mid_stream_loses_and_doubles_nothing(bus: Bus, postgres_url: str, tmp_path: Path) -> None:
    proxy = Proxy(PG_PORT)
    through_proxy = postgres_url.replace("127.0.0.1:5432", proxy.address)
    daemon = Running(write_config(tmp_path / "c.toml", through_proxy, bus.amqp_config(), 0), tmp_path / "log")
    records = generated(1500, seed=11)
    daemon.start()
    bus.publish_all(records[:500])
    wait_for(lambda: counted(postgres_url) == 500, 60, "the first part counted")
    proxy.cut()
    bus.publish_all(records[500:1000])
    time.sleep(3)
    assert counted(postgres_url) == 500, "nothing can be written while the database is away"
    proxy.restore()
    bus.publish_all(records[1000:])
    wait_for(lambda: counted(postgres_url) == len(records) and bus.queued() == 0, 90, "recovery")
    code, _ = daemon.terminate()
    proxy.cut()
    assert code == 0, daemon.output()
    assert "flush failed" in daemon.output()
    assert_statistics(postgres_url, records, ("volume-1m",))


def test_broker_outage_then_reconnects_by_itself(bus: Bus, sqlite_url: str, tmp_path: Path) -> None:
    proxy = Proxy(5672)
    config = bus.amqp_config(f"amqp://guest:guest@{proxy.address}/%2F")
    daemon = Running(write_config(tmp_path / "c.toml", sqlite_url, config, 0), tmp_path / "log")
    records = generated(900, seed=5)
    daemon.start()
    bus.publish_all(records[:300])
    wait_for(lambda: counted(sqlite_url) == 300, 60, "the first part counted")
    proxy.cut()
    bus.publish_all(records[300:600])  # straight to the broker: they wait in the durable queue
    time.sleep(2)
    proxy.restore()
    bus.publish_all(records[600:])
    wait_for(lambda: counted(sqlite_url) == len(records) and bus.queued() == 0, 90, "reconnection")
    code, _ = daemon.terminate()
    proxy.cut()
    assert code == 0 and "lost the AMQP connection" in daemon.output(), daemon.output()


def test_real_broker_restart_while_consuming(bus: Bus, sqlite_url: str, tmp_path: Path) -> None:
    """rabbitmqctl stop_app / start_app: the broker closes every connection, then comes back."""
    daemon = Running(write_config(tmp_path / "c.toml", sqlite_url, bus.amqp_config(), 0), tmp_path / "log")
    records = generated(600, seed=17)
    daemon.start()
    bus.publish_all(records[:300])
    wait_for(lambda: counted(sqlite_url) == 300, 60, "the first part counted")
    subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, timeout=60)
    time.sleep(1)
    subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, timeout=60)
    bus.connect()
    bus.publish_all(records[300:])
    wait_for(lambda: counted(sqlite_url) == len(records) and bus.queued() == 0, 90, "reconnection after the restart")
    code, _ = daemon.terminate()
    assert code == 0 and "lost the AMQP connection" in daemon.output(), daemon.output()


def test_poison_messages_are_rejected_and_the_rest_counted(bus: Bus, sqlite_url: str, tmp_path: Path) -> None:
    health = free_port()
    daemon = Running(write_config(tmp_path / "c.toml", sqlite_url, bus.amqp_config(), health), tmp_path / "log")
    records = generated(300, seed=13)
    poisons = [
        ("org.fedoraproject.prod.x.y", b"{not json", {"sent-at": "2024-01-01T00:00:00+00:00"}),
        ("org.fedoraproject.prod.x.y", b"[1, 2, 3]", {"sent-at": "2024-01-01T00:00:00+00:00"}),
        ("", b'{"a": 1}', {"sent-at": "2024-01-01T00:00:00+00:00"}),
        ("org.fedoraproject.prod.x.y", b'{"a": 1}', {}),
        ("org.fedoraproject.prod.x.y", b"\xff\xfe", {"sent-at": "2024-01-01T00:00:00+00:00"}),
    ]
    daemon.start()
    for index, record in enumerate(records):
        bus.publish_record(record)
        if index % 60 == 0:
            topic, body, headers = poisons[(index // 60) % len(poisons)]
            bus.publish(topic, body, headers)
    wait_for(lambda: counted(sqlite_url) == len(records) and bus.queued() == 0, 60, "every good message counted")
    assert metric(health, "statscache_messages_rejected_total") == 5
    code, _ = daemon.terminate()
    assert code == 0
    assert bus.queued() == 0, "poison messages are not requeued"
    assert "rejected a poison message" in daemon.output()


def test_zeromq_pub_socket(sqlite_url: str, tmp_path: Path) -> None:
    context = zmq.Context()
    publisher = context.socket(zmq.PUB)
    port = publisher.bind_to_random_port("tcp://127.0.0.1")
    zmq_section = {"endpoints": [f"tcp://127.0.0.1:{port}"], "topics": ["org.fedoraproject."]}
    daemon = Running(write_config(tmp_path / "c.toml", sqlite_url, None, 0, zmq=zmq_section), tmp_path / "log")
    daemon.start()
    records = [json.loads(line) for line in (CORPUS / "fedmsg.jsonl").read_text().splitlines()]
    wanted = [
        r for r in expect.unique_records([CORPUS / "fedmsg.jsonl"]) if r["topic"].startswith("org.fedoraproject.")
    ]
    try:
        deadline = time.monotonic() + 60
        while counted(sqlite_url) < len(wanted) and time.monotonic() < deadline:
            # PUB drops what it sends before the subscription arrives; repeats are counted once
            for record in records:
                publisher.send_multipart([record["topic"].encode(), orjson.dumps(record)])
            time.sleep(0.5)
        assert counted(sqlite_url) == len(wanted)
        code, _ = daemon.terminate()
        assert code == 0, daemon.output()
    finally:
        publisher.close(linger=0)
        context.term()


def test_backfill_and_live_traffic_meet_without_a_hole_or_a_double(bus: Bus, sqlite_url: str, tmp_path: Path) -> None:
    """Start-up back-fills the last hour from datagrepper while consuming live; the two overlap."""
    from datagrepper import Datagrepper

    now = time.time()
    history = generated(300, seed=21, start=now - 3000, span=2900)
    fresh = generated(200, seed=22, start=now - 30, span=20)
    live = history[-100:] + fresh  # the broker still holds the last 100 the archive also has
    with Datagrepper(history) as archive:
        settings = {"backfill": True, "datagrepper_url": archive.url, "backfill_days": 1 / 24}
        health = free_port()
        config = write_config(tmp_path / "c.toml", sqlite_url, bus.amqp_config(), health, **settings)
        daemon = Running(config, tmp_path / "log")
        bus.publish_all(live)
        daemon.start()
        union = expect.unique_records([_jsonl(tmp_path / "all.jsonl", history + fresh)])
        wait_for(lambda: counted(sqlite_url) >= len(union) and bus.queued() == 0, 60, "history and live counted")
        time.sleep(1)
        assert metric(health, "statscache_backfill_messages") == len(history)
        assert metric(health, "statscache_backfill_gaps") == 0
        code, _ = daemon.terminate()
    assert code == 0, daemon.output()
    assert counted(sqlite_url) == len(union) == 500
    with Store(sqlite_url) as store:
        checkpoints = {entry["checkpoint"] for entry in store.plugin_state().values()}
    assert_statistics(sqlite_url, union, ("volume-1m",))
    assert all(c is not None and c >= now - 3600 for c in checkpoints), checkpoints


def _jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records))
    return path


def test_bad_config_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("flush_interval = 'soon'\n")
    done = subprocess.run(
        [sys.executable, "-m", "statscache", "run", "--config", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and done.stderr.strip().count("\n") == 0 and "flush_interval" in done.stderr
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("flush_intervall = 1\n")
    done = subprocess.run(
        [sys.executable, "-m", "statscache", "run", "--config", str(unknown)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "flush_intervall" in done.stderr and "Traceback" not in done.stderr


def test_unreachable_broker_is_one_log_line_and_retries(sqlite_url: str, tmp_path: Path) -> None:
    dead = {
        "amqp_url": f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F",
        "queues": {str(uuid.uuid4()): {}},
        "bindings": [{"exchange": "amq.topic", "routing_keys": ["#"]}],
        "qos": {"prefetch_count": 10},
    }
    dead["bindings"][0]["queue"] = next(iter(dead["queues"]))
    daemon = Running(write_config(tmp_path / "c.toml", sqlite_url, dead, 0), tmp_path / "log")
    daemon.start()
    time.sleep(4)
    code, took = daemon.terminate()
    output = daemon.output()
    assert code == 0 and took < 5
    assert output.count("cannot reach the AMQP broker") >= 2 and "Traceback" not in output


def test_three_workers_one_killed_count_like_one(bus: Bus, postgres_url: str, tmp_path: Path) -> None:
    """Competing consumers on one durable queue and one PostgreSQL database (invariants 1-3)."""
    config = write_config(tmp_path / "c.toml", postgres_url, bus.amqp_config(), 0)
    workers = [Running(config, tmp_path / f"log-{n}") for n in range(3)]
    for worker in workers:
        worker.start()  # all at once, on an empty database
    records = generated(3000, seed=31)
    bus.publish_all(records[:1500])
    time.sleep(1.0)
    workers[1].kill9()
    bus.publish_all(records[1500:])
    wait_for(
        lambda: counted(postgres_url) >= len(records) and bus.queued() == 0, 120, "the survivors drained the queue"
    )
    time.sleep(1)
    for worker in (workers[0], workers[2]):
        code, _ = worker.terminate()
        assert code == 0, worker.output()
    assert counted(postgres_url) == len(records)
    idents = ("volume-1s", "volume-by-category-1m", "volume-by-topic-1h", "active-users-1d", "volume-by-user-1d")
    assert_statistics(postgres_url, records, idents)
