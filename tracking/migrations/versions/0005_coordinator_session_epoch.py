"""coordinator session epoch: logging out, disabling or a new password ends every session

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

Every existing account starts at epoch 0. SQLite adds the column in place (no table copy).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "coordinator",
        sa.Column("session_epoch", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("coordinator") as batch_op:
        batch_op.drop_column("session_epoch")
