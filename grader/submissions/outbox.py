"""What the world is told once a result is committed: webhooks, and the LMS gradebook (LTI passback).

Called after the commit that wrote the result, never inside it: a receiver or a
platform must never hear of a result that could still roll back. Each listener
only records what to send and queues its own task, so a slow endpoint cannot
hold up the worker that graded the submission.
"""

from __future__ import annotations

from grader.lti import passback as lti_passback
from grader.webhooks import services as webhooks


def result_committed(submission_id: int) -> None:
    """The submission has a final result (scored, failed, or a platform error after all retries)."""
    webhooks.scored(submission_id)
    lti_passback.record_for_submission(submission_id)
