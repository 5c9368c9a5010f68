"""Placing assignments in courses and publishing their versions."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select

from grader.courses.models import Course
from grader.extensions import db

from .models import Assignment, AssignmentVersion
from .spec import find


def publish(course: Course, slug: str, deadline: datetime | None = None, daily_limit: int = 10) -> Assignment:
    """Sync a built-in assignment's spec into the course; a changed spec makes a new version.

    Each version gets its own secret, from which its hidden set is drawn.
    """
    spec = find(slug)
    text = (spec.folder / "assignment.toml").read_text()
    digest = hashlib.sha256(text.encode()).hexdigest()
    assignment = db.session.scalar(
        select(Assignment).where(Assignment.course_id == course.id, Assignment.slug == slug)
    )
    if assignment is None:
        assignment = Assignment(
            course_id=course.id, slug=slug, title=spec.title, deadline=deadline, daily_limit=daily_limit
        )
        db.session.add(assignment)
        db.session.flush()
    if not assignment.versions or assignment.current.spec_sha256 != digest:
        number = len(assignment.versions) + 1
        version = AssignmentVersion(
            assignment_id=assignment.id,
            number=number,
            spec_sha256=digest,
            spec_text=text,
            hidden_secret=secrets.token_hex(32),
        )
        assignment.versions.append(version)
        assignment.title = spec.title
    db.session.commit()
    return assignment
