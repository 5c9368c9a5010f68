"""leaderboards (pseudonyms, public scores), hidden assignments, deadline extensions, spec drafts,
fitted-model views, regrade batches, reference runs

Revision ID: d4f2a7c9e1b3
Revises: c3e8a1f4d2b7
Create Date: 2026-11-22 08:21:19

"""

import sqlalchemy as sa
from alembic import op

revision = "d4f2a7c9e1b3"
down_revision = "c3e8a1f4d2b7"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "deadline_extensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("granted_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignments.id"],
            name=op.f("fk_deadline_extensions_assignment_id_assignments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["granted_by_id"],
            ["users.id"],
            name=op.f("fk_deadline_extensions_granted_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_deadline_extensions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deadline_extensions")),
        sa.UniqueConstraint("assignment_id", "user_id", name=op.f("uq_deadline_extensions_assignment_id")),
    )
    with op.batch_alter_table("deadline_extensions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deadline_extensions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "regrade_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("submission_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignments.id"],
            name=op.f("fk_regrade_batches_assignment_id_assignments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_regrade_batches_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regrade_batches")),
    )
    with op.batch_alter_table("regrade_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_regrade_batches_assignment_id"), ["assignment_id"], unique=False)

    op.create_table(
        "spec_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("check_report", sa.JSON(), nullable=True),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignments.id"],
            name=op.f("fk_spec_drafts_assignment_id_assignments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_spec_drafts_course_id_courses"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_spec_drafts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spec_drafts")),
    )
    with op.batch_alter_table("spec_drafts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_spec_drafts_course_id"), ["course_id"], unique=False)

    op.create_table(
        "result_fits",
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["result_id"], ["results.id"], name=op.f("fk_result_fits_result_id_results"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("result_id", name=op.f("pk_result_fits")),
    )
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hidden", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("leaderboard", sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pseudonym", sa.String(length=40), nullable=True))
        batch_op.create_unique_constraint("uq_enrollments_pseudonym", ["course_id", "pseudonym"])

    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_metric", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("public_score", sa.Float(), nullable=True))

    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_reference", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_column("is_reference")

    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.drop_column("public_score")
        batch_op.drop_column("public_metric")

    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_constraint("uq_enrollments_pseudonym", type_="unique")
        batch_op.drop_column("pseudonym")

    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_column("leaderboard")
        batch_op.drop_column("hidden")

    op.drop_table("result_fits")
    with op.batch_alter_table("spec_drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spec_drafts_course_id"))
    op.drop_table("spec_drafts")
    with op.batch_alter_table("regrade_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_regrade_batches_assignment_id"))
    op.drop_table("regrade_batches")
    with op.batch_alter_table("deadline_extensions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deadline_extensions_user_id"))
    op.drop_table("deadline_extensions")
