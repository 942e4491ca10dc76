"""Scale-out: one ``statscache run`` worker against two on one durable queue and one PostgreSQL database.

For each worker count (1, then 2) the run:

1. creates a fresh PostgreSQL database (``statscache_bench_<random>``) with the schema the
   daemon would create, and a private topic exchange and durable queue on the broker on
   127.0.0.1:5672;
2. publishes the same generated workload (``bench/workload.py``: real corpus bodies,
   Fedora-like mix, fresh ids, a week of timestamps) and waits until the queue holds all of it;
3. starts the workers — real ``statscache run`` processes with a TOML configuration, the
   defaults of ``statscache.example.toml`` (1 s flushes, prefetch 5,000), no back-fill — and
   times from the moment the first of them consumes (its ``/healthz``) until the database's
   ``volume-1d`` total reaches the workload's size;
4. stops the workers with SIGTERM and checks that the queue is empty (every message was
   acknowledged) and reads every statistic back.

It prints messages per second for each, the ratio two/one, and whether the two runs gave the
same statistics — every row of all 24 built-in statistics, and per-category totals equal to the
workload's own. Databases, queues and exchanges are deleted at the end, even after an error,
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import pika
import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import workload  # noqa: E402
from live import as_published  # noqa: E402
from api import free_port, temporary_database  # noqa: E402

from statscache.models import Row  # noqa: E402
from statscache.plugin import Plugin, discover  # noqa: E402
from statscache.store import Store  # noqa: E402

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
STATSCACHE = Path(sys.executable).with_name("statscache")


@dataclass(frozen=True)
class Queue:
    """A private exchange and durable queue on the broker."""

    exchange: str
    name: str


@dataclass(frozen=True)
class Usage:
    """CPU seconds a run used (workers, their PostgreSQL backends, broker, whole machine), and its flushes."""

    workers: float
    database: float
    broker: float  # RabbitMQ's whole server, whoever it served
    machine: float
    flushing: float  # seconds the workers spent in flushes, waiting for the flush lock included
    flushes: int


@dataclass(frozen=True)
class Result:
    """One run: its worker count, seconds from first consumer to last commit, and what it counted."""

    workers: int
    seconds: float
    launch: float  # seconds from launching the processes to the first consumer
    usage: Usage
    statistics: dict[str, list[Row]]

    def rate(self, count: int) -> float:
        return count / self.seconds


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


@contextmanager
def private_queue() -> Iterator[Queue]:
    """A topic exchange and a durable queue bound to everything on it, deleted afterwards."""
    queue = Queue(f"statscache-bench-{uuid.uuid4()}", f"statscache-bench-{uuid.uuid4()}")
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.exchange_declare(queue.exchange, exchange_type="topic")
    channel.queue_declare(queue.name, durable=True, auto_delete=False)
    channel.queue_bind(queue.name, queue.exchange, routing_key="#")
    try:
        yield queue
    finally:
        channel.queue_delete(queue.name)
        channel.exchange_delete(queue.exchange)
        connection.close()


def depth(queue: Queue) -> int:
    """Messages ready in the queue (delivered but unacknowledged ones not included)."""
    with pika.BlockingConnection(pika.URLParameters(AMQP_URL)) as connection:
        declared = connection.channel().queue_declare(queue.name, durable=True, passive=True)
        return int(declared.method.message_count)


def publish(lines: Sequence[bytes], queue: Queue) -> None:
    """Publish every line as fedora-messaging would (persistent), then wait until all are queued."""
    with pika.BlockingConnection(pika.URLParameters(AMQP_URL)) as connection:
        channel = connection.channel()
        for line in lines:
            channel.basic_publish(queue.exchange, *as_published(line))
    wait(lambda: depth(queue) >= len(lines), 120, "the broker to queue every message")


def wait(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(every)


def config(path: Path, db_url: str, queue: Queue, health_port: int) -> Path:
    """A worker's TOML: statscache.example.toml's defaults on this queue, no TLS, no back-fill,
    no retention (the workload is years old: retention would trim the statistics compared)."""
    text = f"""\
db_url = "{db_url}"
flush_interval = 1.0
max_pending = 10000
health_host = "127.0.0.1"
health_port = {health_port}
amqp_enabled = true
backfill = false
retention_interval = 0

[amqp]
amqp_url = "{AMQP_URL}"

[amqp.qos]
prefetch_size = 0
prefetch_count = 5000

[amqp.queues."{queue.name}"]
durable = true
auto_delete = false
exclusive = false

