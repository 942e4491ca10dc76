"""The archive source against a datanommer database on the real PostgreSQL server.

The schema below follows datanommer.models 1.x at its newest migration (fedora-infra/datanommer,
``datanommer.models/datanommer/models/__init__.py`` and ``alembic/versions``): ``messages`` with a
composite primary key ``(id, timestamp)`` (a TimescaleDB hypertable there, a plain table here),
``msg`` as JSON text, ``headers`` JSONB, ``username`` renamed ``agent_name``; ``users`` and
``packages`` with unique names; association tables keyed by the message's id and timestamp.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest

from statscache.message import BODY_NOT_OBJECT, NOT_JSON, Message, Rejected
from statscache.sources.datanommer import ArchiveError, read

pytestmark = pytest.mark.postgres

SCHEMA = """
CREATE TABLE messages (
    id serial NOT NULL,
    msg_id varchar,
    i integer NOT NULL,
    topic varchar NOT NULL,
    "timestamp" timestamp without time zone NOT NULL,
    certificate text,
    signature text,
    category varchar NOT NULL,
    agent_name varchar,
    crypto text,
    source_name varchar,
    source_version varchar,
    msg text NOT NULL,
    headers jsonb,
    PRIMARY KEY (id, "timestamp"),
    UNIQUE (msg_id, "timestamp")
);
CREATE INDEX ix_messages_msg_id ON messages (msg_id);
CREATE INDEX ix_messages_topic ON messages (topic);
CREATE INDEX ix_messages_timestamp ON messages ("timestamp");
CREATE INDEX ix_messages_category ON messages (category);
CREATE INDEX ix_messages_agent_name ON messages (agent_name);
CREATE INDEX ix_messages_headers ON messages USING gin (headers jsonb_path_ops);
CREATE TABLE users (id serial PRIMARY KEY, name text);
CREATE UNIQUE INDEX ix_users_name ON users (name);
CREATE TABLE packages (id serial PRIMARY KEY, name text);
CREATE UNIQUE INDEX ix_packages_name ON packages (name);
CREATE TABLE users_messages (
    user_id integer NOT NULL REFERENCES users (id),
    msg_id integer NOT NULL,
    msg_timestamp timestamp without time zone NOT NULL,
    PRIMARY KEY (user_id, msg_id, msg_timestamp)
);
CREATE INDEX ix_users_messages_msg_id ON users_messages (msg_id);
CREATE INDEX ix_users_messages_msg_timestamp ON users_messages (msg_timestamp);
CREATE TABLE packages_messages (
    package_id integer NOT NULL REFERENCES packages (id),
    msg_id integer NOT NULL,
    msg_timestamp timestamp without time zone NOT NULL,
    PRIMARY KEY (package_id, msg_id, msg_timestamp)
);
CREATE INDEX ix_packages_messages_msg_id ON packages_messages (msg_id);
CREATE INDEX ix_packages_messages_msg_timestamp ON packages_messages (msg_timestamp);
"""

EPOCH = datetime(1970, 1, 1)
EVERYTHING = (0.0, 4_000_000_000.0)


@dataclass
class Row:
    """What one archived row should come out as."""

    id: int
    msg_id: str
    topic: str
    micros: int  # the stored timestamp, in microseconds since the epoch
    body: Any
    headers: dict[str, Any]
    users: list[str] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)

    @property
    def epoch(self) -> float:
        return self.micros / 1_000_000


class Archive:
    """A datanommer database, filled row by row, and what it holds."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.connection = psycopg.connect(url, autocommit=True)
        self.connection.execute(SCHEMA)
        self.rows: list[Row] = []

    def close(self) -> None:
        self.connection.close()

    def add(
        self,
        topic: str,
        micros: int,
        body: Any,
        *,
        msg_id: str,
        headers: dict[str, Any] | None = None,
        users: list[str] | None = None,
        packages: list[str] | None = None,
        raw_body: str | None = None,
        id: int | None = None,  # noqa: A002
    ) -> Row:
        moment = EPOCH + timedelta(microseconds=micros)
        parts = topic.split(".")
        cursor = self.connection.execute(
            "INSERT INTO messages (id, msg_id, i, topic, timestamp, category, source_name, source_version, msg, "
            "headers) VALUES (COALESCE(%s, nextval('messages_id_seq')), %s, 1, %s, %s, %s, 'datanommer', '1.4.0', "
            "%s, %s) RETURNING id",
            (
                id,
                msg_id,
                topic,
                moment,
                parts[3] if len(parts) > 3 else "Unclassified",
                raw_body if raw_body is not None else orjson.dumps(body).decode(),
                orjson.dumps(headers).decode() if headers is not None else None,
            ),
        )
        found = cursor.fetchone()
        assert found is not None
        row = Row(
            found[0], msg_id, topic, micros, body, headers or {}, sorted(set(users or ())), sorted(set(packages or ()))
        )
        for table, names in (("users", row.users), ("packages", row.packages)):
            for name in names:
                self.connection.execute(
                    f"INSERT INTO {table} (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", (name,)
                )
                key = "user_id" if table == "users" else "package_id"
                self.connection.execute(
                    f"INSERT INTO {table}_messages ({key}, msg_id, msg_timestamp) "
                    f"SELECT id, %s, %s FROM {table} WHERE name = %s",
                    (row.id, moment, name),
                )
        self.rows.append(row)
        return row

    def expected(self, start: float, end: float) -> list[Row]:
        """The rows in ``[start, end]``, oldest first, ties by id: computed here, not by the database."""
        low, high = round(start * 1_000_000), round(end * 1_000_000)
        return sorted((r for r in self.rows if low <= r.micros <= high), key=lambda r: (r.micros, r.id))


