"""The audit trail: staff actions that change a grade or what a student sees (who, when, what, why)

Revision ID: d1a7e3c9f5b2
Revises: c6e2b8f4a1d9
Create Date: 2026-12-07 21:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "d1a7e3c9f5b2"
down_revision = "c6e2b8f4a1d9"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(length=300), nullable=False),
        sa.Column(
            "action",
            sa.Enum(
                "regrade",
                "regrade_all",
                "score_adjusted",
                "adjustment_removed",
                "request_answered",
                "extension_granted",
                "extension_revoked",
                "assignment_hidden",
                "assignment_shown",
                "leaderboard_changed",
                "version_published",
                "team_changed",
                "platform_deleted",
                "platform_disabled",
                "platform_enabled",
                "tool_key_rotated",
                name="action",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("subject_type", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("subject_label", sa.String(length=300), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["student_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_entries_course_time", "audit_entries", ["course_id", "created_at"])


def downgrade():
    op.drop_index("ix_audit_entries_course_time", table_name="audit_entries")
    op.drop_table("audit_entries")
