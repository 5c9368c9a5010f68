"""Load, in the suite's size: a burst from many students on two worker nodes, graded once each, in turn.

The deadline's full size (300 students in 60 s through gunicorn, upload latency, throughput against
the ideal) is ``benchmarks/deadline_burst.py``; this is the same flow small enough for every run:
two Celery nodes (two processes, as on two hosts) share the queue, one student has queued a pile
before the others arrive, and an instructor regrades everything while students keep uploading.
"""

from __future__ import annotations

import io
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from support.fault_stack import REFERENCE, Stack, make_stack
from support.private_servers import Servers

from grader.accounts.models import Role, User
from grader.accounts.services import create_user, issue_token
from grader.assignments.models import Assignment
from grader.courses.models import Enrollment
from grader.extensions import db, utcnow
from grader.submissions import regrading
from grader.submissions.models import Attempt, Result, Submission

pytestmark = [pytest.mark.faults, pytest.mark.slow]

PILE = 6  # what the first student queues before anyone else uploads
OTHERS = 6  # students arriving while both slots are busy with the pile


def _students(stack: Stack, count: int, role: Role = Role.STUDENT) -> list[tuple[int, str]]:
    """(user id, API token) of new members of the stack's course."""

    def make() -> list[tuple[int, str]]:
        assignment = db.session.get(Assignment, stack.assignment_id)
        assert assignment is not None
        made = []
        for _ in range(count):
            user = create_user(f"load-{uuid.uuid4().hex[:8]}@example.edu", "Load Student", role, "pw")
            db.session.add(Enrollment(course_id=assignment.course_id, user_id=user.id, role=role))
            db.session.commit()
            made.append((user.id, issue_token(user, "load", ["read", "submit", "grade"])))
        return made

    return stack.query(make)


def _upload(stack: Stack, token: str) -> int:
    response = stack.client().post(
        f"/api/v1/assignments/{stack.assignment_id}/submissions",
        data={"file": (io.BytesIO(REFERENCE), "reference.py")},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 202, response.get_json()
    return int(response.get_json()["id"])


def _claims(stack: Stack, ids: list[int]) -> list[tuple[int, int, datetime, str]]:
    """(submission, owner, started, worker) of every attempt of ``ids``, in the order they started."""
    rows = stack.query(
        lambda: db.session.execute(
            select(Attempt.submission_id, Submission.user_id, Attempt.started_at, Attempt.worker)
            .join(Submission, Submission.id == Attempt.submission_id)
            .where(Attempt.submission_id.in_(ids))
            .order_by(Attempt.started_at)
        ).all()
    )
    return [(int(s), int(u), started, worker) for s, u, started, worker in rows]


def _check_each_scored_once(stack: Stack, ids: list[int]) -> None:
    def read() -> None:
        for submission_id in ids:
            attempts = db.session.scalars(select(Attempt).where(Attempt.submission_id == submission_id)).all()
            results = db.session.scalars(select(Result).where(Result.submission_id == submission_id)).all()
            assert [a.outcome for a in attempts] == ["finished"], (
                submission_id,
                [a.outcome for a in attempts],
            )
            assert len(results) == 1 and results[0].verdict == "scored", submission_id

    stack.query(read)


def test_a_burst_on_two_worker_nodes_is_graded_once_each_and_nobody_waits_behind_a_pile(
    servers: Servers, tmp_path: Path
) -> None:
    with make_stack(servers, tmp_path, GRADER_WARM_POOL="1") as stack:
        nodes = [stack.start_worker(), stack.start_worker()]
        stack.wait_ready(*nodes)
        (piler_id, piler), *others = _students(stack, 1 + OTHERS)
        pile = [_upload(stack, piler) for _ in range(PILE)]
        end = time.monotonic() + 90
        while len(stack.running()) < 2:  # both slots on the pile
            assert time.monotonic() < end, stack.logs()
            time.sleep(0.05)
        arrived = utcnow()
        with ThreadPoolExecutor(4) as pool:
            firsts = list(pool.map(lambda student: _upload(stack, student[1]), others))
        with stack.reconciling():
            stack.wait_final(pile + firsts, timeout=240)
        _check_each_scored_once(stack, pile + firsts)

        claims = _claims(stack, pile + firsts)
        last_first = max(started for s, _, started, _ in claims if s in firsts)
        # Between the others' arrival and the last of their first submissions starting, the pile got at
        # most one more slot per slot (both may free up before the uploads commit): the newcomers waited
        # one run at most. In the broker's order the pile's four waiting runs would all go first.
        pile_meanwhile = [
            s for s, owner, started, _ in claims if owner == piler_id and arrived < started < last_first
        ]
        assert len(pile_meanwhile) <= 2, claims
        workers = {worker for *_, worker in claims}
        assert len(workers) == 2, workers  # both nodes graded

        # The instructor regrades everything; two students upload right after.
        ((teacher_id, _),) = _students(stack, 1, Role.INSTRUCTOR)

        def regrade_all() -> list[int]:
            assignment = db.session.get(Assignment, stack.assignment_id)
            teacher = db.session.get(User, teacher_id)
            assert assignment is not None and teacher is not None
            return list(regrading.regrade_all(assignment, teacher).submission_ids)

        regraded = stack.query(regrade_all)
        requested = utcnow()
        late = [_upload(stack, student[1]) for student in others[:2]]
        with stack.reconciling():
            stack.wait_final(regraded + late, timeout=300)
        _check_each_scored_once(stack, regraded + late)
        claims = _claims(stack, regraded + late)
        last_late = max(started for s, _, started, _ in claims if s in late)
        regrades_before = [
            s for s, _, started, _ in claims if s not in late and requested < started < last_late
        ]
        # Both slots may have taken a regrade before the uploads committed; after that, one run at most.
        assert len(regrades_before) <= 3, claims
        print(
            f"{len(pile + firsts)} uploads, then {len(regraded)} regrades + {len(late)} uploads, graded on "
            f"{len(workers)} nodes; pile slots while the others waited: {len(pile_meanwhile)}; "
            f"regrades before the late uploads: {len(regrades_before)}"
        )