def micros_of(epoch: float) -> int:
    return round(epoch * 1_000_000)


def load_corpus(archive: Archive, corpus: Any) -> None:
    """The corpus messages that have a timestamp; names from fedmsg_meta's expectations, else synthetic."""
    expectations = {}
    for line in (corpus / "fedmsg_meta_expectations.jsonl").read_bytes().splitlines():
        entry = orjson.loads(line)
        expectations[orjson.dumps(entry["message"], option=orjson.OPT_SORT_KEYS)] = entry
    with archive.connection.transaction():  # one commit, not one a statement
        for number, line in enumerate((corpus / "fedmsg.jsonl").read_bytes().splitlines()):
            _load_one(archive, expectations, number, orjson.loads(line))


def _load_one(archive: Archive, expectations: dict[bytes, Any], number: int, record: Any) -> None:
    if not isinstance(record.get("timestamp"), int | float):
        return
    known = expectations.get(orjson.dumps(record, option=orjson.OPT_SORT_KEYS))
    if known is not None:
        users, packages = known["usernames"] or [], known["packages"] or []
    else:
        users, packages = [f"user{number % 5}", f"user{number % 3}"], [f"package{number % 4}"]
    micros = micros_of(record["timestamp"])
    # a sent-at an hour off: the row's timestamp must win
    sent_at = (EPOCH + timedelta(microseconds=micros, hours=1)).isoformat() + "+00:00"
    archive.add(
        record["topic"],
        micros,
        record["msg"],
        msg_id=record.get("msg_id") or f"corpus-{number}",
        headers={"sent-at": sent_at, "fedora_messaging_schema": "base.message", "number": number},
        users=users,
        packages=packages,
    )


@pytest.fixture
def empty(postgres_url: str) -> Iterator[Archive]:
    archive = Archive(postgres_url)
    try:
        yield archive
    finally:
        archive.close()


@pytest.fixture
def archive(empty: Archive, corpus: Any) -> Archive:
    load_corpus(empty, corpus)
    return empty


def messages(items: list[Message | Rejected]) -> list[Message]:
    assert all(isinstance(item, Message) for item in items), [i for i in items if isinstance(i, Rejected)]
    return [item for item in items if isinstance(item, Message)]


