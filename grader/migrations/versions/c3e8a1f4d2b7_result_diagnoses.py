"""result diagnoses in their own table, for the class's counts; submissions indexed for scoreboards

Revision ID: c3e8a1f4d2b7
Revises: b7d41e2a9c15
Create Date: 2026-11-22 06:55:00

"""

import sqlalchemy as sa
from alembic import op

revision = "c3e8a1f4d2b7"
down_revision = "b7d41e2a9c15"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "result_diagnoses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["results.id"],
            name=op.f("fk_result_diagnoses_result_id_results"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_result_diagnoses")),
    )
    with op.batch_alter_table("result_diagnoses", schema=None) as batch_op:
        batch_op.create_index("ix_result_diagnoses_code", ["code"], unique=False)
        batch_op.create_index(batch_op.f("ix_result_diagnoses_result_id"), ["result_id"], unique=False)
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_submissions_version_user", ["assignment_version_id", "user_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_submissions_version_user")
    with op.batch_alter_table("result_diagnoses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_result_diagnoses_result_id"))
        batch_op.drop_index("ix_result_diagnoses_code")
    op.drop_table("result_diagnoses")
