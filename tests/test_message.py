"""Normalising every shape of bus message, and rejecting what cannot be one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statscache import message as m
from statscache.message import Message, Rejected, from_dict, parse_line

RAW_ROW = {
    "msg_id": "2024-6f1bd0c2-a6a6-4e1e-9bfd-2a1b6c6e8c1e",
    "topic": "org.fedoraproject.prod.bodhi.update.comment",
    "timestamp": 1700000000.5,
    "msg": {"comment": {"author": "alice", "text": "works"}},
    "users": ["alice", "bob"],
    "packages": ["kernel"],
}
FEDORA_MESSAGING = {
    "id": "e9896415-29c2-479c-a6a1-ca397ce7bf7c",
    "topic": "org.fedoraproject.prod.buildsys.tag",
    "headers": {"sent-at": "2022-01-05T09:41:27+00:00"},
    "body": {"tag": "f36", "owner": "carol"},
}


def test_raw_row() -> None:
    msg = from_dict(RAW_ROW)
    assert msg.id == RAW_ROW["msg_id"] and msg.topic == RAW_ROW["topic"]
    assert msg.timestamp == datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)
    assert msg.category == "bodhi"
    assert msg.usernames == {"alice", "bob"} and msg.packages == {"kernel"}
    assert msg.body == RAW_ROW["msg"]


def test_fedora_messaging_shape() -> None:
    msg = from_dict(FEDORA_MESSAGING)
    assert msg.id == FEDORA_MESSAGING["id"]
    assert msg.epoch == datetime(2022, 1, 5, 9, 41, 27, tzinfo=UTC).timestamp()
    assert msg.timestamp.tzinfo is not None and msg.timestamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert msg.category == "buildsys"


def test_category_of_short_topic() -> None:
    assert from_dict({**RAW_ROW, "topic": "bodhi.update"}).category == "Unclassified"
    assert from_dict({**RAW_ROW, "topic": "a.b.c.d"}).category == "d"


def test_message_is_immutable() -> None:
    msg = from_dict(RAW_ROW)
    with pytest.raises(AttributeError):
        msg.topic = "x"  # type: ignore[misc]


def test_deterministic_id_without_msg_id() -> None:
    row = {k: v for k, v in RAW_ROW.items() if k != "msg_id"}
    first, again = from_dict(row), from_dict(json.loads(json.dumps(row)))
    assert first.id == again.id and first.id.startswith("sha256-")
    other = from_dict({**row, "msg": {"comment": {"author": "alice", "text": "broken"}}})
    assert other.id != first.id
    reordered = from_dict({**row, "msg": {"comment": {"text": "works", "author": "alice"}}})
    assert reordered.id == first.id, "key order is not content"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{not json", m.NOT_JSON),
        (b"", m.NOT_JSON),
        (b"[1, 2]", m.NOT_OBJECT),
        (b'"text"', m.NOT_OBJECT),
        (b'{"timestamp": 1, "msg": {}}', m.NO_TOPIC),
        (b'{"topic": "", "timestamp": 1, "msg": {}}', m.NO_TOPIC),
        (b'{"topic": 7, "timestamp": 1, "msg": {}}', m.NO_TOPIC),
        (b'{"topic": "a.b.c.d", "msg": {}}', m.NO_TIMESTAMP),
        (b'{"topic": "a.b.c.d", "timestamp": "soon", "msg": {}}', m.NO_TIMESTAMP),
        (b'{"topic": "a.b.c.d", "timestamp": true, "msg": {}}', m.NO_TIMESTAMP),
        (b'{"topic": "a.b.c.d", "headers": {"sent-at": "yesterday"}, "body": {}}', m.NO_TIMESTAMP),
        (b'{"topic": "a.b.c.d", "timestamp": 1, "msg": "text"}', m.BODY_NOT_OBJECT),
        (b'{"topic": "a.b.c.d", "timestamp": 1, "body": [1]}', m.BODY_NOT_OBJECT),
        (b'{"topic": "a.b.c.d", "timestamp": 1}', m.BODY_NOT_OBJECT),
    ],
)
def test_rejections_have_reasons(line: bytes, reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        parse_line(line)
    assert caught.value.reason == reason


def test_timestamp_forms() -> None:
    base = {"topic": "a.b.c.d", "body": {}}
    assert from_dict({**base, "timestamp": 10}).epoch == 10.0
    assert from_dict({**base, "timestamp": "2020-01-01T00:00:00Z"}).epoch == 1577836800.0
    naive = from_dict({**base, "headers": {"sent-at": "2020-01-01T00:00:00"}})
    assert naive.epoch == 1577836800.0, "a naive time is UTC"
    offset = from_dict({**base, "headers": {"sent-at": "2020-01-01T01:00:00+01:00"}})
    assert offset.epoch == 1577836800.0


def test_corpus_rejections_match_its_documented_quirks(corpus: Path) -> None:
    reasons: dict[str, int] = {}
    accepted = 0
    for line in (corpus / "fedmsg.jsonl").read_bytes().splitlines():
        try:
            parse_line(line)
            accepted += 1
        except Rejected as rejected:
            reasons[rejected.reason] = reasons.get(rejected.reason, 0) + 1
    assert reasons == {m.NO_TIMESTAMP: 23}, "the corpus README documents 23 messages without a timestamp"
    assert accepted == 608 - 23


def test_schema_gives_usernames_when_installed() -> None:
    body = {
        "comment": {
            "user": {"name": "dave"},
            "text": "LGTM",
            "karma": 1,
            "update": {
                "alias": "FEDORA-2024-1",
                "title": "pkg-1.0-1.fc40",
                "user": {"name": "erin"},
                "release": {"name": "F40"},
                "builds": [{"nvr": "pkg-1.0-1.fc40"}],
            },
        },
        "agent": "dave",
    }
    record = {
        "id": "x1",
        "topic": "org.fedoraproject.prod.bodhi.update.comment",
        "headers": {"sent-at": "2024-01-01T00:00:00+00:00", "fedora_messaging_schema": "bodhi.update.comment.v1"},
        "body": body,
    }
    with_schema = from_dict(record)
    assert "dave" in with_schema.usernames
    assert with_schema.packages == {"pkg"}


def test_unknown_schema_falls_back() -> None:
    record = {
        "id": "x2",
        "topic": "org.fedoraproject.prod.bodhi.update.comment",
        "headers": {"sent-at": "2024-01-01T00:00:00+00:00", "fedora_messaging_schema": "no.such.schema.v9"},
        "body": {"comment": {"author": "frank"}},
    }
    assert isinstance(from_dict(record), Message)
    assert from_dict(record).usernames == from_dict({**record, "headers": {"sent-at": "2024-01-01"}}).usernames


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    ["topic", "timestamp", "msg", "body", "headers", "msg_id", "id", "users", "packages", "sent-at"]
)


@settings(max_examples=300, deadline=None)
@given(
    record=st.dictionaries(FIELDS, JSON, max_size=8),
    topic=st.sampled_from(["org.fedoraproject.prod.bodhi.update.comment", "io.pagure.prod.pagure.git.receive", "x"]),
    schema=st.sampled_from([None, "bodhi.update.comment.v1", "no.such.v1", 3]),
)
def test_any_json_becomes_a_message_or_a_rejection(record: dict[str, object], topic: str, schema: object) -> None:
    """Input never raises anything but Rejected, and a message's derived fields never raise."""
    candidates: list[object] = [record, {**record, "topic": topic, "timestamp": 1.0}]
    if schema is not None:
        candidates.append(
            {**record, "topic": topic, "headers": {"fedora_messaging_schema": schema, "sent-at": "2024-01-01"}}
        )
    for candidate in candidates:
        try:
            msg = from_dict(candidate)
        except Rejected as rejected:
            assert rejected.reason in m.REASONS
            continue
        assert isinstance(msg.usernames, frozenset) and isinstance(msg.packages, frozenset)
        assert all(isinstance(name, str) for name in msg.usernames | msg.packages)
        assert msg.category and msg.timestamp.tzinfo is not None
