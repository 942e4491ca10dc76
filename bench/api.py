"""Web API latency against answering the same questions from raw messages, on PostgreSQL.

One run builds a throw-away PostgreSQL database holding

* ``stat_volume_by_category_1m``: ``--days`` of 1-minute buckets for ``--categories``
  categories, generated (each category has a Poisson rate per minute, Zipf-distributed over
  the categories, so the quiet ones are absent from most minutes) and loaded with ``COPY``;
* ``messages``: a datanommer-shaped table of the raw messages behind those buckets (exactly
  ``count`` rows per bucket, topics and bodies drawn from the real corpus), with datanommer's
  indexes (timestamp, category, topic, unique msg_id);
* ``stat_release_engineering_event_logs``: the corpus, then the last 30 days (the plugin's
  backlog) of the raw table's release-engineering messages, replayed through the pipeline;

serves it with gunicorn, and times, per question, the statscache page against the raw way
(in PostgreSQL directly, from this process): a ``GROUP BY`` per time step, and the
datagrepper way (one count per time step, or pages of newest messages). Prints p50/p99 and
the ratios raw/statscache. The database is dropped and gunicorn stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload  # noqa: E402

from statscache.message import Rejected, from_dict  # noqa: E402
from statscache.pipeline import Pipeline, Settings  # noqa: E402
from statscache.plugin import Plugin, discover  # noqa: E402
from statscache.plugins import releng  # noqa: E402
from statscache.sources.file import read  # noqa: E402
from statscache.store import Store  # noqa: E402
from statscache.web import create_app  # noqa: E402

ADMIN_URL = os.environ.get("STATSCACHE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
CORPUS_FILE = workload.CORPUS / "fedmsg.jsonl"
VOLUME = "volume-by-category-1m"
DAILY = "volume-by-category-1d"
RELENG = "release-engineering-event-logs"
VOLUME_TABLE = "stat_volume_by_category_1m"
DAILY_TABLE = "stat_volume_by_category_1d"
# Busiest first (a plausible order for Fedora's bus); the rest of the corpus follows by frequency.
BUSIEST = (
    "buildsys", "copr", "pagure", "bodhi", "git", "ci", "github", "ansible", "fas", "mailman",
    "anitya", "meetbot", "pungi", "hotness", "fedoratagger", "pkgdb", "trac", "askbot", "bugzilla", "openqa",
    "compose", "forgejo", "fedbadges", "wiki", "jenkins", "nagios", "mbs", "greenwave", "fedimg", "pdc",
    "kerneltest", "koschei", "fmn", "releng", "odcs", "waiverdb", "autocloud", "irc", "planet", "mdapi",
)  # fmt: skip
# Categories whose topics the release-engineering plugin follows (koji image tasks aside).
RELENG_CATEGORIES = ("compose", "pungi", "bodhi", "fedimg", "autocloud", "releng")
BACKLOG = releng.ReleaseEngineeringEventLogs.backlog_delta or timedelta(days=30)
WARMUP = 10  # statscache requests; the raw ways, slower, warm up with 2
RAW_WARMUP = 2
TRUNC = {60: "minute", 3600: "hour", 86400: "day"}


# --- what to build ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """The size of the data and of the measurement."""

    days: int
    categories: int
    per_minute: float
    requests: int
    raw_runs: int
    budget: float
    seed: int
    keep: bool


@dataclass
class Category:
    """A category: its rate (messages per minute) and the corpus messages its raw rows copy."""

    name: str
    rate: float
    templates: list[tuple[str, str]] = field(default_factory=list)  # (topic, body as JSON text)


def corpus_templates() -> dict[str, list[tuple[str, str]]]:
    """Corpus messages by datanommer category: ``[(topic, body JSON)]``."""
    found: dict[str, list[tuple[str, str]]] = {}
    for record in workload.templates():
        topic = record["topic"]
        body = record.get("msg", record.get("body"))
        parts = topic.split(".")
        name = parts[3] if len(parts) > 3 else "Unclassified"
        found.setdefault(name, []).append((topic, orjson.dumps(body).decode()))
    return found


def plan(count: int, per_minute: float) -> list[Category]:
    """``count`` categories, busiest first, with Zipf rates summing to ``per_minute``."""
    corpus = corpus_templates()
    by_size = sorted(corpus, key=lambda name: (-len(corpus[name]), name))
    names = [*[n for n in BUSIEST if n in corpus], *[n for n in by_size if n not in BUSIEST]][:count]
    names += [f"app{index}" for index in range(count - len(names))]
    weights = [1 / rank for rank in range(1, count + 1)]
    scale = per_minute / sum(weights)
    categories = []
    for name, weight in zip(names, weights, strict=True):
        templates = corpus.get(name) or [(f"org.fedoraproject.prod.{name}.event", orjson.dumps({"app": name}).decode())]
        categories.append(Category(name, weight * scale, templates))
    return categories


def tracked_topics(categories: Sequence[Category]) -> list[str]:
    """Topics of the release-engineering families that give the plugin a key, among the templates."""
    topics = set()
    for category in categories:
        if category.name not in RELENG_CATEGORIES:
            continue
        for topic, body in category.templates:
            message = from_dict({"msg_id": "probe", "topic": topic, "timestamp": 0, "msg": orjson.loads(body)})
            if any(True for _ in releng.events(message)):
                topics.add(topic)
    return sorted(topics)


# --- generating the data ----------------------------------------------------------------------------


def truncated_poisson(rng: random.Random, rate: float) -> int:
    """A Poisson(rate) count conditioned on being at least one (by inversion)."""
    p = math.exp(-rate)
    target = p + rng.random() * (1 - p)
    count, cumulative = 0, p
    while cumulative < target and count < 10_000:
        count += 1
        p *= rate / count
        cumulative += p
    return max(count, 1)


def bucket_rows(categories: Sequence[Category], first: int, minutes: int, seed: int) -> list[tuple[int, str, int]]:
    """``(bucket, category, count)`` for every minute a category had messages, sorted by time.

    With Poisson arrivals of rate ``r`` a minute, the gap between non-empty minutes is
    ``1 + floor(Exp(r))``, so only the rows that exist are drawn.
    """
    rng = random.Random(seed)
    rows = []
    for category in categories:
        minute = math.floor(rng.expovariate(category.rate))
        while minute < minutes:
            rows.append((first + minute * 60, category.name, truncated_poisson(rng, category.rate)))
            minute += 1 + math.floor(rng.expovariate(category.rate))
    rows.sort()
    return rows


def copy_text(connection: psycopg.Connection[Any], statement: str, lines: Iterator[str], chunk: int = 50_000) -> None:
    """``COPY … FROM STDIN`` of tab-separated lines, sent in chunks."""
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        batch: list[str] = []
        for line in lines:
            batch.append(line)
            if len(batch) >= chunk:
                copy.write("".join(batch))
                batch.clear()
        copy.write("".join(batch))


def copy_escape(text: str) -> str:
    """``text`` escaped for COPY's text format."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def load_buckets(connection: psycopg.Connection[Any], rows: Sequence[tuple[int, str, int]]) -> None:
    """``COPY`` the bucket rows into the statscache table.

    A ``created`` column, when the model has one, gets the time a live flush would have
    written the row: the end of its minute.
    """
    columns = table_columns(connection, VOLUME_TABLE)
    unknown = sorted(set(columns) - {"bucket", "key", "count", "created"})
    if unknown:
        raise RuntimeError(f"{VOLUME_TABLE} has columns this benchmark cannot fill: {', '.join(unknown)}")
    if "created" in columns:
        lines = (f"{bucket}\t{key}\t{count}\t{bucket + 60}\n" for bucket, key, count in rows)
        statement = f"COPY {VOLUME_TABLE} (bucket, key, count, created) FROM STDIN"
    else:
        lines = (f"{bucket}\t{key}\t{count}\n" for bucket, key, count in rows)
        statement = f"COPY {VOLUME_TABLE} (bucket, key, count) FROM STDIN"
    copy_text(connection, statement, lines)
    connection.commit()