def check(items: list[Message | Rejected], expected: list[Row]) -> None:
    """Exactly the expected messages, in order, with every field as archived."""
    got = messages(items)
    assert [m.id for m in got] == [r.msg_id for r in expected]
    for message, row in zip(got, expected, strict=True):
        assert message.topic == row.topic
        assert message.epoch == pytest.approx(row.epoch, abs=1e-6)
        assert message.body == row.body
        assert message.headers == row.headers
        assert message.usernames == frozenset(row.users)
        assert message.packages == frozenset(row.packages)


def test_the_whole_corpus_comes_out_once_oldest_first(archive: Archive) -> None:
    assert len(archive.rows) == 585
    items = list(read(archive.url, *EVERYTHING))
    check(items, archive.expected(*EVERYTHING))
    epochs = [m.epoch for m in messages(items)]
    assert epochs == sorted(epochs)


def test_windows_include_both_ends(archive: Archive) -> None:
    stamps = sorted({r.micros for r in archive.rows})
    assert len(stamps) > 100
    for low, high in [(0, 0), (0, 10), (5, 5), (17, 120), (100, len(stamps) - 1), (len(stamps) - 1, len(stamps) - 1)]:
        start, end = stamps[low] / 1_000_000, stamps[high] / 1_000_000
        expected = archive.expected(start, end)
        assert expected[0].micros == stamps[low] and expected[-1].micros == stamps[high]
        check(list(read(archive.url, start, end, batch=7)), expected)
    # just inside and just outside one timestamp
    one = stamps[50] / 1_000_000
    assert [m.id for m in messages(list(read(archive.url, one - 1e-6, one + 1e-6)))] == [
        r.msg_id for r in archive.expected(one, one)
    ]
    assert list(read(archive.url, one + 1e-6, stamps[51] / 1_000_000 - 1e-6)) == []
    assert list(read(archive.url, one, one - 1)) == []


