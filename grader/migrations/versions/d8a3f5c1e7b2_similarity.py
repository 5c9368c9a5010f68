"""Similarity checks: each result's behaviour fingerprint, a class's checks, past submissions to compare with, the most similar pairs

Revision ID: d8a3f5c1e7b2
Revises: e2b8c4d6f1a3
Create Date: 2026-12-07 21:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "d8a3f5c1e7b2"
down_revision = "e2b8c4d6f1a3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "result_behaviours",
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["result_id"], ["results.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("result_id"),
    )
    op.create_table(
        "similarity_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column(
            "state",
            sa.Enum("queued", "running", "done", "failed", name="checkstate", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("students", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["requested_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_similarity_checks_assignment_id", "similarity_checks", ["assignment_id"])
    op.create_table(
        "similarity_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["added_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_similarity_sources_assignment_id", "similarity_sources", ["assignment_id"])
    op.create_table(
        "similarity_pairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("left_submission_id", sa.Integer(), nullable=False),
        sa.Column("right_submission_id", sa.Integer(), nullable=True),
        sa.Column("right_source_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.Float(), nullable=False),
        sa.Column("behaviour", sa.Float(), nullable=True),
        sa.Column("combined", sa.Float(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["check_id"], ["similarity_checks.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["left_submission_id"], ["submissions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["right_submission_id"], ["submissions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["right_source_id"], ["similarity_sources.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_similarity_pairs_check_combined", "similarity_pairs", ["check_id", "combined"])


def downgrade():
    op.drop_table("similarity_pairs")
    op.drop_table("similarity_sources")
    op.drop_table("similarity_checks")
    op.drop_table("result_behaviours")
