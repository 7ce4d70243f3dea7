"""Initial schema: operators, api_keys, vehicles, ride_requests, vehicle_events.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the tables of schema version 1."""
    op.create_table(
        "operators",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id"), nullable=False, index=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(12), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("vehicle_id", sa.String(64), nullable=True),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "vehicles",
        sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id"), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("seats", sa.Integer, nullable=False),
        sa.Column("wheelchair_places", sa.Integer, nullable=False),
        sa.Column("last_lon", sa.Float, nullable=True),
        sa.Column("last_lat", sa.Float, nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "ride_requests",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id"), nullable=False, index=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("service_date", sa.String(10), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("vehicle_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("pickup_stop", sa.String(64), nullable=False),
        sa.Column("dropoff_stop", sa.String(64), nullable=False),
        sa.Column("pickup_walk_m", sa.Integer, nullable=False),
        sa.Column("dropoff_walk_m", sa.Integer, nullable=False),
        sa.Column("passengers", sa.Integer, nullable=False),
        sa.Column("wheelchair", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("booked_at_s", sa.BigInteger, nullable=False),
        sa.Column("earliest_pickup_s", sa.BigInteger, nullable=False),
        sa.Column("latest_pickup_s", sa.BigInteger, nullable=False),
        sa.Column("latest_dropoff_s", sa.BigInteger, nullable=False),
        sa.Column("max_ride_s", sa.BigInteger, nullable=False),
        sa.Column("pickup_service_s", sa.Integer, nullable=False),
        sa.Column("dropoff_service_s", sa.Integer, nullable=False),
        sa.Column("promise_pickup_start_s", sa.BigInteger, nullable=True),
        sa.Column("promise_pickup_end_s", sa.BigInteger, nullable=True),
        sa.Column("promise_dropoff_eta_s", sa.BigInteger, nullable=True),
        sa.Column("promise_latest_dropoff_s", sa.BigInteger, nullable=True),
        sa.Column("picked_up_at_s", sa.BigInteger, nullable=True),
        sa.Column("dropped_off_at_s", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("operator_id", "idempotency_key", name="uq_ride_requests_idem"),
    )
    op.create_table(
        "vehicle_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id"), nullable=False, index=True),
        sa.Column("vehicle_id", sa.String(64), nullable=False),
        sa.Column("service_date", sa.String(10), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at_s", sa.BigInteger, nullable=False),
        sa.Column("lon", sa.Float, nullable=True),
        sa.Column("lat", sa.Float, nullable=True),
        sa.Column("stop_id", sa.String(64), nullable=True),
        sa.Column("request_id", sa.String(40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop every table of schema version 1."""
    for table in ("vehicle_events", "ride_requests", "vehicles", "api_keys", "operators"):
        op.drop_table(table)
