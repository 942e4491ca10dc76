"""Exactly once per plugin, new plugins on old databases, and the bounded record of ids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import recompute as expect
from helpers import replay_files, replay_messages
from statscache import schema
from statscache.message import from_dict
from statscache.pipeline import Settings
from statscache.plugins import activity, volume
from statscache.store import Store, StoreError, resolve_url

VOLUME_1D = next(c for c in volume.PLUGINS if c.ident == "volume-1d")
BY_TOPIC_1D = next(c for c in volume.PLUGINS if c.ident == "volume-by-topic-1d")
USERS_1D = activity.ActiveUsersDaily


def messages(corpus: Path, name: str = "fedmsg.jsonl") -> list[Any]:
    out = []
    for line in (corpus / name).read_text().splitlines():
        record = json.loads(line)
        if expect.valid(record):
            out.append(from_dict(record))
    return out


def test_overlapping_files_count_once(db_url: str, corpus: Path, tmp_path: Path) -> None:
    lines = (corpus / "fedmsg.jsonl").read_text().splitlines()
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text("\n".join(lines[:400]))
    second.write_text("\n".join(lines[250:]))
    store, _ = replay_files(db_url, [first, second], classes=[VOLUME_1D])
    _, again = replay_files(db_url, [second, first], classes=[VOLUME_1D])
    assert again.accepted == 0
    assert store.rows(VOLUME_1D) == expect.volume(expect.unique_records([corpus / "fedmsg.jsonl"]), 86400)


def test_new_plugin_counts_history_without_touching_others(db_url: str, corpus: Path) -> None:
    store, _ = replay_files(db_url, [corpus / "fedmsg.jsonl"], classes=[VOLUME_1D])
    before = store.rows(VOLUME_1D)
    store, stats = replay_files(db_url, [corpus / "fedmsg.jsonl"], classes=[VOLUME_1D, BY_TOPIC_1D])
    records = expect.unique_records([corpus / "fedmsg.jsonl"])
    assert stats.accepted == len(records), "every message is new to the new plugin"
    assert store.rows(VOLUME_1D) == before
    assert store.rows(BY_TOPIC_1D) == expect.keyed(records, 86400, "topic", lambda r, t, b: [t])


def test_slots_are_stable_and_never_reused(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    store.prepare([VOLUME_1D, USERS_1D])
    slots = {k: v["slot"] for k, v in store.plugin_state().items()}
    store.prepare([BY_TOPIC_1D])
    store.prepare([USERS_1D, VOLUME_1D, BY_TOPIC_1D])
    after = {k: v["slot"] for k, v in store.plugin_state().items()}
    assert {k: after[k] for k in slots} == slots
    assert len(set(after.values())) == 3


def test_many_plugins_span_several_mask_words(sqlite_url: str, corpus: Path) -> None:
    """More plugins than bits in one word still count exactly once each."""
    classes = [
        type(f"V{i}", (VOLUME_1D,), {"ident": f"volume-copy-{i}", "__module__": __name__})
        for i in range(schema.BITS + 5)
    ]
    store, _ = replay_files(sqlite_url, [corpus / "fedmsg.jsonl"], classes=classes)
    store, again = replay_files(sqlite_url, [corpus / "fedmsg.jsonl"], classes=classes)
    assert again.accepted == 0
    expected = expect.volume(expect.unique_records([corpus / "fedmsg.jsonl"]), 86400)
    assert store.rows(classes[0]) == store.rows(classes[-1]) == expected


def test_prune_bounds_the_record_and_closes_counted_history(db_url: str, corpus: Path) -> None:
    store, _ = replay_files(db_url, [corpus / "fedmsg.jsonl"], classes=[VOLUME_1D])
    before = store.rows(VOLUME_1D)
    with store.engine.connect() as connection:
        recorded = connection.execute(select(func.count()).select_from(schema.seen_messages)).scalar()
    horizon = store.prune(keep_seconds=365 * 86400)
    assert horizon is not None
    with store.engine.connect() as connection:
        kept = connection.execute(select(func.count()).select_from(schema.seen_messages)).scalar()
        oldest = connection.execute(select(func.min(schema.seen_messages.c.epoch))).scalar()
    assert 0 < kept < recorded and oldest >= horizon  # type: ignore[operator]
    assert store.plugin_state()["volume-1d"]["closed_before"] == horizon
    # replaying everything again: forgotten ids are older than the horizon, so still not recounted
    _, again = replay_files(db_url, [corpus / "fedmsg.jsonl"], classes=[VOLUME_1D])
    assert again.accepted == 0 and store.rows(VOLUME_1D) == before
    # a plugin added later has counted nothing that old, so it takes the whole history
    store, fresh = replay_files(db_url, [corpus / "fedmsg.jsonl"], classes=[VOLUME_1D, BY_TOPIC_1D])
    assert fresh.accepted == len(expect.unique_records([corpus / "fedmsg.jsonl"]))
    assert store.plugin_state()["volume-by-topic-1d"]["closed_before"] is None


def test_flush_failure_keeps_the_batch_for_a_retry(sqlite_url: str, corpus: Path) -> None:
    batch = messages(corpus)[:50]
    store = Store(sqlite_url)
    store.prepare([VOLUME_1D])
    plugin = VOLUME_1D()
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE stat_volume_1d")
    with pytest.raises(Exception):
        store.flush(batch, [plugin])
    assert not plugin.deltas, "deltas of a failed flush are dropped"
    store.prepare([VOLUME_1D])
    store.flush(batch, [plugin])
    assert sum(r["volume"] for r in store.rows(VOLUME_1D)) == len({m.id for m in batch})


def test_url_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATSCACHE_DB_URL", "sqlite:///env.db")
    assert resolve_url("sqlite:///flag.db") == "sqlite:///flag.db"
    assert resolve_url(None) == "sqlite:///env.db"
    monkeypatch.delenv("STATSCACHE_DB_URL")
    assert resolve_url(None) == "sqlite:///statscache.db"
    with pytest.raises(StoreError):
        Store("redis://127.0.0.1")


def test_small_flushes_equal_one_big_flush(db_url: str, corpus: Path) -> None:
    records = messages(corpus)
    small, _ = replay_messages(db_url, records, classes=[BY_TOPIC_1D, USERS_1D], settings=Settings(max_pending=7))
    assert small.rows(BY_TOPIC_1D) == expect.keyed(
        expect.unique_records([corpus / "fedmsg.jsonl"]), 86400, "topic", lambda r, t, b: [t]
    )


def test_migrations_upgrade_an_old_database(db_url: str) -> None:
    """A database at the first migration is brought to head, keeping its rows."""
    from alembic import command
    from alembic.config import Config
    from importlib.resources import files

    store = Store(db_url)
    config = Config()
    config.set_main_option("script_location", str(files("statscache") / "migrations"))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(schema.plugins.insert().values(ident="volume-1d", slot=0))
    store.prepare([VOLUME_1D, BY_TOPIC_1D])
    state = store.plugin_state()
    assert state["volume-1d"]["slot"] == 0 and state["volume-1d"]["updated_at"] is None
    assert state["volume-by-topic-1d"]["slot"] == 1


def test_prune_never_passes_a_checkpoint(sqlite_url: str, corpus: Path) -> None:
    """A back-fill still walking old history keeps recognising what it counts."""
    store, _ = replay_files(sqlite_url, [corpus / "fedmsg.jsonl"], classes=[VOLUME_1D])
    oldest = min(r["timestamp"] for r in expect.unique_records([corpus / "fedmsg.jsonl"]))
    store.advance_checkpoint(["volume-1d"], oldest + 1)
    horizon = store.prune(keep_seconds=86400)
    assert horizon == oldest + 1
    _, again = replay_files(sqlite_url, [corpus / "fedmsg.jsonl"], classes=[VOLUME_1D])
    assert again.accepted == 0


def test_db_upgrade_command(db_url: str) -> None:
    from click.testing import CliRunner

    from statscache.cli import cli

    result = CliRunner().invoke(cli, ["db", "upgrade", "--db", db_url], catch_exceptions=False)
    assert result.exit_code == 0 and result.output.strip().endswith("is at migration 0004"), result.output
    with Store(db_url) as store:
        assert store.revision() == "0004" and store.gaps() == []