[[amqp.bindings]]
queue = "{queue.name}"
exchange = "{queue.exchange}"
routing_keys = ["#"]
"""
    path.write_text(text)
    return path


def consuming(port: int) -> bool:
    """Whether the worker with health on ``port`` says it consumes."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            report = orjson.loads(response.read())
    except OSError:  # not listening yet, or 503 before the first flush
        return False
    return bool(report["consuming"]) and all(report["consuming"].values())


def volume(store: Store, total: type[Plugin]) -> int:
    """Messages counted so far: the sum of ``volume-1d``."""
    return sum(int(row["volume"]) for row in store.rows(total))


def statistics(store: Store, classes: Sequence[type[Plugin]]) -> dict[str, list[Row]]:
    """Every row of every statistic."""
    return {cls.ident: store.rows(cls) for cls in classes}


def same_statistics(one: Result, two: Result) -> bool:
    """Whether two runs hold the same rows in every statistic, whatever their order."""
    if one.statistics.keys() != two.statistics.keys():
        return False
    return all(
        sorted(map(repr, rows)) == sorted(map(repr, two.statistics[ident])) for ident, rows in one.statistics.items()
    )


class Workers:
    """``count`` ``statscache run`` processes on one configuration each, stopped with SIGTERM."""

    def __init__(self, configs: Sequence[Path], logs: Path) -> None:
        self.logs = [logs / f"{path.stem}.log" for path in configs]
        self.processes = []
        for path, output in zip(configs, self.logs, strict=True):
            with output.open("wb") as sink:  # the child keeps its own copy of the descriptor
                command = [str(STATSCACHE), "run", "--config", str(path)]
                self.processes.append(subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT))

    def alive(self) -> bool:
        """True while all run; fails, with the worker's log, when one has exited."""
        for process, path in zip(self.processes, self.logs, strict=True):
            if process.poll() is not None:
                raise RuntimeError(f"a worker exited with {process.returncode}:\n{path.read_text()[-2000:]}")
        return True

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of process ``pid`` so far (Linux ``/proc``; 0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_seconds() -> float:
    """CPU seconds all cores of the machine spent busy since boot (``/proc/stat``)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def flush_metrics(port: int) -> tuple[float, int]:
    """A worker's time in flushes and its number of flushes, from its Prometheus ``/metrics``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        samples = dict(line.rsplit(" ", 1) for line in response.read().decode().splitlines() if line[:1] != "#")
    name = "statscache_flush_duration_seconds"
    return float(samples[f"{name}_sum"]), int(float(samples[f"{name}_count"]))


def broker_seconds() -> float:
    """CPU seconds of the local RabbitMQ server (Erlang's ``beam.smp``) so far; 0 if not found."""
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "beam.smp":
                return cpu_seconds(int(comm.parent.name))
        except OSError:
            continue
    return 0.0


Snapshot = tuple[float, dict[int, float], float, float]


def cpu_now(workers: Workers, url: str) -> Snapshot:
    """CPU seconds so far: of the workers, of each database backend, of the broker, of the whole machine."""
    database = {pid: cpu_seconds(pid) for pid in backends(url)}
    return sum(cpu_seconds(p.pid) for p in workers.processes), database, broker_seconds(), machine_seconds()


def usage(workers: Workers, ports: Sequence[int], url: str, before: Snapshot) -> Usage:
    """What the workers, their database backends, the broker and the machine used since ``before``."""
    flushing = [flush_metrics(port) for port in ports]
    after = cpu_now(workers, url)
    return Usage(
        workers=after[0] - before[0],
        database=sum(seconds - before[1].get(pid, 0.0) for pid, seconds in after[1].items()),
        broker=after[2] - before[2],
        machine=after[3] - before[3],
        flushing=sum(seconds for seconds, _ in flushing),
        flushes=sum(count for _, count in flushing),
    )


def backends(url: str) -> list[int]:
    """Process ids of the PostgreSQL backends connected to the database of ``url``, but this one."""
    name = url.rsplit("/", 1)[1]
    query = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
    with psycopg.connect(url, autocommit=True) as connection:
        return [int(pid) for (pid,) in connection.execute(query, (name,))]


def drain(count: int, url: str, queue: Queue, scratch: Path, expected: int) -> Result:
    """Start ``count`` workers on the full ``queue``; time them until ``expected`` are counted."""
    classes = discover()
    with Store(url) as store:
        store.prepare(classes)  # the schema exists, as on a production database
        total = next(cls for cls in classes if cls.ident == "volume-1d")
        ports = [free_port() for _ in range(count)]
        paths = [config(scratch / f"{queue.name}-{n}.toml", url, queue, port) for n, port in enumerate(ports)]
        launched = time.perf_counter()
        workers = Workers(paths, scratch)
        try:
            wait(lambda: workers.alive() and any(map(consuming, ports)), 60, "a worker to consume", every=0.01)
            started, before = time.perf_counter(), cpu_now(workers, url)
            wait(lambda: workers.alive() and volume(store, total) >= expected, 600, "every message counted", 0.1)
            elapsed = time.perf_counter() - started
            used = usage(workers, ports, url, before)
        finally:
            workers.stop()
        left = depth(queue)
        if left or volume(store, total) != expected:
            raise RuntimeError(f"{left} messages left in the queue, {volume(store, total)} counted of {expected}")
        return Result(count, elapsed, started - launched, used, statistics(store, classes))


def run(count: int, lines: Sequence[bytes], scratch: Path) -> Result:
    """One measurement on a fresh database and a fresh queue."""
    with temporary_database(keep=False) as url, private_queue() as queue:
        log(f"{count} worker(s): publishing {len(lines):,} messages to {queue.name}")
        publish(lines, queue)
        log(f"{count} worker(s): draining into {url.rsplit('/', 1)[-1]}")
        result = drain(count, url, queue, scratch, len(lines))
        log(f"{count} worker(s): {len(lines) / result.seconds:,.0f} msg/s")
        return result


def per_category(lines: Sequence[bytes]) -> Counter[str]:
    """The workload's own count of messages per category."""
    return Counter(workload.category(orjson.loads(line)["topic"]) for line in lines)


def counted_categories(result: Result) -> Counter[str]:
    """Per-category totals of a run, from its ``volume-by-category-1d`` rows."""
    found: Counter[str] = Counter()
    for row in result.statistics["volume-by-category-1d"]:
        found[str(row["category"])] += int(row["volume"])
    return found


def describe(result: Result, n: int) -> str:
    """Two lines of figures for a run: the rate, then where the time and the CPU went."""
    used, plural = result.usage, "s" if result.workers > 1 else " "
    return (
        f"{result.workers} worker{plural}     {result.rate(n):10,.0f} msg/s   "
        f"({result.seconds:.2f} s; the {result.launch:.1f} s start-up before it not counted)\n"
        f"              {used.flushes} flushes, {used.flushing / result.seconds / result.workers:.0%} of each "
        f"worker's time; CPU {(used.workers + used.database) / n * 1000:.2f} ms a message: workers "
        f"{used.workers:.1f} s, PostgreSQL {used.database:.1f} s; RabbitMQ {used.broker:.1f} s, everything else "
        f"{used.machine - used.workers - used.database - used.broker:.1f} s "
        f"({used.machine / result.seconds:.2f} of {os.cpu_count()} cores busy)"
    )


def report(results: Sequence[Result], lines: Sequence[bytes], days: float) -> None:
    """Print the best run of each worker count, the ratio, and the correctness check."""
    n = len(lines)
    best = {k: min((r for r in results if r.workers == k), key=lambda r: r.seconds) for k in (1, 2)}
    print(f"workload      {n:,} messages over {days:g} days, all {len(results[0].statistics)} statistics, PostgreSQL")
    print("              (best of each; from the first consumer to the last commit, start-up excluded)")
    for result in best.values():
        print(describe(result, n))
    every = ", ".join(f"{r.workers}: {r.rate(n):,.0f}" for r in results)
    print(f"ratio 2/1     {best[2].rate(n) / best[1].rate(n):10.2f}   (every run in order, msg/s: {every})")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"machine       {os.cpu_count()} cores; load average now {load}")
    same = all(same_statistics(results[0], other) for other in results[1:])
    categories = all(counted_categories(r) == per_category(lines) for r in results)
    print(f"same statistics in every run (every row of every statistic): {'yes' if same else 'NO'}")
    print(f"per-category totals equal the workload's own counts: {'yes' if categories else 'NO'}")
    if not (same and categories):
        raise SystemExit(1)


def main(argv: Sequence[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still drop the databases and the queues
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=30_000, help="messages (default 30,000)")
    parser.add_argument("--days", type=float, default=7.0, help="span of their timestamps (default 7)")
    parser.add_argument("--rounds", type=int, default=2, help="alternate 1 and 2 workers this often (default 2)")
    args = parser.parse_args(argv)
    lines = list(workload.messages(args.count, days=args.days, seed=11))
    with tempfile.TemporaryDirectory() as scratch:
        results = [run(count, lines, Path(scratch)) for _ in range(args.rounds) for count in (1, 2)]
    report(results, lines, args.days)


if __name__ == "__main__":
    main()
