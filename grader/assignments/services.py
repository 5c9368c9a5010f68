"""Placing assignments in courses and publishing their versions.

A new version is announced (``VersionPublished``, with its reference solution's bytes) in the
transaction that commits it: the listener in grader/submissions/reference.py writes its reference
run's row there and queues it once that has committed, whichever of the pages, the uploaded drafts,
the CLI or the demo published it."""

from __future__ import annotations

import io
import secrets
from datetime import datetime

import numpy as np
from sqlalchemy import select

from grader.accounts.models import User
from grader.assignments.models import Assignment, AssignmentVersion
from grader.audit import services as audit
from grader.audit.models import Action
from grader.courses.models import Course
from grader.domain_events import Staged, VersionPublished, send, stage
from grader.engine import datasets
from grader.engine.spec import Assignment as Spec
from grader.engine.spec import find
from grader.extensions import db
from grader.storage import current_store


def publish(
    course: Course,
    slug: str,
    deadline: datetime | None = None,
    daily_limit: int | None = None,
    *,
    by: User | None = None,
) -> Assignment:
    """Sync an assignment's spec into the course; a changed spec (or a file it uses) makes a new version.

    ``slug`` is a built-in assignment or an assignment folder; the spec is validated first
    (raises SpecError, leaving the database as it was). Each version gets its own secret,
    from which its hidden set is drawn. The deadline and the daily limit default to the
    spec's; the ones given here are this course's own.
    """
    return publish_spec(course, find(slug), deadline, daily_limit, by=by)


def publish_spec(
    course: Course,
    spec: Spec,
    deadline: datetime | None = None,
    daily_limit: int | None = None,
    *,
    hidden: bool = False,
    by: User | None = None,
) -> Assignment:
    """``publish`` for a spec already parsed (and validated), e.g. from an uploaded folder; commits,
    then announces a new version."""
    assignment, staged = stage_spec(course, spec, deadline, daily_limit, hidden=hidden, by=by)
    db.session.commit()
    send(staged)
    return assignment


def stage_spec(
    course: Course,
    spec: Spec,
    deadline: datetime | None = None,
    daily_limit: int | None = None,
    *,
    hidden: bool = False,
    by: User | None = None,
) -> tuple[Assignment, Staged]:
    """What ``publish_spec`` does, without the commit (for a caller that commits more with it), and
    what to ``send`` once it has: a new version's announcement (nothing for an unchanged spec).

    ``hidden`` applies to an assignment created here; a new version keeps its assignment's visibility.
    A new version goes into the audit trail as published ``by`` them (None: the command line's or the
    demo's own publishing).
    """
    assignment = db.session.scalar(
        select(Assignment).where(Assignment.course_id == course.id, Assignment.slug == spec.slug)
    )
    policy = spec.submissions
    if assignment is None:
        # Team sizes are the spec's at first; the instructor's (teams page) afterwards.
        assignment = Assignment(
            course_id=course.id, slug=spec.slug, title=spec.title, hidden=hidden,
            team_min=policy.team_min, team_max=policy.team_max,
        )  # fmt: skip
        db.session.add(assignment)
    assignment.deadline = deadline or (assignment.deadline if assignment.id else policy.deadline)
    assignment.daily_limit = daily_limit or (assignment.daily_limit if assignment.id else policy.per_day)
    db.session.flush()
    if not assignment.versions or assignment.current.spec_sha256 != spec.digest:
        version = AssignmentVersion(
            assignment_id=assignment.id,
            number=len(assignment.versions) + 1,
            spec_sha256=spec.digest,
            spec_text=spec.text,
            hidden_secret=secrets.token_hex(32),
            files=AssignmentVersion.encode_files(spec.files),
        )
        version.hidden_sha256, _ = current_store().put(_hidden_file(spec, version))
        assignment.versions.append(version)
        assignment.title = spec.title
        db.session.flush()
        audit.record(
            Action.VERSION_PUBLISHED, by=by, course_id=course.id,
            subject=audit.Subject("assignment", assignment.id, spec.title),
            details={"version": version.number, "spec_sha256": spec.digest[:12]},
        )  # fmt: skip
        return assignment, stage(VersionPublished(assignment.id, version.id, reference_solution(spec)))
    return assignment, Staged()


def reference_solution(spec: Spec) -> tuple[str, bytes] | None:
    """The first solution the spec expects to pass, as (its path in the folder, its bytes); None when
    it declares none or it cannot be read (the check reports unreadable solutions)."""
    solution = next((s for s in spec.solutions if s.expect == "pass"), None)
    if solution is None or spec.folder is None:
        return None
    try:
        return solution.file, (spec.folder / solution.file).read_bytes()
    except OSError:
        return None


def _hidden_file(spec: Spec, version: AssignmentVersion) -> bytes:
    hidden = datasets.hidden_set(spec, bytes.fromhex(version.hidden_secret), version.number)
    buffer = io.BytesIO()
    np.savez(buffer, inputs=hidden.inputs, targets=hidden.targets)
    return buffer.getvalue()


def hidden_set_of(version: AssignmentVersion, spec: Spec) -> datasets.DataSet:
    """The version's hidden set: the one stored at publication, or (older versions) drawn again."""
    if version.hidden_sha256 is None:
        return datasets.hidden_set(spec, bytes.fromhex(version.hidden_secret), version.number)
    with np.load(io.BytesIO(current_store().get(version.hidden_sha256)), allow_pickle=False) as stored:
        return datasets.DataSet(stored["inputs"], stored["targets"])
