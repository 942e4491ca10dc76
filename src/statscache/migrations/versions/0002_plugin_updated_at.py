"""Record when a plugin's rows last changed, for Last-Modified and cheap polling.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("statscache_plugins", sa.Column("updated_at", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("statscache_plugins") as batch:
        batch.drop_column("updated_at")
