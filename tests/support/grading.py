"""A submission graded as a worker would leave it, without training (for tests of what comes after)."""

from __future__ import annotations

from grader.engine.runner.grade import GradeReport
from grader.engine.verdicts import Verdict
from grader.workers import grading


def graded_as_worker(
    submission_id: int, score: float | None = 100.0, verdict: Verdict = Verdict.SCORED
) -> None:
    """Claim and finish the submission as a worker does after training (its states, result and rows)."""
    attempt = grading.claim(submission_id, "test-worker")
    assert attempt is not None
    report = GradeReport(
        "paraboloid", verdict, "msg", "mse", 5e-4 if score else None, score, 100.0, bool(score)
    )
    assert grading.finish(submission_id, attempt, report)