@pytest.mark.parametrize("batch", [1, 2, 7, 584, 585, 586])
def test_any_batch_size_gives_the_same_stream(archive: Archive, batch: int) -> None:
    reported: list[int] = []
    start, end = archive.rows[40].epoch, archive.rows[500].epoch
    url = archive.url.replace("postgresql://", "postgresql+psycopg://")  # SQLAlchemy's spelling works too
    items = list(read(url, start, end, batch=batch, progress=reported.append))
    expected = archive.expected(start, end)
    check(items, expected)
    assert sum(reported) == len(expected)
    assert all(0 < n <= batch for n in reported)
    assert len(reported) == -(-len(expected) // batch)


@pytest.mark.parametrize("batch", [2, 3, 4, 5])
def test_messages_sharing_a_timestamp_survive_batch_boundaries(empty: Archive, batch: int) -> None:
    tie = micros_of(1_700_000_000.5)
    empty.add("org.fedoraproject.prod.a.before", tie - 1, {"n": -1}, msg_id="before")
    # ids deliberately not in insertion order: ties are ordered by id
    for n, row_id in enumerate([109, 101, 107, 103, 105, 102, 108, 104, 106]):
        empty.add("org.fedoraproject.prod.a.tie", tie, {"n": n}, msg_id=f"tie-{row_id}", id=row_id)
    empty.add("org.fedoraproject.prod.a.after", tie + 1, {"n": 99}, msg_id="after")
    items = list(read(empty.url, *EVERYTHING, batch=batch))
    assert [m.id for m in messages(items)] == ["before", *(f"tie-{i}" for i in range(101, 110)), "after"]
    only = list(read(empty.url, tie / 1_000_000, tie / 1_000_000, batch=batch))
    assert [m.id for m in messages(only)] == [f"tie-{i}" for i in range(101, 110)]


def test_usernames_and_packages_come_from_the_archive(archive: Archive) -> None:
    got = {m.id: m for m in messages(list(read(archive.url, *EVERYTHING, batch=50)))}
    with_names = [r for r in archive.rows if r.users or r.packages]
    assert len(with_names) > 300
    for row in archive.rows:
        assert got[row.msg_id].usernames == frozenset(row.users)
        assert got[row.msg_id].packages == frozenset(row.packages)
    # a few names known from fedmsg_meta's expectations really flowed through
    assert any("ralph" in m.usernames for m in got.values())


def test_no_names_in_the_archive_means_none_not_guessed(empty: Archive) -> None:
    body = {"agent": "dgilmore", "owner": "ralph", "package": "kernel"}
    empty.add("org.fedoraproject.prod.git.mass_branch.start", micros_of(1_500_000_000), body, msg_id="bare")
    (message,) = messages(list(read(empty.url, *EVERYTHING)))
    assert message.usernames == frozenset()
    assert message.packages == frozenset()


def test_the_row_timestamp_wins_over_sent_at(archive: Archive) -> None:
    row = archive.rows[10]
    (message,) = [m for m in messages(list(read(archive.url, row.epoch, row.epoch))) if m.id == row.msg_id]
    assert message.epoch == pytest.approx(row.epoch, abs=1e-6)
    assert message.headers["sent-at"] != message.timestamp.isoformat()


def test_bad_rows_are_rejected_in_place(empty: Archive) -> None:
    base = micros_of(1_600_000_000)
    empty.add("org.fedoraproject.prod.a.good", base, {"n": 1}, msg_id="good-1")
    empty.add("org.fedoraproject.prod.a.list", base + 1, [1, 2], msg_id="list")
    empty.add("org.fedoraproject.prod.a.text", base + 2, None, msg_id="text", raw_body="{not json")
    empty.add("org.fedoraproject.prod.a.scalar", base + 3, "just a string", msg_id="scalar")
    empty.add("org.fedoraproject.prod.a.good", base + 4, {"n": 2}, msg_id="good-2")
    items = list(read(empty.url, *EVERYTHING, batch=2))
    assert len(items) == 5
    assert isinstance(items[0], Message) and items[0].id == "good-1"
    assert isinstance(items[4], Message) and items[4].id == "good-2"
    reasons = [item.reason for item in items[1:4] if isinstance(item, Rejected)]
    assert reasons == [BODY_NOT_OBJECT, NOT_JSON, BODY_NOT_OBJECT]


def test_a_message_without_msg_id_gets_a_stable_one(empty: Archive) -> None:
    empty.connection.execute(
        "INSERT INTO messages (i, topic, timestamp, category, msg) "
        "VALUES (1, 'org.fedoraproject.prod.a.b', '2020-01-01 00:00:00', 'a', '{\"x\": 1}')"
    )
    first = messages(list(read(empty.url, *EVERYTHING)))
    second = messages(list(read(empty.url, *EVERYTHING)))
    assert len(first) == 1 and first[0].id == second[0].id and first[0].id.startswith("sha256-")
    assert first[0].epoch == 1_577_836_800.0


def test_stopping_early_releases_the_connection(archive: Archive) -> None:
    def others() -> int:
        found = archive.connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
        assert found is not None
        return int(found[0])

    stream = read(archive.url, *EVERYTHING, batch=10)
    taken = list(itertools.islice(stream, 15))
    assert len(taken) == 15
    assert others() == 1
    stream.close()
    deadline = time.monotonic() + 5  # a backend exits just after its client hangs up
    while others() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert others() == 0


def test_an_unreachable_archive_is_one_clear_line() -> None:
    with pytest.raises(ArchiveError) as raised:
        list(read("postgresql://someone:secret@127.0.0.1:1/datanommer", *EVERYTHING))
    text = str(raised.value)
    assert "\n" not in text
    assert "cannot connect" in text and "127.0.0.1" in text
    assert "secret" not in text


def test_a_database_without_messages_is_not_an_archive(postgres_url: str) -> None:
    with pytest.raises(ArchiveError, match="no datanommer 'messages' table") as raised:
        list(read(postgres_url, *EVERYTHING))
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("url", ["sqlite:///archive.db", "not a url", "postgresql+psycopg2://postgres@127.0.0.1/x"])
def test_only_postgresql_urls(url: str) -> None:
    with pytest.raises(ArchiveError):
        list(read(url, *EVERYTHING))


def test_older_layouts_are_read(postgres_url: str) -> None:
    """datanommer < 1.0: ``_msg``/``_headers`` text, ``users``/``packages`` arrays on messages."""
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE messages (id serial PRIMARY KEY, msg_id varchar, i integer NOT NULL, topic varchar NOT NULL, "
            '"timestamp" timestamp without time zone NOT NULL, category varchar NOT NULL, _msg text NOT NULL, '
            "_headers text, users varchar[], packages varchar[])"
        )
        connection.execute(
            "INSERT INTO messages (msg_id, i, topic, timestamp, category, _msg, _headers, users, packages) VALUES "
            "('old-1', 1, 'org.fedoraproject.prod.a.b', '2014-01-01 00:00:01.5', 'a', '{\"x\": 1}', "
            "'{\"h\": 1}', ARRAY['ralph'], ARRAY['kernel']), "
            "('old-2', 1, 'org.fedoraproject.prod.a.b', '2014-01-01 00:00:02', 'a', '{\"x\": 2}', NULL, NULL, NULL)"
        )
    one, two = messages(list(read(postgres_url, *EVERYTHING, batch=1)))
    assert (one.id, one.epoch, one.body, one.headers) == ("old-1", 1_388_534_401.5, {"x": 1}, {"h": 1})
    assert (one.usernames, one.packages) == (frozenset({"ralph"}), frozenset({"kernel"}))
    assert (two.id, two.headers, two.usernames, two.packages) == ("old-2", {}, frozenset(), frozenset())


def test_json_typed_body_columns_are_read(empty: Archive) -> None:
    empty.connection.execute("ALTER TABLE messages ALTER COLUMN msg TYPE jsonb USING msg::jsonb")
    empty.add("org.fedoraproject.prod.a.b", micros_of(1_650_000_000.25), {"a": [1, {"b": None}]}, msg_id="j")
    (message,) = messages(list(read(empty.url, *EVERYTHING)))
    assert message.body == {"a": [1, {"b": None}]}
    assert message.epoch == 1_650_000_000.25


def test_statscache_backfill_from_datanommer(archive: Archive, tmp_path: Any) -> None:
    """``statscache backfill --datanommer URL`` counts every archived message once, and a rerun adds nothing."""
    from click.testing import CliRunner

    from statscache.cli import cli
    from statscache.plugin import discover
    from statscache.store import Store

    db = f"sqlite:///{tmp_path / 'from-archive.db'}"
    low = min(row.micros for row in archive.rows) / 1e6 - 1
    high = max(row.micros for row in archive.rows) / 1e6 + 1
    args = ["backfill", "--since", str(low), "--until", str(high), "--datanommer", archive.url, "--db", db]
    for _ in range(2):
        result = CliRunner().invoke(cli, [*args, "--window", str(365 * 86400)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    volume = next(cls for cls in discover() if cls.ident == "volume-1d")
    with Store(db) as store:
        assert sum(int(row["volume"]) for row in store.rows(volume)) == len({row.msg_id for row in archive.rows})


def test_an_unreachable_archive_is_a_gap_not_a_traceback(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from statscache.cli import cli

    args = ["backfill", "--since", "0", "--until", "100", "--window", "1000", "--retries", "0"]
    result = CliRunner().invoke(
        cli, [*args, "--datanommer", "postgresql://nobody@127.0.0.1:1/none", "--db", f"sqlite:///{tmp_path / 'x.db'}"]
    )
    assert result.exit_code == 1 and "gap" in result.output and "Traceback" not in result.output
