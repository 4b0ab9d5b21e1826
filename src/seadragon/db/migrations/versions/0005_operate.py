"""Request log: route, wait and run time; limits per user and key, and their counters.

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("request_log") as batch:
        batch.add_column(sa.Column("route", sa.String(64), nullable=True))
        batch.add_column(sa.Column("wait_ms", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("run_ms", sa.Integer(), nullable=True))
    op.create_index("ix_request_log_key_id", "request_log", ["key_id"])
    op.create_table(
        "limits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("requests_per_minute", sa.Integer(), nullable=True),
        sa.Column("tokens_per_minute", sa.Integer(), nullable=True),
        sa.Column("concurrent_requests", sa.Integer(), nullable=True),
        sa.Column("allowed_models", sa.JSON(), nullable=True),
        sa.Column("token_budget", sa.BigInteger(), nullable=True),
        sa.Column("budget_period", sa.String(8), nullable=True),
        _ts("updated_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_limits_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name="fk_limits_key_id_api_keys", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_limits"),
        sa.UniqueConstraint("user_id", name="uq_limits_user_id"),
        sa.UniqueConstraint("key_id", name="uq_limits_key_id"),
    )
    op.create_table(
        "limit_counters",
        sa.Column("subject", sa.String(24), nullable=False),
        sa.Column("name", sa.String(16), nullable=False),
        sa.Column("window", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("subject", "name", "window", name="pk_limit_counters"),
    )
    op.create_table(
        "limit_leases",
        sa.Column("subject", sa.String(24), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        _ts("expires_at", nullable=False),
        sa.PrimaryKeyConstraint("subject", "request_id", name="pk_limit_leases"),
    )


def downgrade() -> None:
    op.drop_table("limit_leases")
    op.drop_table("limit_counters")
    op.drop_table("limits")
    op.drop_index("ix_request_log_key_id", table_name="request_log")
    with op.batch_alter_table("request_log") as batch:
        batch.drop_column("run_ms")
        batch.drop_column("wait_ms")
        batch.drop_column("route")
