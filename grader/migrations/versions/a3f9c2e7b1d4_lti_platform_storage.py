"""LTI launches inside the LMS's frame: a login's platform storage target, its secret's hash, its
parameters; a platform's extra origins that may frame the tool

Revision ID: a3f9c2e7b1d4
Revises: e8c4a2f6b1d3
Create Date: 2026-12-07 21:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "a3f9c2e7b1d4"
down_revision = "e8c4a2f6b1d3"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("lti_platforms") as batch:
        batch.add_column(sa.Column("frame_origins", sa.JSON(), nullable=True))
    with op.batch_alter_table("lti_login_states") as batch:
        batch.add_column(sa.Column("storage_target", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("storage_secret_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("login_params", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("lti_login_states") as batch:
        batch.drop_column("login_params")
        batch.drop_column("storage_secret_sha256")
        batch.drop_column("storage_target")
    with op.batch_alter_table("lti_platforms") as batch:
        batch.drop_column("frame_origins")
