"""Fair queueing: each submission's grading queue and turn-taking lane, indexed for the workers' pick

Revision ID: a8c4e6f1b2d3
Revises: f7b3d9e2a4c6
Create Date: 2026-11-22 11:40:00

Rows get "cpu", or "gpu" when their version's spec asks for a GPU. A deployment that grades
everything on GPU workers (GRADER_GRADING_QUEUE=gpu) must also move its waiting rows after the
upgrade: UPDATE submissions SET queue = 'gpu' WHERE state IN ('received', 'queued');
(the migration cannot see the deployment's environment).
"""

import tomllib

import sqlalchemy as sa
from alembic import op

revision = "a8c4e6f1b2d3"
down_revision = "f7b3d9e2a4c6"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("queue", sa.String(length=20), server_default="cpu", nullable=False))
        batch.add_column(sa.Column("lane", sa.String(length=40), nullable=True))
        batch.create_index(
            "ix_submissions_queue_state_updated", ["queue", "state", "updated_at"], unique=False
        )
    # Until now the queue was worked out from the spec at each publish: the same rule, once, here
    # (TOML read directly, so this migration does not depend on the application's code).
    connection = op.get_bind()
    versions = connection.execute(sa.text("SELECT id, spec_text FROM assignment_versions")).all()
    for version_id, spec_text in versions:
        try:
            device = tomllib.loads(spec_text).get("budget", {}).get("device", "cpu")
        except tomllib.TOMLDecodeError:
            continue
        if device == "gpu":
            connection.execute(
                sa.text("UPDATE submissions SET queue = 'gpu' WHERE assignment_version_id = :id"),
                {"id": version_id},
            )


def downgrade():
    with op.batch_alter_table("submissions") as batch:
        batch.drop_index("ix_submissions_queue_state_updated")
        batch.drop_column("lane")
        batch.drop_column("queue")
