"""Core tables: registered plugins, counted message ids, the flush lock.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "statscache_plugins",
        sa.Column("ident", sa.String(255), primary_key=True),
        sa.Column("slot", sa.Integer, nullable=False, unique=True),
        sa.Column("oldest", sa.Float, nullable=True),
        sa.Column("newest", sa.Float, nullable=True),
        sa.Column("closed_before", sa.Float, nullable=True),
        sa.Column("checkpoint", sa.Float, nullable=True),
    )
    op.create_table(
        "statscache_seen_messages",
        sa.Column("msg_id", sa.String(255), primary_key=True),
        sa.Column("word", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("mask", sa.BigInteger, nullable=False),
        sa.Column("epoch", sa.Float, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_statscache_seen_messages_epoch", "statscache_seen_messages", ["epoch"])
    op.create_table(
        "statscache_flush_lock",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("flushes", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO statscache_flush_lock (id, flushes) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("statscache_flush_lock")
    op.drop_index("ix_statscache_seen_messages_epoch", "statscache_seen_messages")
    op.drop_table("statscache_seen_messages")
    op.drop_table("statscache_plugins")
