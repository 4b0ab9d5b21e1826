"""Per-account limits: the highest band a user may give their own keys, and failed
sign-ins counted per account as well as per account and address.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("max_band", sa.String(32), nullable=True))
    with op.batch_alter_table("login_failures") as batch:
        batch.add_column(sa.Column("account", sa.String(64), nullable=True))
    op.create_index("ix_login_failures_account", "login_failures", ["account"])


def downgrade() -> None:
    op.drop_index("ix_login_failures_account", table_name="login_failures")
    with op.batch_alter_table("login_failures") as batch:
        batch.drop_column("account")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("max_band")
