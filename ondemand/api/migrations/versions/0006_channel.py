"""The booking channel of a ride request (``ride_requests.channel``: app, phone, web, line).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ride_requests.channel (NULL: not given, and for rows stored before it existed)."""
    with op.batch_alter_table("ride_requests") as batch:
        batch.add_column(sa.Column("channel", sa.String(16), nullable=True))


def downgrade() -> None:
    """Drop ride_requests.channel."""
    with op.batch_alter_table("ride_requests") as batch:
        batch.drop_column("channel")
