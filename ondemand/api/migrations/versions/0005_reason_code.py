"""The machine-readable reason of a refused ride request (``ride_requests.reason_code``).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ride_requests.reason_code (NULL for rows stored before it existed)."""
    with op.batch_alter_table("ride_requests") as batch:
        batch.add_column(sa.Column("reason_code", sa.String(32), nullable=True))


def downgrade() -> None:
    """Drop ride_requests.reason_code."""
    with op.batch_alter_table("ride_requests") as batch:
        batch.drop_column("reason_code")
