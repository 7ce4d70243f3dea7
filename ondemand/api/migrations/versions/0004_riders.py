"""Registered riders (personal data, for the phone desk) and the rider of a ride request.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the riders table and ride_requests.rider_id."""
    op.create_table(
        "riders",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("name_key", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(16), nullable=False),
        sa.Column("needs", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_riders_operator_id", "riders", ["operator_id"])
    op.create_index("ix_riders_phone", "riders", ["phone"])
    with op.batch_alter_table("ride_requests") as batch:
        batch.add_column(sa.Column("rider_id", sa.String(40), nullable=True))
        batch.create_index("ix_ride_requests_rider_id", ["rider_id"])


def downgrade() -> None:
    """Drop ride_requests.rider_id and the riders table."""
    with op.batch_alter_table("ride_requests") as batch:
        batch.drop_index("ix_ride_requests_rider_id")
        batch.drop_column("rider_id")
    op.drop_index("ix_riders_phone", "riders")
    op.drop_index("ix_riders_operator_id", "riders")
    op.drop_table("riders")
