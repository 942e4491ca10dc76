"""Retention: the oldest bucket a statistic still holds after its fine rows were dropped.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("statscache_plugins", sa.Column("retained_from", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("statscache_plugins") as batch:
        batch.drop_column("retained_from")
