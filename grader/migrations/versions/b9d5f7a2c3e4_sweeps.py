"""Sweeps: an upload's grid or random search, its runs as submissions with their settings; stored weights

Revision ID: b9d5f7a2c3e4
Revises: a8c4e6f1b2d3
Create Date: 2026-11-22 12:15:00

"""

import sqlalchemy as sa
from alembic import op

revision = "b9d5f7a2c3e4"
down_revision = "a8c4e6f1b2d3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sweeps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("assignment_version_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("settled_at", sa.DateTime(), nullable=True),
        sa.Column("graded_submission_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["assignment_version_id"], ["assignment_versions.id"]),
        sa.ForeignKeyConstraint(["file_sha256"], ["stored_files.sha256"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sweeps_user_version", "sweeps", ["user_id", "assignment_version_id"], unique=False)
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("sweep_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("sweep_point", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("sweep_seed", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("sweep_grade", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.create_index("ix_submissions_sweep_id", ["sweep_id"], unique=False)
        batch.create_foreign_key(
            "fk_submissions_sweep_id", "sweeps", ["sweep_id"], ["id"], ondelete="CASCADE"
        )
    with op.batch_alter_table("results") as batch:
        batch.add_column(sa.Column("weights_sha256", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("results") as batch:
        batch.drop_column("weights_sha256")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_constraint("fk_submissions_sweep_id", type_="foreignkey")
        batch.drop_index("ix_submissions_sweep_id")
        batch.drop_column("sweep_grade")
        batch.drop_column("params")
        batch.drop_column("sweep_seed")
        batch.drop_column("sweep_point")
        batch.drop_column("sweep_id")
    op.drop_index("ix_sweeps_user_version", table_name="sweeps")
    op.drop_table("sweeps")
