"""Stored blobs: the objects' bytes in PostgreSQL, for GRADER_STORAGE=database (no shared disk)

Revision ID: c6e2b8f4a1d9
Revises: b9d5f7a2c3e4
Create Date: 2026-12-07 09:30:00

Empty on creation: a deployment moving from a storage folder to the database copies its objects
in itself (every file under <storage>/files/ is named by the SHA-256 of its bytes).
"""

import sqlalchemy as sa
from alembic import op

revision = "c6e2b8f4a1d9"
down_revision = "b9d5f7a2c3e4"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "stored_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )


def downgrade():
    op.drop_table("stored_blobs")
