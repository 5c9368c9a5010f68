"""Regrade requests (one open per student and assignment) and scores set by hand

Revision ID: e2b8c4d6f1a3
Revises: d1a7e3c9f5b2
Create Date: 2026-12-07 21:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "e2b8c4d6f1a3"
down_revision = "d1a7e3c9f5b2"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "score_adjustments",
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("machine_score", sa.Float(), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("by_label", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["result_id"], ["results.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("result_id"),
    )
    op.create_table(
        "regrade_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "open", "regraded", "adjusted", "declined", name="requeststate", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column("score_when_asked", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("score_set", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["student_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["answered_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_regrade_requests_submission_id", "regrade_requests", ["submission_id"])
    op.create_index(
        "ix_regrade_requests_course_state", "regrade_requests", ["course_id", "state", "created_at"]
    )
    op.create_index(
        "uq_regrade_requests_open", "regrade_requests", ["assignment_id", "student_id"], unique=True,
        postgresql_where=sa.text("state = 'open'"), sqlite_where=sa.text("state = 'open'"),
    )  # fmt: skip


def downgrade():
    op.drop_table("regrade_requests")
    op.drop_table("score_adjustments")
