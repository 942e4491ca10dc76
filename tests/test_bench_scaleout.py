"""The scale-out benchmark's worker configuration (bench/scaleout.py), without a broker or a database."""

from __future__ import annotations

import sys
from pathlib import Path

from statscache.config import Config, load

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import scaleout  # noqa: E402


def test_worker_configuration_is_the_defaults_on_a_private_queue(tmp_path: Path) -> None:
    queue = scaleout.Queue("statscache-bench-exchange", "statscache-bench-queue")
    url = "postgresql://postgres@127.0.0.1:5432/statscache_bench_x"
    config = load(str(scaleout.config(tmp_path / "w.toml", url, queue, 45678)))
    defaults = Config()
    assert (config.db_url, config.health_port, config.backfill) == (url, 45678, False)
    assert config.retention_interval == 0, "the workload is years old: retention would trim what is compared"
    assert (config.flush_interval, config.max_pending) == (defaults.flush_interval, defaults.max_pending)
    assert config.amqp.amqp_url == "amqp://guest:guest@127.0.0.1:5672/%2F"  # plain AMQP: no TLS
    assert config.amqp.qos == defaults.amqp.qos
    assert list(config.amqp.queues) == [queue.name] and config.amqp.queues[queue.name]["durable"] is True
    assert config.amqp.bindings == [{"queue": queue.name, "exchange": queue.exchange, "routing_keys": ["#"]}]
