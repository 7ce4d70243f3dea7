"""Idempotency keys of vehicle events, so that a driver's tablet may resend an event safely.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add idempotency_key and body_hash to vehicle_events, unique per operator and vehicle."""
    op.add_column("vehicle_events", sa.Column("idempotency_key", sa.String(200), nullable=True))
    op.add_column("vehicle_events", sa.Column("body_hash", sa.String(64), nullable=True))
    op.create_index(
        "uq_vehicle_events_idem",
        "vehicle_events",
        ["operator_id", "vehicle_id", "idempotency_key"],
        unique=True,
    )


def downgrade() -> None:
    """Drop the idempotency columns of vehicle_events."""
    op.drop_index("uq_vehicle_events_idem", table_name="vehicle_events")
    with op.batch_alter_table("vehicle_events") as batch:
        batch.drop_column("body_hash")
        batch.drop_column("idempotency_key")
