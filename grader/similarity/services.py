"""The similarity check: started by staff (a row, then its message after the commit), run by a worker.

Each student's counted submission is the gradebook's (the scoreboard's "best" pick). Every pair is
scored on code and behaviour; only the ``KEEP`` most similar are stored, with their fragments.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select

from grader.accounts.models import User
from grader.assignments.models import Assignment
from grader.engine.runner.submission import SubmissionRejected, UploadLimits, prepare_submission
from grader.engine.spec import SpecError
from grader.engine.starter import starter_script
from grader.extensions import db, utcnow
from grader.gradebooks.scoreboard import scoreboard
from grader.storage import StorageError, current_store
from grader.submissions.models import Curve, Result, ResultBehaviour, Submission

from .behaviour import behaviour_score, combined_score, curves_alike, errors_alike
from .code import CodePrint, code_print, compare_code, starter_hashes
from .models import CheckState, SimilarityCheck, SimilarityPair, SimilaritySource

log = logging.getLogger(__name__)

KEEP = 200  # pairs stored per check, the most similar first
PROGRESS_SECONDS = 1.0  # how often a running check writes its progress
LOSS = "loss"


def start_check(assignment: Assignment, user: User) -> SimilarityCheck:
    """A new check of the class, committed, then its message sent (a broker away leaves it queued)."""
    check = SimilarityCheck(assignment_id=assignment.id, requested_by_id=user.id)
    db.session.add(check)
    db.session.commit()
    try:
        current_app.extensions["celery"].send_task("grader.similarity_check", args=[check.id])
    except Exception:  # noqa: BLE001 - the row says queued; starting another check sends another message
        log.warning("similarity check %s: its message could not be sent", check.id)
    return check


def latest_check(assignment: Assignment) -> SimilarityCheck | None:
    return db.session.scalars(
        select(SimilarityCheck)
        .where(SimilarityCheck.assignment_id == assignment.id)
        .order_by(SimilarityCheck.id.desc())
        .limit(1)
    ).first()


def check_of(assignment: Assignment, check_id: int) -> SimilarityCheck | None:
    check = db.session.get(SimilarityCheck, check_id)
    return check if check is not None and check.assignment_id == assignment.id else None


@dataclass
class Entry:
    """One side of a pair: a student's counted submission, or a past one (code only)."""

    submission_id: int | None
    source_id: int | None
    code: CodePrint
    errors: dict[str, Any] | None = None
    loss: tuple[list[int], list[float | None]] | None = None


def code_text(submission: Submission) -> str:
    """The code as compared: the submission's Python files (a notebook as the script it was graded
    as), its entry first, each under a line naming it. Empty when the upload cannot be read."""
    try:
        content = current_store().get(submission.file_sha256, UploadLimits().max_upload_bytes)
        prepared = prepare_submission(submission.filename, content)
    except (SubmissionRejected, StorageError, OSError, ValueError):
        return ""
    names = sorted((n for n in prepared.files if n.endswith(".py")), key=lambda n: (n != prepared.entry, n))
    parts = [f"# {name}\n{prepared.files[name].decode('utf-8', 'replace')}" for name in names]
    return "\n".join(parts)


def run_check(check_id: int) -> str:
    """Run a queued check to the end (the worker's task). Returns its final state."""
    check = db.session.get(SimilarityCheck, check_id)
    if check is None or check.state is not CheckState.QUEUED:
        db.session.rollback()
        return "not queued"
    check.state = CheckState.RUNNING
    db.session.commit()
    try:
        _run(check)
    except Exception as exc:
        db.session.rollback()
        log.exception("similarity check %s failed", check_id)
        check = db.session.get(SimilarityCheck, check_id)
        if check is not None:
            check.state, check.message, check.finished_at = CheckState.FAILED, str(exc)[:2000], utcnow()
            db.session.commit()
        return "failed"
    return "done"


