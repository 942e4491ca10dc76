"""The core tables (under Alembic migrations); plugin tables come from their model kinds."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, MetaData, String, Table, Text

metadata = MetaData()

# One row per plugin ever registered; its slot is its bit in ``seen_messages.mask``.
plugins = Table(
    "statscache_plugins",
    metadata,
    Column("ident", String(255), primary_key=True),
    Column("slot", Integer, nullable=False, unique=True),
    Column("oldest", Float, nullable=True),  # oldest message epoch ever counted
    Column("newest", Float, nullable=True),  # newest message epoch ever counted
    Column("closed_before", Float, nullable=True),  # ids older than this were forgotten
    Column("checkpoint", Float, nullable=True),  # known complete up to (back-fill)
    Column("updated_at", Float, nullable=True),  # wall-clock time its rows last changed
    Column("retained_from", Float, nullable=True),  # older buckets were dropped by retention
)

# Which plugins counted which message: bit ``slot % BITS`` of word ``slot // BITS``.
seen_messages = Table(
    "statscache_seen_messages",
    metadata,
    Column("msg_id", String(255), primary_key=True),
    Column("word", Integer, primary_key=True, autoincrement=False),
    Column("mask", BigInteger, nullable=False),
    Column("epoch", Float, nullable=False, index=True),
    sqlite_with_rowid=False,
)

# A single row every flush updates first: it serialises flushes across workers.
flush_lock = Table(
    "statscache_flush_lock",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("flushes", BigInteger, nullable=False),
)

# Windows a back-fill could not fetch: the plugins' checkpoints stay before them.
gaps = Table(
    "statscache_gaps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("start", Float, nullable=False),
    Column("end", Float, nullable=False),
    Column("plugins", Text, nullable=False),  # space-separated idents
    Column("reason", Text, nullable=False),
    Column("recorded_at", Float, nullable=False),
)

BITS = 62  # bits used per mask word: stays positive in a signed 64-bit integer
