"""LTI: platforms an administrator disabled, tool keys kept published until a date after a rotation,
members who left the LMS course (their enrollment marked, not deleted), roster syncs' progress

Revision ID: f4d2a8b6c3e1
Revises: d8a3f5c1e7b2
Create Date: 2026-12-07 22:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "f4d2a8b6c3e1"
down_revision = "d8a3f5c1e7b2"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("lti_platforms") as batch:
        batch.add_column(sa.Column("disabled_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("lti_tool_keys") as batch:
        batch.add_column(sa.Column("retire_after", sa.DateTime(), nullable=True))
    with op.batch_alter_table("enrollments") as batch:
        batch.add_column(sa.Column("left_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("lti_contexts") as batch:
        batch.add_column(sa.Column("roster_started_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("roster_report", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("lti_contexts") as batch:
        batch.drop_column("roster_report")
        batch.drop_column("roster_started_at")
    with op.batch_alter_table("enrollments") as batch:
        batch.drop_column("left_at")
    with op.batch_alter_table("lti_tool_keys") as batch:
        batch.drop_column("retire_after")
    with op.batch_alter_table("lti_platforms") as batch:
        batch.drop_column("disabled_at")
