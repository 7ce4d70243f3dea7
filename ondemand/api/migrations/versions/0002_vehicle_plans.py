"""Stop order of each vehicle per service day, for an exact rebuild after a restart.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the vehicle_plans table."""
    op.create_table(
        "vehicle_plans",
        sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id"), primary_key=True),
        sa.Column("vehicle_id", sa.String(64), primary_key=True),
        sa.Column("service_date", sa.String(10), primary_key=True),
        sa.Column("stops", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop the vehicle_plans table."""
    op.drop_table("vehicle_plans")
