"""assignment versions keep the files their spec refers to and their stored hidden set

Revision ID: b7d41e2a9c15
Revises: 6245cabc0c97
Create Date: 2026-11-22 06:10:00

"""

import sqlalchemy as sa
from alembic import op

revision = "b7d41e2a9c15"
down_revision = "6245cabc0c97"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("assignment_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("files", sa.JSON(), server_default="{}", nullable=False))
        batch_op.add_column(sa.Column("hidden_sha256", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("assignment_versions", schema=None) as batch_op:
        batch_op.drop_column("hidden_sha256")
        batch_op.drop_column("files")
