"""The worker's side of a submission: claim it, keep the lease, grade it, record the result.

Claiming and finishing are conditional updates on the submission row: an
attempt whose lease expired (a lost worker) can neither write a result nor
overwrite the retry's. No transaction stays open while the sandbox trains.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import select, update

from grader.assignments.services import hidden_set_of
from grader.domain_events import ResultCommitted, Staged, send, stage
from grader.engine.runner.grade import GradeReport, grade
from grader.engine.runner.submission import SubmissionRejected, UploadLimits, prepare_submission
from grader.engine.runner.sweep_runs import run_options
from grader.engine.spec import SpecError
from grader.engine.verdicts import Verdict
from grader.extensions import db, utcnow
from grader.outage import DATABASE_DOWN, rollback_quietly
from grader.storage import StorageError, current_store
from grader.submissions.models import (
    Attempt,
    Curve,
    Result,
    ResultBehaviour,
    ResultDiagnosis,
    ResultFit,
    State,
    Submission,
)
from grader.submissions.notify import notify, notify_queue
from grader.submissions.policy import effective_deadline, late_penalty
from grader.submissions.services import expire_attempt, publish
from grader.workers.curves import downsample, json_safe
from grader.workers.seeds import seeds_for, sweep_seed
from grader.workers.weights import kept_weights

CLAIMABLE = (State.RECEIVED, State.QUEUED)
DATABASE_PATIENCE_SECONDS = 60.0  # a restart or failover takes seconds; past this the lease decides
log = logging.getLogger(__name__)
T = TypeVar("T")


def patiently(action: Callable[[], T], what: str, submission_id: int) -> T:
    """Run ``action`` (one transaction), again while the database is out of reach, for a while.

    Past ``DATABASE_PATIENCE_SECONDS`` the error goes up: the task fails, the lease runs out and
    the reconciler has the submission graded again. ``action`` must be safe to repeat: each is a
    conditional update that a committed earlier try makes fail (and ``_finish`` recognises).
    """
    deadline = time.monotonic() + DATABASE_PATIENCE_SECONDS
    pause = 0.5
    while True:
        try:
            return action()
        except DATABASE_DOWN as exc:
            rollback_quietly()
            if time.monotonic() + pause > deadline:
                raise
            log.warning(
                "submission %s: database unavailable during %s; trying again in %.1f s (%s)",
                submission_id, what, pause, str(exc).splitlines()[0],
                extra={"event": "database unavailable", "submission_id": submission_id, "step": what},
            )  # fmt: skip
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def claim(submission_id: int, worker: str) -> int | None:
    """Take the submission for this worker; the attempt number, or None if it is not ours to run."""
    return patiently(lambda: _claim(submission_id, worker), "claim", submission_id)


def _claim(submission_id: int, worker: str) -> int | None:
    config = current_app.extensions["grader.config"]
    now = utcnow()
    row = db.session.execute(
        update(Submission)
        .where(
            Submission.id == submission_id,
            Submission.state.in_(CLAIMABLE)
            | ((Submission.state == State.RUNNING) & (Submission.lease_expires_at < now)),
            Submission.attempts < config.max_attempts,
        )
        .values(
            state=State.RUNNING,
            attempts=Submission.attempts + 1,
            lease_owner=worker,
            lease_expires_at=now + timedelta(seconds=config.lease_seconds),
            updated_at=now,
            progress=None,
        )
        .returning(Submission.attempts, Submission.queue)
    ).first()
    if row is None:
        db.session.rollback()
        log.info(
            "submission %s: not claimable by %s", submission_id, worker,
            extra={"event": "not claimable", "submission_id": submission_id, "worker": worker},
        )  # fmt: skip
        return None
    if row[0] > 1:
        # Taking over an expired lease before the reconciler saw it: close that attempt here.
        expire_attempt(submission_id, row[0] - 1, f"lease expired; taken over by {worker}", now)
    db.session.add(Attempt(submission_id=submission_id, number=row[0], worker=worker))
    db.session.commit()
    log.info(
        "submission %s: attempt %s claimed by %s", submission_id, row[0], worker,
        extra={"event": "claimed", "submission_id": submission_id, "attempt": int(row[0]), "worker": worker},
    )  # fmt: skip
    notify(submission_id)
    notify_queue(row[1])  # everyone behind it moved up a place
    return int(row[0])


def heartbeat(submission_id: int, attempt: int, progress: dict[str, Any] | None = None) -> bool:
    """Renew the lease (and store the progress snapshot); False once the lease is lost."""
    config = current_app.extensions["grader.config"]
    values: dict[str, Any] = {"lease_expires_at": utcnow() + timedelta(seconds=config.lease_seconds)}
    if progress is not None:
        values["progress"] = json_safe(progress)
    held = db.session.execute(
        update(Submission)
        .where(
            Submission.id == submission_id, Submission.attempts == attempt, Submission.state == State.RUNNING
        )
        .values(**values)
        .returning(Submission.id)
    ).first()
    db.session.commit()
    if held is not None and progress is not None:
        notify(submission_id)
    if held is None:
        log.warning(
            "submission %s: attempt %s lost its lease", submission_id, attempt,
            extra={"event": "lease lost", "submission_id": submission_id, "attempt": attempt},
        )  # fmt: skip
    return held is not None


def finish(submission_id: int, attempt: int, report: GradeReport, late: tuple[int, float] = (0, 0.0)) -> bool:
    """Write the result if this attempt still holds the submission; False if the lease was lost.

    Minutes of training ride on this write, so a database that is away for a moment (a restart,
    a failover) is waited for (``patiently``) rather than the run thrown away.
    """
    return patiently(lambda: _finish(submission_id, attempt, report, late), "finish", submission_id)


def _finish(submission_id: int, attempt: int, report: GradeReport, late: tuple[int, float]) -> bool:
    config = current_app.extensions["grader.config"]
    now = utcnow()
    result: Result | None = None
    if not report.verdict.platform_failure:
        try:
            result = _result(submission_id, attempt, report, late)  # writes the full curves to storage
        except StorageError as exc:
            # The store is full or failing: the platform's fault, retried like any other and never
            # charged (the run is lost, not the student's quota).
            log.error(
                "submission %s: attempt %s could not store its results: %s", submission_id, attempt, exc,
                extra={"event": "storage failed", "submission_id": submission_id, "attempt": attempt},
            )  # fmt: skip
            report = GradeReport(
                report.assignment, Verdict.INTERNAL_ERROR,
                f"The grader could not store this run's results ({exc}). This is the "
                "platform's fault and does not count against your submissions.",
                report.metric_name, None, None, report.max_score, False,
            )  # fmt: skip
    if report.verdict.platform_failure:
        # A harness error would fail the same way again: it is final at once.
        retry = report.verdict is Verdict.INTERNAL_ERROR and attempt < config.max_attempts
        state = State.QUEUED if retry else State.ERROR
        if state is State.ERROR:
            result = _result(submission_id, attempt, report, late)  # no run: nothing to store
    else:
        state = State.SCORED if report.verdict is Verdict.SCORED else State.FAILED
    held = db.session.execute(
        update(Submission)
        .where(
            Submission.id == submission_id, Submission.attempts == attempt, Submission.state == State.RUNNING
        )
        .values(state=state, lease_owner=None, lease_expires_at=None, updated_at=now)
        .returning(Submission.queue)
    ).first()
    if held is None:
        db.session.rollback()
        if _already_finished(submission_id, attempt):
            # An earlier try of this very write committed; its answer was lost with the connection.
            # The rows its listeners recorded went in with it: the sweeps send them.
            if state is State.QUEUED:
                publish(submission_id)
            return True
        log.warning(
            "submission %s: attempt %s finished without its lease; its result is dropped", submission_id, attempt,
            extra={"event": "result dropped", "submission_id": submission_id, "attempt": attempt},
        )  # fmt: skip
        return False
    record = db.session.scalar(
        select(Attempt).where(Attempt.submission_id == submission_id, Attempt.number == attempt)
    )
    if record is not None:
        record.outcome = "error" if report.verdict.platform_failure else "finished"
        record.finished_at = now
        record.detail = report.message[:2000] if report.verdict.platform_failure else None
    staged = Staged()
    if result is not None:
        db.session.add(result)
        sweep_id = db.session.scalar(select(Submission.sweep_id).where(Submission.id == submission_id))
        # In the result's own transaction: a worker killed right after the commit loses no webhook
        # or passback (the sweeps send what was recorded but never queued).
        staged = stage(ResultCommitted(submission_id, sweep_id))
    db.session.commit()
    log.info(
        "submission %s: attempt %s finished: %s (%s)", submission_id, attempt, state.value, report.verdict.value,
        extra={"event": "finished", "submission_id": submission_id, "attempt": attempt, "state": state.value,
               "verdict": report.verdict.value},
    )  # fmt: skip
    notify(submission_id)
    notify_queue(held[0])  # a slot is free: the waiting ones' estimates moved
    if state is State.QUEUED:
        publish(submission_id)
    else:
        send(staged)
    return True


def _already_finished(submission_id: int, attempt: int) -> bool:
    outcome = db.session.scalar(
        select(Attempt.outcome).where(Attempt.submission_id == submission_id, Attempt.number == attempt)
    )
    db.session.rollback()
    return outcome in ("finished", "error")


def _result(submission_id: int, attempt: int, report: GradeReport, late: tuple[int, float]) -> Result:
    run = report.chosen
    summary = report.summary()
    days, percent = late
    score, message, public_score = report.score, report.message, report.public_score
    if percent and score is not None:
        score = round(score * (1 - percent / 100), 2)
        public_score = round((public_score or 0.0) * (1 - percent / 100), 2)
        message += f" Submitted {days} day(s) late: {percent:g}% off, {score:g}/{report.max_score:g}."
    usage = run.result.usage if run else None
    result = Result(
        submission_id=submission_id,
        attempt_number=attempt,
        verdict=report.verdict.value,
        message=message,
        metric_name=report.metric_name,
        metric_value=report.metric_value,
        score=score,
        public_metric=report.public_metric,
        public_score=public_score,
        max_score=report.max_score,
        passed=report.passed,
        seed=run.result.seed if run else 0,
        wall_seconds=usage.wall_seconds if usage else None,
        cpu_seconds=usage.cpu_seconds if usage else None,
        peak_memory_bytes=usage.peak_memory_bytes if usage else None,
        stdout=run.result.stdout if run else "",
        stderr=run.result.stderr if run else "",
        details=json_safe(
            {
                k: summary[k]
                for k in (
                    "details",
                    "notes",
                    "warnings",
                    "counters",
                    "model",
                    "trained",
                    "diagnoses",
                    "settings",
                    "early_stopping",
                    "restarts",
                )
            }
            | {"late": {"days": days, "penalty_percent": percent, "score_before_penalty": report.score}}
        ),
    )
    if report.fit is not None:
        result.fit = ResultFit(payload=json_safe(report.fit))
    if report.behaviour is not None:
        result.behaviour = ResultBehaviour(payload=report.behaviour)
    result.weights_sha256 = kept_weights(submission_id, run.result.weights if run else None)
    result.diagnoses.extend(
        ResultDiagnosis(code=d.code[:60], severity=d.severity, title=d.title[:200]) for d in report.diagnoses
    )
    for series, (steps, values) in run.result.training.curves.items() if run else []:
        clean = json_safe(values)
        full = json.dumps({"steps": steps, "values": clean}).encode()
        digest, _ = current_store().put(full)
        small_steps, small_values = downsample(steps, values)
        result.curves.append(
            Curve(
                series=series,
                steps=small_steps,
                values=json_safe(small_values),
                points_total=len(steps),
                full_sha256=digest,
            )
        )
    return result


def run(submission_id: int, worker: str) -> str:
    """Claim this submission and grade it end to end. Returns what happened.

    The Celery task does not: it grades whichever submission's turn it is (``fairness.claim_next``).
    """
    attempt = claim(submission_id, worker)
    if attempt is None:
        return "not claimable"
    return grade_claimed(submission_id, attempt, worker)


def grade_claimed(submission_id: int, attempt: int, worker: str) -> str:
    """Grade a submission this worker holds as ``attempt``: train, score, record. Returns what happened."""
    submission = db.session.get(Submission, submission_id)
    assert submission is not None
    version = submission.assignment_version
    try:
        spec = version.spec()
        hidden = hidden_set_of(version, spec)
        # No more than the runner would take (prepare_submission's default limits).
        content = current_store().get(submission.file_sha256, UploadLimits().max_upload_bytes)
        prepared = prepare_submission(submission.filename, content)
    except (SpecError, SubmissionRejected, StorageError, OSError, ValueError) as exc:
        # The platform's fault (a stored file gone or corrupt, a spec that no longer parses):
        # retried up to the cap like any platform failure, never left running, never charged.
        slug = version.assignment.slug
        db.session.rollback()
        log.warning(
            "submission %s: attempt %s could not be prepared: %s", submission_id, attempt, exc,
            extra={"event": "prepare failed", "submission_id": submission_id, "attempt": attempt, "worker": worker},
        )  # fmt: skip
        failed = GradeReport(
            slug, Verdict.INTERNAL_ERROR, f"The grader could not prepare this submission ({exc}).",
            "", None, None, 0.0, False,
        )  # fmt: skip
        return "finished" if finish(submission_id, attempt, failed) else "lease lost"
    late = late_penalty(
        spec.submissions, effective_deadline(version.assignment, submission.user), submission.created_at
    )
    # A sweep's run is one seed: its seeds are runs of their own, side by side on the sweep's page.
    params, seeds = submission.params, seeds_for(submission_id, spec.grading.seeds)
    if submission.sweep_id is not None:
        seeds = [sweep_seed(submission.sweep_id, submission.sweep_seed or 0)]
    db.session.commit()  # end the read transaction before minutes of training

    from grader import worker_slot  # the slot's warm pool and settings

    slot = worker_slot.current()
    stop = threading.Event()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # The status page's progress: step, loss and elapsed from the harness, against the time budget
    # (a script's total step count is not known in advance).
    snapshot: dict[str, Any] = {"budget_seconds": spec.budget.train_seconds}

    def keep_lease() -> None:
        # About once a second: the progress snapshot the status page follows, and the lease.
        lease = app.extensions["grader.config"].lease_seconds
        last_beat, last_step = time.monotonic(), None
        with app.app_context():
            while not stop.wait(1.0):
                step = snapshot.get("step")
                if step == last_step and time.monotonic() - last_beat < lease / 3:
                    continue
                try:
                    held = heartbeat(submission_id, attempt, dict(snapshot) or None)
                except DATABASE_DOWN:
                    # Away for a moment: try again next second. If the lease lapses meanwhile, the
                    # conditional finish says so; the run goes on rather than being given up now.
                    rollback_quietly()
                    continue
                if not held:
                    break
                last_beat, last_step = time.monotonic(), step

    beat = threading.Thread(target=keep_lease, name=f"lease-{submission_id}", daemon=True)
    beat.start()
    try:
        report = grade(
            spec, prepared, hidden, seeds, threads=slot.threads, pool=slot.pool,
            uid=slot.uid, jobs_root=slot.jobs_root, on_progress=snapshot.update, gpu_index=slot.gpu_index,
            backend=slot.backend,
            **run_options(spec, params),
        )  # fmt: skip
    finally:
        stop.set()
        beat.join()
    return "finished" if finish(submission_id, attempt, report, late) else "lease lost"
