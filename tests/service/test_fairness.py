"""Turn-taking between students and regrades, on the real database: which submission a free slot takes.

The workers themselves are driven in tests/faults/test_load.py; here each "slot" is a call of
``claim_next`` with a message's submission id, as the Celery task makes it.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from support.courses import enroll

from grader.accounts.models import Role, User
from grader.accounts.services import create_user
from grader.assignments.models import Assignment
from grader.assignments.services import publish
from grader.courses.models import Course
from grader.engine.runner.grade import GradeReport
from grader.engine.verdicts import Verdict
from grader.extensions import db
from grader.submissions import regrading, services
from grader.submissions.models import Attempt, State, Submission
from grader.workers import fairness, grading

SCRIPT = b"import torch\nmodel = torch.nn.Linear(2, 1)\n"
SCORED = GradeReport("paraboloid", Verdict.SCORED, "ok", "mse", 5e-4, 100.0, 100.0, True)


@pytest.fixture
def assignment(course: Course) -> Assignment:
    return publish(course, "paraboloid", daily_limit=100)


def _student(course: Course, name: str) -> User:
    user = create_user(f"{name}-{uuid.uuid4().hex[:6]}@example.edu", name.title(), Role.STUDENT, "pw")
    enroll(course, user)
    return user


def _upload(user: User, assignment: Assignment, count: int = 1) -> list[int]:
    return [services.create_submission(user, assignment, "s.py", SCRIPT).id for _ in range(count)]


def _take(hint: int, worker: str = "w") -> int:
    """A slot receives the message of ``hint``: the submission it claims."""
    claimed = fairness.claim_next(hint, worker)
    assert claimed is not None, f"the message of {hint} found nothing to grade"
    return claimed[0]


def _done(submission_id: int) -> None:
    attempt = db.session.scalar(select(Submission.attempts).where(Submission.id == submission_id))
    assert grading.finish(submission_id, attempt, SCORED)


def _owner(submission_id: int) -> int:
    return db.session.scalar(select(Submission.user_id).where(Submission.id == submission_id))


def test_a_student_s_first_submission_waits_for_at_most_one_run_behind_another_s_twenty(course, assignment):
    ada, bob = _student(course, "ada"), _student(course, "bob")
    adas = _upload(ada, assignment, 20)
    assert _take(adas[0]) == adas[0]  # one slot starts on Ada's first
    (bobs,) = _upload(bob, assignment)
    # The next free slot, whichever message it received (here the oldest, Ada's second), takes Bob's.
    assert _take(adas[1]) == bobs
    _done(adas[0])
    _done(bobs)
    # Then Ada's alone, oldest first, on the messages left (Bob's among them): each claimed once.
    order = []
    for hint in [*adas[2:], bobs]:
        order.append(_take(hint))
        _done(order[-1])
    assert order == adas[1:]


def test_with_two_slots_a_newcomer_goes_next_and_busy_students_share_the_rest(course, assignment):
    ada, bob, cy = (_student(course, n) for n in ("ada", "bob", "cy"))
    adas = _upload(ada, assignment, 6)
    bobs = _upload(bob, assignment, 6)
    hints = iter(adas + bobs)
    running = [_take(next(hints)), _take(next(hints))]
    assert [_owner(i) for i in running] == [ada.id, bob.id]  # two slots: one each
    owners = []
    for step in range(8):
        _done(running.pop(0))
        if step == 3:
            (cys,) = _upload(cy, assignment)
        taken = _take(next(hints))
        running.append(taken)
        owners.append(_owner(taken))
        if step == 3:
            assert taken == cys  # the first slot to come free after Cy's upload
    assert owners.count(cy.id) == 1 and abs(owners.count(ada.id) - owners.count(bob.id)) <= 1, owners


def test_regrade_all_takes_turns_with_new_submissions_and_neither_starves(course, assignment):
    instructor = create_user(f"prof-{uuid.uuid4().hex[:6]}@example.edu", "Prof", Role.INSTRUCTOR, "pw")
    enroll(course, instructor, Role.INSTRUCTOR)
    students = [_student(course, f"s{i}") for i in range(6)]
    old = [i for s in students for i in _upload(s, assignment, 2)]
    for submission_id in old:
        _done(_take(submission_id))
    batch = regrading.regrade_all(assignment, instructor)
    assert sorted(batch.submission_ids) == sorted(old)
    # Three students keep uploading while the class's twelve regrades wait: one slot, 16 turns.
    newcomers = students[:3]
    kinds, uploaded_at, taken_at = [], {}, {}
    for turn in range(16):
        if turn % 3 == 0:
            (new,) = _upload(newcomers[(turn // 3) % 3], assignment)
            uploaded_at[new] = turn
        waiting = db.session.scalars(
            select(Submission.id)
            .where(Submission.state.in_([State.RECEIVED, State.QUEUED]))
            .order_by(Submission.id)
        ).all()
        taken = _take(waiting[0])
        taken_at[taken] = turn
        lane = db.session.scalar(select(Submission.lane).where(Submission.id == taken))
        kinds.append("R" if lane else "n")
        _done(taken)
    runs = "".join(kinds)
    # Each new upload waited for one run at most; the regrades used every other turn.
    assert all(taken_at[i] - t <= 1 for i, t in uploaded_at.items()), runs
    assert runs.count("n") == 6 and runs.count("R") == 10, runs
    # and the rest of the batch drains once nobody else waits.
    while db.session.scalar(
        select(Submission.id).where(Submission.state.in_([State.RECEIVED, State.QUEUED]))
    ):
        waiting = db.session.scalar(
            select(Submission.id).where(Submission.state.in_([State.RECEIVED, State.QUEUED])).limit(1)
        )
        _done(_take(waiting))
    assert regrading.batch_progress(batch)["done"] == len(old)


def test_each_message_grades_one_submission_and_none_is_left_or_taken_twice(course, assignment):
    students = [_student(course, f"s{i}") for i in range(4)]
    # Uploads interleaved unevenly: 7, 1, 3 and 2 submissions.
    ids = []
    for counts in ((3, 1, 1, 1), (2, 0, 1, 1), (2, 0, 1, 0)):
        for student, count in zip(students, counts, strict=True):
            ids += _upload(student, assignment, count)
    taken = []
    for hint in ids:  # the broker's FIFO
        taken.append(_take(hint, f"w{hint % 2}"))
        _done(taken[-1])
    assert sorted(taken) == sorted(ids)
    assert fairness.claim_next(ids[0], "w") is None  # a duplicate message finds nothing
    attempts = db.session.scalars(select(Attempt.submission_id).where(Attempt.submission_id.in_(ids))).all()
    assert sorted(attempts) == sorted(ids)


def test_a_slot_takes_only_from_the_queue_its_message_came_through(course, assignment):
    ada = _student(course, "ada")
    (cpu,) = _upload(ada, assignment)
    gpu = _upload(ada, assignment)[0]
    db.session.execute(Submission.__table__.update().where(Submission.id == gpu).values(queue="gpu"))
    db.session.commit()
    assert _take(gpu) == gpu  # the older cpu one waits for a cpu slot
    assert _take(cpu) == cpu
    assert fairness.claim_next(cpu, "w") is None


def test_a_dead_worker_s_redelivered_message_takes_over_its_expired_lease_when_nothing_waits(
    course, assignment
):
    ada = _student(course, "ada")
    (first,) = _upload(ada, assignment)
    assert _take(first, "dead") == first
    db.session.execute(
        Submission.__table__.update()
        .where(Submission.id == first)
        .values(lease_expires_at=Submission.__table__.c.created_at)
    )
    db.session.commit()
    assert fairness.claim_next(first, "alive") == (first, 2)


def test_a_submission_the_broker_never_got_does_not_take_another_s_message(course, assignment):
    # The broker was down when Bob uploaded: his row stayed "received", with no message. Were it
    # picked on Ada's message (Bob's turn is better), Ada's would wait for the reconciler's
    # REQUEUE_AFTER with no message left for it; it waits for its own publish instead.
    ada, bob = _student(course, "ada"), _student(course, "bob")
    adas = _upload(ada, assignment, 2)
    assert _take(adas[0]) == adas[0]
    (bobs,) = _upload(bob, assignment)
    db.session.execute(
        Submission.__table__.update().where(Submission.id == bobs).values(state=State.RECEIVED)
    )
    db.session.commit()
    assert _take(adas[1]) == adas[1]
    # Once nothing queued is left, a message naming it (the reconciler's publish) claims it.
    assert _take(bobs) == bobs