def roll_up_daily(connection: psycopg.Connection[Any]) -> int:
    """Fill the daily table from the minute rows, as flushes would have (``created``: the first flush)."""
    created = "created" in table_columns(connection, DAILY_TABLE)
    extra = (", created", ", min(created)") if created else ("", "")
    inserted = connection.execute(
        f"INSERT INTO {DAILY_TABLE} (bucket, key, count{extra[0]}) "
        f"SELECT bucket - bucket % 86400, key, sum(count){extra[1]} FROM {VOLUME_TABLE} GROUP BY 1, 2"
    ).rowcount
    connection.commit()
    return inserted


def table_columns(connection: psycopg.Connection[Any], table: str) -> list[str]:
    """The column names of ``table``."""
    query = "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position"
    return [name for (name,) in connection.execute(query, (table,))]


RAW_SCHEMA = """
CREATE TABLE messages (
    id serial PRIMARY KEY,
    msg_id text,
    i integer NOT NULL,
    topic text NOT NULL,
    timestamp timestamp without time zone NOT NULL,
    certificate text,
    signature text,
    category text NOT NULL,
    username text,
    crypto text,
    source_name text,
    source_version text,
    msg json NOT NULL,
    headers json
);
CREATE TEMPORARY TABLE bench_templates (category text, n integer, topic text, msg json);
"""

