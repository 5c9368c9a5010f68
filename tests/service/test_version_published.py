"""A new version of an assignment is announced once it has committed (VersionPublished), and its
reference run is queued by the listener, whichever door published it: the services, the pages'
built-in publishing, an uploaded draft (test_spec_drafts.py) or the CLI. Republishing an unchanged
spec is no new version and queues nothing."""

from __future__ import annotations

from sqlalchemy import func, select
from support.assignments import copy_paraboloid
from support.courses import enroll
from support.pages import log_in

from grader.accounts.models import Role
from grader.accounts.services import create_user
from grader.assignments.models import Assignment
from grader.assignments.services import publish
from grader.extensions import db
from grader.submissions.models import State, Submission
from grader.submissions.reference import REFERENCE_EMAIL, reference_run_of


def _reference_runs(assignment: Assignment) -> int:
    count = db.session.scalar(
        select(func.count(Submission.id)).where(
            Submission.assignment_version_id.in_(assignment.version_ids), Submission.is_reference.is_(True)
        )
    )
    return count or 0


def test_each_new_version_queues_its_reference_run_once(reference_runs, course, tmp_path):
    folder = copy_paraboloid(tmp_path)
    assignment = publish(course, str(folder))
    run = reference_run_of(assignment.current.id)
    assert run is not None and run.user.email == REFERENCE_EMAIL and run.filename == "reference.py"
    assert run.state is State.QUEUED  # committed with the version, then sent to the workers
    assert publish(course, str(folder)).current.number == 1 and _reference_runs(assignment) == 1

    changed = copy_paraboloid(tmp_path / "v2", ("per_day = 10", "per_day = 9"))
    assignment = publish(course, str(changed))
    assert assignment.current.number == 2 and _reference_runs(assignment) == 2
    assert reference_run_of(assignment.current.id).id != run.id


def test_publishing_a_built_in_from_the_course_page_queues_its_reference_run(reference_runs, client, course):
    teacher = create_user("publisher@example.edu", "Grace Teacher", Role.INSTRUCTOR, "pw")
    enroll(course, teacher, Role.INSTRUCTOR)
    token = log_in(client, teacher)
    done = client.post(f"/courses/{course.id}/publish", data={"csrf_token": token, "slug": "paraboloid"})
    assert done.status_code == 303
    assignment = db.session.scalar(select(Assignment).where(Assignment.course_id == course.id))
    assert reference_run_of(assignment.current.id) is not None


def test_without_reference_runs_a_publication_queues_nothing(course):
    """GRADER_REFERENCE_RUNS=0 (and the tests' default): no listener, no run."""
    assignment = publish(course, "paraboloid")
    assert _reference_runs(assignment) == 0
