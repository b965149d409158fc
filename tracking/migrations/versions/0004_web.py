"""web: unit link versions, what a unit submits on the web, coordinator accounts

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "unit",
        sa.Column("link_version", sa.Integer(), server_default=sa.text("1"), nullable=False),
    )
    op.add_column("progressupdate", sa.Column("claim", sa.String(length=16), nullable=True))
    op.add_column(
        "progressupdate", sa.Column("attachment_path", sa.String(length=255), nullable=True)
    )
    op.add_column(
        "progressupdate", sa.Column("attachment_name", sa.String(length=255), nullable=True)
    )
    op.create_table(
        "coordinator",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )


def downgrade() -> None:
    op.drop_table("coordinator")
    with op.batch_alter_table("progressupdate") as batch_op:
        batch_op.drop_column("attachment_name")
        batch_op.drop_column("attachment_path")
        batch_op.drop_column("claim")
    with op.batch_alter_table("unit") as batch_op:
        batch_op.drop_column("link_version")