# Exactly ``count`` raw rows per bucket, at random seconds within its minute, each copying a
# template of its category picked by a hash of (bucket, row number).
RAW_FILL = f"""
WITH totals AS (SELECT category, count(*) AS total FROM bench_templates GROUP BY category)
INSERT INTO messages (msg_id, i, topic, timestamp, category, source_name, source_version, msg, headers)
SELECT gen_random_uuid()::text, 1, t.topic, m.at, m.key, 'datanommer', '1.4.0', t.msg,
       json_build_object('sent-at', to_char(m.at, 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'))
FROM (
    SELECT b.key, b.bucket, g.k, to_timestamp(b.bucket + random() * 59.999) AT TIME ZONE 'UTC' AS at
    FROM {VOLUME_TABLE} AS b CROSS JOIN LATERAL generate_series(1, b.count) AS g(k)
) AS m
JOIN totals ON totals.category = m.key
JOIN bench_templates AS t ON t.category = m.key AND t.n = abs(hashint8(m.bucket * 1000 + m.k)::bigint) % totals.total
"""

RAW_INDEXES = """
ALTER TABLE messages ADD CONSTRAINT messages_msg_id_key UNIQUE (msg_id);
CREATE INDEX ix_messages_timestamp ON messages (timestamp);
CREATE INDEX ix_messages_category ON messages (category);
CREATE INDEX ix_messages_topic ON messages (topic);
"""


def load_raw(connection: psycopg.Connection[Any], categories: Sequence[Category]) -> int:
    """Create and fill the datanommer-shaped ``messages`` table; returns its row count."""
    connection.execute(RAW_SCHEMA)
    lines = (
        f"{category.name}\t{n}\t{copy_escape(topic)}\t{copy_escape(body)}\n"
        for category in categories
        for n, (topic, body) in enumerate(category.templates)
    )
    copy_text(connection, "COPY bench_templates (category, n, topic, msg) FROM STDIN", lines)
    connection.execute("SET maintenance_work_mem = '512MB'")
    inserted = connection.execute(RAW_FILL).rowcount
    connection.execute(RAW_INDEXES)
    connection.commit()
    return inserted


def vacuum(url: str, tables: Sequence[str]) -> None:
    """``VACUUM ANALYZE``, as autovacuum would have done on a long-lived database."""
    with psycopg.connect(url, autocommit=True) as connection:
        for table in tables:
            connection.execute(f"VACUUM (ANALYZE) {table}")


# --- statscache's side --------------------------------------------------------------------------------


def plugin_classes() -> list[type[Plugin]]:
    """The statistics this benchmark serves."""
    found: list[type[Plugin]] = discover(only=[VOLUME, DAILY, RELENG])
    return found


def stamp_volume(store: Store, first: int, last: int) -> None:
    """Record the bulk-loaded span and change time of the volume statistics, as a flush would."""
    with store.engine.begin() as connection:
        for ident in (VOLUME, DAILY):
            connection.exec_driver_sql(
                "UPDATE statscache_plugins SET oldest = %(first)s, newest = %(last)s, updated_at = %(now)s "
                "WHERE ident = %(ident)s",
                {"first": float(first), "last": float(last), "now": time.time(), "ident": ident},
            )


