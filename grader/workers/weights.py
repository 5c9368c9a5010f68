"""Which runs keep their trained weights: the sweeps' (students compare and download them).

The bytes are the safetensors file the harness wrote: stored as they came, by content, never
loaded on the host. Plain submissions do not keep theirs (at class scale that is gigabytes a day
for nothing anyone looks at).
"""

from __future__ import annotations

from grader.engine.spec import SpecError
from grader.extensions import db
from grader.storage import current_store
from grader.submissions.models import Submission

MAX_WEIGHTS_BYTES = 64 * 1024 * 1024  # far above any budget's max_parameters x 4 bytes


def kept_weights(submission_id: int, weights: bytes | None) -> str | None:
    """The stored weights' digest for a sweep's run, or None (not a sweep run, none sent, too big).

    Too big: over what the assignment's parameter budget can take (8 bytes a parameter, float64,
    plus the header), or over ``MAX_WEIGHTS_BYTES`` without a budget: a sweep of 200 runs must
    not fill the disk with whatever the sandbox sent.
    """
    submission = db.session.get(Submission, submission_id)
    if not weights or submission is None or submission.sweep_id is None:
        return None
    limit = MAX_WEIGHTS_BYTES
    try:
        budget = submission.assignment_version.spec().budget.max_parameters
    except SpecError:
        budget = None
    if budget:
        limit = min(limit, 8 * budget + 1024 * 1024)
    if len(weights) > limit:
        return None
    digest, _ = current_store().put(weights)
    return digest
