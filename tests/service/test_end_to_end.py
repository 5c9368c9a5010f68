"""The whole flow with real processes: HTTP upload -> Celery worker process -> sandbox -> database.

Runs against PostgreSQL + Redis and against the embedded default (SQLite and
kombu's SQLAlchemy transport, no server). Data here is really committed (the
worker is another process), so each configuration gets its own database.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from support.assignments import FIXED_SCRIPT
from support.stack import Stack, postgres_stack

from grader.extensions import db
from grader.submissions import services
from grader.submissions.models import Attempt, Curve, Result, State, Submission

pytestmark = pytest.mark.long  # real workers on real stacks


@pytest.fixture(scope="module", name="postgres_stack")
def postgres_stack_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with postgres_stack(tmp_path_factory.mktemp("e2e-pg"), redis_db=14, lease_seconds=6) as stack:
        yield stack


@pytest.fixture(scope="module")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("e2e-embedded")
    stack = Stack(
        {
            "GRADER_ENV": "test",
            "GRADER_DATABASE_URL": f"sqlite:///{workdir / 'grader.sqlite3'}",
            "GRADER_REDIS_URL": f"sqla+sqlite:///{workdir / 'broker.sqlite3'}",
            "GRADER_STORAGE_DIR": str(workdir / "storage"),
        },
        workdir,
    )
    yield stack
    stack.stop()


def _check_scored(stack: Stack, submission_id: int) -> None:
    body = stack.status(submission_id)
    result = body["result"]
    assert result["verdict"] == "scored" and result["passed"], result
    assert result["metric_value"] <= 1e-3 and result["score"] == 100
    loss = result["curves"]["loss"]
    assert loss["points_total"] == 2500 and 0 < len(loss["steps"]) <= 500
    with stack.app.app_context():
        assert (
            db.session.scalar(select(func.count(Result.id)).where(Result.submission_id == submission_id)) == 1
        )
        curve = db.session.scalar(
            select(Curve).join(Result).where(Result.submission_id == submission_id, Curve.series == "loss")
        )
        assert curve is not None and curve.full_sha256 is not None


@pytest.mark.slow
def test_upload_is_graded_by_a_real_worker_on_postgres_and_redis(postgres_stack: Stack) -> None:
    postgres_stack.start_worker()
    submission_id = postgres_stack.upload(FIXED_SCRIPT)
    postgres_stack.wait(submission_id, {"scored", "failed", "error"}, timeout=180)
    _check_scored(postgres_stack, submission_id)


@pytest.mark.slow
def test_a_worker_killed_mid_run_still_ends_with_exactly_one_result(postgres_stack: Stack) -> None:
    worker = postgres_stack.workers[0] if postgres_stack.workers else postgres_stack.start_worker()
    submission_id = postgres_stack.upload(FIXED_SCRIPT)
    running = postgres_stack.wait(submission_id, {"running"}, timeout=120)
    assert running["attempts"] == 1
    time.sleep(2.0)  # mid-training
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    postgres_stack.start_worker()
    # The killed attempt's lease (6 s here) expires; the reconciler requeues the submission.
    end = time.monotonic() + 60
    with postgres_stack.app.app_context():
        while time.monotonic() < end:
            services.reconcile()
            submission = db.session.get(Submission, submission_id)
            db.session.refresh(submission)
            if submission.state is not State.RUNNING or submission.attempts > 1:
                break
            time.sleep(1.0)
    postgres_stack.wait(submission_id, {"scored", "failed", "error"}, timeout=180)
    _check_scored(postgres_stack, submission_id)
    with postgres_stack.app.app_context():
        attempts = db.session.scalars(select(Attempt).where(Attempt.submission_id == submission_id)).all()
        assert [a.outcome for a in sorted(attempts, key=lambda a: a.number)] == ["expired", "finished"]


@pytest.mark.slow
def test_the_embedded_default_needs_no_server(embedded_stack: Stack) -> None:
    embedded_stack.start_worker()
    submission_id = embedded_stack.upload(FIXED_SCRIPT)
    embedded_stack.wait(submission_id, {"scored", "failed", "error"}, timeout=180)
    _check_scored(embedded_stack, submission_id)