def replay_releng(store: Store, raw: psycopg.Connection[Any], topics: Sequence[str], since: datetime) -> int:
    """Replay the corpus, then the raw table's tracked messages since ``since``, into the releng plugin."""
    plugin = discover(only=[RELENG])[0]
    pipeline = Pipeline(store, [plugin()], Settings(flush_interval=3600, max_pending=10_000))
    for item in read(str(CORPUS_FILE)):
        if not isinstance(item, Rejected):
            pipeline.add(item)
    query = (
        "SELECT msg_id, topic, extract(epoch FROM timestamp)::float8, msg::text FROM messages "
        "WHERE topic = ANY(%s) AND timestamp >= %s"
    )
    for msg_id, topic, epoch, body in raw.execute(query, (list(topics), since)):
        pipeline.add(from_dict({"msg_id": msg_id, "topic": topic, "timestamp": epoch, "msg": orjson.loads(body)}))
    pipeline.close()
    accepted: int = pipeline.stats.accepted
    return accepted


# --- infrastructure: a database, a server ------------------------------------------------------------


@contextmanager
def temporary_database(keep: bool) -> Iterator[str]:
    """A fresh database on the server at ``ADMIN_URL``, dropped afterwards (unless ``keep``)."""
    name = f"statscache_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            if keep:
                log(f"kept database {name}; drop it with: DROP DATABASE {name} WITH (FORCE)")
            else:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                log(f"dropped database {name}")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def gunicorn(url: str, workers: int = 2) -> Iterator[tuple[str, int]]:
    """Serve the app on the database ``url``; yields ``(host, port)`` once it answers."""
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        *("--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--log-level", "warning"),
        "statscache.web:create_app()",
    ]
    process = subprocess.Popen(command, env={**os.environ, "STATSCACHE_DB_URL": url})
    try:
        wait_until_up("127.0.0.1", port, process)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(host: str, port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Poll ``/api/`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {process.returncode}")
        try:
            connection = http.client.HTTPConnection(host, port, timeout=2)
            connection.request("GET", "/api/")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {timeout:g} s")


# --- timing ---------------------------------------------------------------------------------------------


@dataclass
class Timing:
    """Latencies of one way of answering one question (seconds)."""

    samples: list[float]

    def percentile(self, fraction: float) -> float:
        """The ``fraction`` quantile (nearest rank)."""
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


def repeat(call: Callable[[], object], runs: int, budget: float, warmup: int = WARMUP) -> Timing:
    """Time ``call`` up to ``runs`` times (at least three) within ``budget`` seconds, after a warm-up."""
    for _ in range(warmup):
        call()
    samples: list[float] = []
    deadline = time.perf_counter() + budget
    while len(samples) < runs and (len(samples) < 3 or time.perf_counter() < deadline):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return Timing(samples)


class Client:
    """GET over one ``http.client`` connection, reopened when the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.connection = http.client.HTTPConnection(host, port, timeout=60)

    def get(self, path: str) -> bytes:
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
        if response.will_close:
            self.connection.close()
        return body


@contextmanager
def in_process(url: str) -> Iterator[Callable[[str], bytes]]:
    """GET through the Flask test client of an app in this process (no network, no server)."""
    app = create_app(url)
    client = app.test_client()

    def get(path: str) -> bytes:
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code}")
        body: bytes = response.data
        return body

    try:
        yield get
    finally:
        app.extensions["statscache"].store.close()


# --- the questions -----------------------------------------------------------------------------------


@dataclass
class Way:
    """One way of answering a question, timed."""

    label: str
    timing: Timing
    baseline: bool = False


@dataclass
class Question:
    """A question, the ways of answering it, and what checking the answers found."""

    title: str
    ways: list[Way]
    check: str


def naive(epoch: float) -> datetime:
    """Epoch seconds as the naive UTC datetime of datanommer's ``timestamp`` column."""
    return datetime.fromtimestamp(epoch, tz=UTC).replace(tzinfo=None)


def group_sql(step: int, keyed: bool) -> str:
    """Raw messages counted per time step and category over ``[start, stop)``."""
    where = " AND category = ANY(%(keys)s)" if keyed else ""
    return (
        f"SELECT date_trunc('{TRUNC[step]}', timestamp) AS bucket, category, count(*) FROM messages "
        f"WHERE timestamp >= %(start)s AND timestamp < %(stop)s{where} GROUP BY 1, 2"
    )


def fetch_all(raw: psycopg.Connection[Any], sql: str, params: Any) -> Callable[[], object]:
    """A call that runs ``sql`` and fetches every row."""
    return lambda: raw.execute(sql, params).fetchall()


COUNT_SQL = "SELECT count(*) FROM messages WHERE timestamp >= %s AND timestamp < %s AND category = %s"


def check_counts(rows: Sequence[dict[str, Any]], raw: Sequence[tuple[Any, ...]]) -> str:
    """Whether every row of the page has the count the raw messages give."""
    counted = {(bucket.replace(tzinfo=UTC).timestamp(), key): n for bucket, key, n in raw}
    wrong = [row for row in rows if counted.get((row["timestamp"], row["category"])) != row["volume"]]
    return f"{len(rows)} rows, {len(wrong)} differ from the raw counts"


@dataclass(frozen=True)
class Ask:
    """A page of a volume statistic to time: which, with what parameters, its bucket size."""

    title: str
    ident: str
    params: dict[str, Any]
    step: int
    in_process: bool = False


def volume_question(
    ask: Ask,
    serve: Callable[[str], bytes],
    local: Callable[[str], bytes],
    raw: psycopg.Connection[Any],
    options: Options,
) -> Question:
    """A page of a volume statistic, against counting the raw messages it covers."""
    path = f"/api/{ask.ident}?{urlencode(ask.params, doseq=True)}"
    rows = orjson.loads(serve(path))
    stamps = [row["timestamp"] for row in rows]
    bound = {"start": naive(min(stamps)), "stop": naive(max(stamps) + ask.step), "keys": ask.params.get("category")}
    sql = group_sql(ask.step, bound["keys"] is not None)
    check = check_counts(rows, raw.execute(sql, bound).fetchall())
    ways = [Way("statscache, gunicorn (HTTP)", repeat(lambda: serve(path), options.requests, options.budget), True)]
    if ask.in_process:
        ways.append(Way("statscache, in-process Flask", repeat(lambda: local(path), options.requests, options.budget)))
    grouped = repeat(fetch_all(raw, sql, bound), options.raw_runs, options.budget, RAW_WARMUP)
    ways.append(Way("raw SQL: GROUP BY step", grouped))
    steps = [(naive(row["timestamp"]), naive(row["timestamp"] + ask.step), row["category"]) for row in rows]

    def per_step() -> None:
        for start, stop, key in steps:
            raw.execute(COUNT_SQL, (start, stop, key)).fetchone()

    ways.append(
        Way("raw SQL: count per step (datagrepper)", repeat(per_step, options.raw_runs, options.budget, RAW_WARMUP))
    )
    return Question(f"{ask.title}\n  {path}", ways, check)


DISTINCT_SQL = (
    "SELECT DISTINCT ON (topic) topic, timestamp, msg::text FROM messages WHERE topic = ANY(%s) "
    "ORDER BY topic, timestamp DESC"
)
# The fastest raw form found: per topic, the timestamp index walked backwards to its newest message.
LATERAL_SQL = (
    "SELECT t.topic, m.timestamp, m.msg::text FROM unnest(%s::text[]) AS t(topic) CROSS JOIN LATERAL "
    "(SELECT timestamp, msg FROM messages WHERE messages.topic = t.topic ORDER BY timestamp DESC LIMIT 1) AS m"
)
PAGE_SQL = (
    "SELECT topic, timestamp, msg::text FROM messages WHERE category = ANY(%s) "
    "ORDER BY timestamp DESC LIMIT 100 OFFSET %s"
)


def paged_latest(raw: psycopg.Connection[Any], wanted: set[str], most: int = 5000) -> int:
    """datagrepper's way: pages of the families' newest messages until every topic is seen; pages read."""
    seen: set[str] = set()
    page = 0
    while not wanted <= seen and page < most:
        rows = raw.execute(PAGE_SQL, (list(RELENG_CATEGORIES), page * 100)).fetchall()
        if not rows:
            break
        seen.update(topic for topic, _, _ in rows)
        page += 1
    return page


def releng_question(
    serve: Callable[[str], bytes],
    local: Callable[[str], bytes],
    raw: psycopg.Connection[Any],
    topics: Sequence[str],
    options: Options,
) -> Question:
    """The release-engineering dashboard's page, against finding the newest event per topic in the raw table."""
    path = f"/api/{RELENG}"
    rows = orjson.loads(serve(path))
    newest_raw = raw.execute(LATERAL_SQL, (list(topics),)).fetchall()
    wanted = {topic for topic, _, _ in newest_raw}
    pages = paged_latest(raw, wanted)
    newest_row = max(row["timestamp"] for row in rows)
    newest_msg = max(stamp for _, stamp, _ in newest_raw).replace(tzinfo=UTC).timestamp()
    check = (
        f"{len(rows)} keys served; newest event {newest_row:.3f} vs raw {newest_msg:.3f}; "
        f"{len(wanted)} topics; datagrepper paging reads {pages} pages of 100"
    )
    ways = [Way("statscache, gunicorn (HTTP)", repeat(lambda: serve(path), options.requests, options.budget), True)]
    ways.append(Way("statscache, in-process Flask", repeat(lambda: local(path), options.requests, options.budget)))
    for label, sql in (
        ("raw SQL: newest per topic (LATERAL)", LATERAL_SQL),
        ("raw SQL: DISTINCT ON (topic)", DISTINCT_SQL),
    ):
        timing = repeat(fetch_all(raw, sql, (list(topics),)), options.raw_runs, options.budget, RAW_WARMUP)
        ways.append(Way(label, timing))
    paged = repeat(lambda: paged_latest(raw, wanted), options.raw_runs, options.budget, RAW_WARMUP)
    ways.append(Way("raw SQL: newest pages (datagrepper)", paged))
    return Question(f"Newest release-engineering event per key\n  {path}", ways, check)


# --- the run ---------------------------------------------------------------------------------------------


STARTED = time.monotonic()


def log(text: str) -> None:
    """A progress line on stderr, with the time since the start."""
    print(f"[{time.monotonic() - STARTED:6.1f} s] {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Built:
    """What the build made."""

    first: int
    last: int
    buckets: int
    daily: int
    messages: int
    replayed: int
    topics: list[str]
    categories: list[Category]
    seconds: float


def build(url: str, options: Options) -> Built:
    """Create and fill the statscache tables and the raw table."""
    started = time.monotonic()
    end = int(time.time()) // 60 * 60
    minutes = options.days * 1440
    first = end - minutes * 60
    categories = plan(options.categories, options.per_minute)
    rows = bucket_rows(categories, first, minutes, options.seed)
    log(f"generated {len(rows):,} bucket rows ({options.days} days x {len(categories)} categories)")
    store = Store(url)
    try:
        store.prepare(plugin_classes())
        with psycopg.connect(url) as raw:
            load_buckets(raw, rows)
            daily = roll_up_daily(raw)
            stamp_volume(store, first, end - 1)
            log("loaded the buckets; filling the raw table")
            messages = load_raw(raw, categories)
            log(f"raw table: {messages:,} messages, indexed")
            topics = tracked_topics(categories)
            replayed = replay_releng(store, raw, topics, naive(end - BACKLOG.total_seconds()))
            log(f"replayed {replayed:,} messages into {RELENG}")
    finally:
        store.close()
    vacuum(url, [VOLUME_TABLE, DAILY_TABLE, "stat_release_engineering_event_logs", "messages"])
    log("vacuumed and analysed")
    return Built(first, end, len(rows), daily, messages, replayed, topics, categories, time.monotonic() - started)


def asks(built: Built, options: Options) -> list[Ask]:
    """The volume pages to time."""
    names = {category.name for category in built.categories}
    three = [name for name in ("bodhi", "copr", "pungi") if name in names] or [built.categories[0].name]
    busiest = built.categories[0].name
    day = built.last - 30 * 86400 if options.days > 31 else built.first
    week = built.last - 7 * 86400
    return [
        Ask("Newest 100 rows, whole history (the default page)", VOLUME, {"rows_per_page": 100}, 60, True),
        Ask(
            f"One day 30 days ago, {len(three)} categories, oldest first",
            VOLUME,
            {"rows_per_page": 100, "start": day, "stop": day + 86399, "order": "asc", "category": three},
            60,
        ),
        Ask("Page 200 of the whole history", VOLUME, {"rows_per_page": 100, "page": 200, "stop": built.last}, 60),
        Ask(
            f"Hourly roll-up of the 1-minute rows, busiest category ({busiest}), last 7 days",
            VOLUME,
            {"rows_per_page": 100, "category": [busiest], "resolution": "1h", "start": week},
            3600,
        ),
        Ask(
            f"Daily volume of the busiest category ({busiest}), whole history",
            DAILY,
            {"rows_per_page": 100, "category": [busiest], "start": built.first},
            86400,
        ),
    ]


def questions(url: str, built: Built, options: Options) -> list[Question]:
    """Serve the database with gunicorn and time every question."""
    found: list[Question] = []
    with gunicorn(url) as (host, port), in_process(url) as local, psycopg.connect(url, autocommit=True) as raw:
        serve = Client(host, port).get
        for ask in asks(built, options):
            found.append(volume_question(ask, serve, local, raw, options))
            log(f"timed: {ask.title}")
        found.append(releng_question(serve, local, raw, built.topics, options))
        log("timed: release-engineering event logs")
    return found


def report(built: Built, found: Sequence[Question], url: str, options: Options) -> None:
    """Print the data's size and the table of figures and ratios."""
    with psycopg.connect(url) as connection:
        sizes = connection.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('messages')), "
            f"pg_size_pretty(pg_total_relation_size('{VOLUME_TABLE}')), "
            "(SELECT count(*) FROM stat_release_engineering_event_logs)"
        ).fetchone() or ("?", "?", "?")
    start, stop = naive(built.first).isoformat(), naive(built.last).isoformat()
    print(f"data      {options.days} days ({start} .. {stop} UTC), {len(built.categories)} categories")
    print(f"          {VOLUME_TABLE}: {built.buckets:,} rows, {sizes[1]}; {DAILY_TABLE}: {built.daily:,} rows")
    print(f"          messages (raw): {built.messages:,} rows, {sizes[0]} with indexes")
    print(f"          {RELENG}: {sizes[2]} keys ({built.replayed:,} messages replayed)")
    print(f"          built in {built.seconds:.0f} s")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"machine   {os.cpu_count()} CPUs, PostgreSQL {server_version(url)}, gunicorn 2 sync workers")
    print(f"          load average at the end {load} (1, 5, 15 min): above ~0.5 the figures carry others' noise")
    print()
    header = f"{'way':<40} {'runs':>5} {'p50 ms':>9} {'p99 ms':>9} {'raw/sc p50':>11} {'raw/sc p99':>11}"
    for question in found:
        print(question.title)
        print(f"  check: {question.check}")
        print("  " + header)
        base = next(way for way in question.ways if way.baseline).timing
        for way in question.ways:
            timing = way.timing
            ratios = (
                f"{timing.p50 / base.p50:11.3g} {timing.p99 / base.p99:11.3g}" if way.label.startswith("raw") else ""
            )
            runs = len(timing.samples)
            print(f"  {way.label:<40} {runs:>5} {timing.p50 * 1e3:9.2f} {timing.p99 * 1e3:9.2f} {ratios}")
        print()


def server_version(url: str) -> str:
    """The PostgreSQL server's version."""
    with psycopg.connect(url) as connection:
        row = connection.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"


def parse(argv: Sequence[str] | None = None) -> Options:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--categories", type=int, default=40)
    parser.add_argument("--per-minute", type=float, default=20.0, help="raw messages a minute, all categories")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per statscache way")
    parser.add_argument("--raw-runs", type=int, default=60, help="timed runs per raw way")
    parser.add_argument("--budget", type=float, default=12.0, help="seconds at most per way (at least 3 runs)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="7 days, fewer runs: a smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the database (prints how to drop it)")
    args = parser.parse_args(argv)
    if args.quick:
        args.days, args.requests, args.raw_runs, args.budget = 7, 60, 10, 5.0
    return Options(
        args.days, args.categories, args.per_minute, args.requests, args.raw_runs, args.budget, args.seed, args.keep
    )


def main(argv: Sequence[str] | None = None) -> None:
    global STARTED  # noqa: PLW0603 - the progress clock starts with the run, not the import
    STARTED = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still drop the database and stop gunicorn
    options = parse(argv)
    with temporary_database(options.keep) as url:
        built = build(url, options)
        found = questions(url, built, options)
        report(built, found, url, options)
    print(f"total     {time.monotonic() - STARTED:.0f} s for the whole run")


if __name__ == "__main__":
    main()
