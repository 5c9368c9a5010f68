"""Claim, lease, finish and reconcile on the real database (no worker: the states themselves)."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import select

from grader.engine.runner.grade import GradeReport
from grader.engine.verdicts import Verdict
from grader.extensions import db, utcnow
from grader.storage import current_store
from grader.submissions import services
from grader.submissions.models import Attempt, Result, State, Submission
from grader.workers import curves, grading


def _submit(client, paraboloid, token) -> Submission:  # type: ignore[no-untyped-def]
    response = client.post(
        f"/api/v1/assignments/{paraboloid.id}/submissions",
        data={"file": (io.BytesIO(b"import torch\nmodel = torch.nn.Linear(2, 1)\n"), "s.py")},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 202
    return db.session.get(Submission, response.get_json()["id"])


def _report(verdict: Verdict, score: float | None = 50.0) -> GradeReport:
    return GradeReport("paraboloid", verdict, "msg", "mse", 0.01 if score else None, score, 100.0, False)


def test_only_one_worker_can_claim(client, paraboloid, student_token):
    submission = _submit(client, paraboloid, student_token)
    assert grading.claim(submission.id, "w1") == 1
    assert grading.claim(submission.id, "w2") is None
    db.session.refresh(submission)
    assert submission.state is State.RUNNING and submission.lease_owner == "w1"


def test_an_expired_lease_is_reclaimed_and_the_old_attempt_cannot_write(client, paraboloid, student_token):
    submission = _submit(client, paraboloid, student_token)
    assert grading.claim(submission.id, "w1") == 1
    submission.lease_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    summary = services.reconcile()
    assert summary["expired"] == 1
    db.session.refresh(submission)
    assert submission.state is State.QUEUED
    expired = db.session.scalar(select(Attempt).where(Attempt.submission_id == submission.id))
    assert expired.outcome == "expired"
    assert grading.claim(submission.id, "w2") == 2
    assert not grading.heartbeat(submission.id, 1)  # the lost worker learns it lost the lease
    assert not grading.finish(submission.id, 1, _report(Verdict.SCORED))
    assert grading.finish(submission.id, 2, _report(Verdict.SCORED))
    results = db.session.scalars(select(Result).where(Result.submission_id == submission.id)).all()
    assert len(results) == 1 and results[0].attempt_number == 2
    db.session.refresh(submission)
    assert submission.state is State.SCORED


def test_a_claim_that_takes_over_an_expired_lease_closes_the_old_attempt(client, paraboloid, student_token):
    # A redelivered message can reach the row before the reconciler does: the old attempt must not
    # stay "running" forever.
    submission = _submit(client, paraboloid, student_token)
    assert grading.claim(submission.id, "w1") == 1
    submission.lease_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert grading.claim(submission.id, "w2") == 2
    attempts = db.session.scalars(
        select(Attempt).where(Attempt.submission_id == submission.id).order_by(Attempt.number)
    ).all()
    assert [a.outcome for a in attempts] == ["expired", "running"]
    assert "taken over by w2" in attempts[0].detail


def test_platform_errors_are_retried_then_final_and_never_charged(client, paraboloid, student_token, app):
    submission = _submit(client, paraboloid, student_token)
    limit = app.extensions["grader.config"].max_attempts
    for attempt in range(1, limit + 1):
        assert grading.claim(submission.id, "w") == attempt
        assert grading.finish(submission.id, attempt, _report(Verdict.INTERNAL_ERROR, None))
        db.session.refresh(submission)
    assert submission.state is State.ERROR and not submission.charged
    assert grading.claim(submission.id, "w") is None


def test_the_harness_s_own_failure_is_final_at_once_never_charged_and_capped_per_student(
    client, paraboloid, student_token
):
    # It would fail the same way again (no retry); student code can bring it about, so past a few a day
    # the student's uploads wait (an uncharged run must not be free compute).
    from grader.submissions.policy import HARNESS_ERRORS_PER_DAY

    for _ in range(HARNESS_ERRORS_PER_DAY):
        submission = _submit(client, paraboloid, student_token)
        assert grading.claim(submission.id, "w") == 1
        assert grading.finish(submission.id, 1, _report(Verdict.HARNESS_ERROR, None))
        db.session.refresh(submission)
        assert submission.state is State.ERROR and not submission.charged
        assert grading.claim(submission.id, "w") is None
    refused = client.post(
        f"/api/v1/assignments/{paraboloid.id}/submissions",
        data={"file": (io.BytesIO(b"import torch\nmodel = torch.nn.Linear(2, 1)\n"), "s.py")},
        headers={"Authorization": f"Bearer {student_token}"},
    )
    assert refused.status_code == 429 and "The grader itself failed" in refused.get_json()["detail"]


def test_a_student_failure_is_final_and_charged(client, paraboloid, student_token):
    submission = _submit(client, paraboloid, student_token)
    attempt = grading.claim(submission.id, "w")
    assert grading.finish(submission.id, attempt, _report(Verdict.RUNTIME_ERROR, None))
    db.session.refresh(submission)
    assert submission.state is State.FAILED and submission.charged


def test_reconciler_publishes_rows_that_never_reached_the_broker(client, paraboloid, student_token):
    submission = _submit(client, paraboloid, student_token)
    submission.state, submission.updated_at = State.RECEIVED, utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert services.reconcile()["published"] == 1
    db.session.refresh(submission)
    assert submission.state is State.QUEUED


def test_curves_keep_spikes_and_minima_within_500_points():
    steps = list(range(10_000))
    values: list[float | None] = [1.0 / (1 + i) for i in steps]
    values[4321] = 50.0  # a spike
    values[7777] = float("nan")
    small_steps, small_values = curves.downsample(steps, values)
    assert len(small_steps) <= 500 and 4321 in small_steps and 7777 in small_steps
    assert min(v for v in small_values if v == v) == values[-1]


def test_a_diverging_runs_nan_progress_is_stored(client, paraboloid, student_token):
    submission = _submit(client, paraboloid, student_token)
    attempt = grading.claim(submission.id, "w")
    assert grading.heartbeat(submission.id, attempt, {"step": 5, "loss": float("nan"), "elapsed": 1.0})
    db.session.refresh(submission)
    assert submission.progress == {"step": 5, "loss": None, "elapsed": 1.0}


def test_a_stored_file_gone_missing_is_a_platform_failure_not_a_stuck_run(client, paraboloid, student_token):
    submission = _submit(client, paraboloid, student_token)
    current_store().discard(submission.file_sha256)  # gone from the store, its row still there
    assert grading.run(submission.id, "w1") == "finished"
    db.session.refresh(submission)
    assert submission.state is State.QUEUED and submission.lease_owner is None  # retried, not charged
    attempt = db.session.scalar(select(Attempt).where(Attempt.submission_id == submission.id))
    assert attempt.outcome == "error" and "could not prepare this submission" in attempt.detail