def _run(check: SimilarityCheck) -> None:
    assignment = db.session.get(Assignment, check.assignment_id)
    assert assignment is not None
    try:
        boilerplate = starter_hashes(starter_script(assignment.current.spec()))
    except SpecError:
        boilerplate = []
    counted = [
        r.submission_id for r in scoreboard(assignment, per_page=None, pick="best").rows if r.submission_id
    ]
    sources = db.session.execute(
        select(SimilaritySource.id, SimilaritySource.text).where(
            SimilaritySource.assignment_id == assignment.id
        )
    ).all()
    n = len(counted)
    check.students, check.total = n, n + len(sources) + n * (n - 1) // 2 + n * len(sources)
    db.session.commit()
    progress = _Progress(check)
    entries = []
    for submission_id in counted:
        entries.append(_student(submission_id, boilerplate))
        progress.add(1)
    for source_id, text in sources:
        entries.append(Entry(None, source_id, code_print(text, boilerplate)))
        progress.add(1)
    pairs = score_pairs(entries, progress.add)
    check.pairs.extend(pairs)
    check.done, check.state, check.finished_at = check.total, CheckState.DONE, utcnow()
    db.session.commit()


def _student(submission_id: int, boilerplate: list[int]) -> Entry:
    submission = db.session.get(Submission, submission_id)
    assert submission is not None
    result_id = db.session.scalar(select(Result.id).where(Result.submission_id == submission_id))
    behaviour = db.session.get(ResultBehaviour, result_id) if result_id is not None else None
    curve = db.session.execute(
        select(Curve.steps, Curve.values).where(Curve.result_id == result_id, Curve.series == LOSS)
    ).first()
    return Entry(
        submission_id,
        None,
        code_print(code_text(submission), boilerplate),
        behaviour.payload if behaviour is not None else None,
        (list(curve[0]), list(curve[1])) if curve is not None else None,
    )


def score_pairs(
    entries: list[Entry], advance: Callable[[int], None] = lambda _: None
) -> list[SimilarityPair]:
    """Every pair with a student in it scored (students first in ``entries``, past submissions after:
    those are not compared with each other); the ``KEEP`` most similar as rows (not added to a
    session), with their fragments."""
    best: list[tuple[float, int, int, float, float | None, dict[str, Any]]] = []
    count = 0
    for i, j in itertools.combinations(range(len(entries)), 2):
        left, right = entries[i], entries[j]
        if left.submission_id is None:
            break
        count += 1
        code = compare_code(left.code, right.code, fragments=False).score
        errors, curves = errors_alike(left.errors, right.errors), curves_alike(left.loss, right.loss)
        behaviour = behaviour_score(errors, curves)
        entry = (combined_score(code, behaviour), i, j, code, behaviour, {"errors": errors, "curves": curves})
        if len(best) < KEEP:
            heapq.heappush(best, entry)
        elif entry[0] > best[0][0]:
            heapq.heapreplace(best, entry)
        if count % 500 == 0:
            advance(500)
    pairs = []
    for combined, i, j, code, behaviour, parts in sorted(best, key=lambda e: (-e[0], e[1], e[2])):
        match = compare_code(entries[i].code, entries[j].code)
        pairs.append(
            SimilarityPair(
                left_submission_id=entries[i].submission_id, right_submission_id=entries[j].submission_id,
                right_source_id=entries[j].source_id,
                code=round(code, 4), behaviour=None if behaviour is None else round(behaviour, 4),
                combined=round(combined, 4), details=parts | {"left": match.left, "right": match.right},
            )
        )  # fmt: skip
    return pairs


class _Progress:
    """Counts work done and writes it to the check's row at most once a ``PROGRESS_SECONDS``."""

    def __init__(self, check: SimilarityCheck) -> None:
        self.check, self.done, self.written = check, 0, time.monotonic()

    def add(self, amount: int) -> None:
        self.done += amount
        if time.monotonic() - self.written >= PROGRESS_SECONDS:
            self.check.done = min(self.done, self.check.total)
            db.session.commit()
            self.written = time.monotonic()
