"""Linking an LMS course to a grader course its instructor already teaches.

A first launch from an LMS course makes a grader course of its own (never one found by code or
title: a label is no proof of owning a course here). When that LMS course is a class the instructor
already runs here (a second section, a course begun before the LMS was connected), they link it to
that course instead: the LMS course's members are enrolled there with their LMS roles, and later
launches, passbacks and roster syncs go there. Only a course made for the link and still empty (no
assignment) can be left this way; it is then deleted if nothing else uses it. The instructor must
teach both courses. Recorded in both courses' audit trails.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from grader.accounts.models import Role, User
from grader.assignments.models import Assignment
from grader.audit import services as audit
from grader.audit.models import Action
from grader.courses.access import is_staff
from grader.courses.models import Course, Enrollment
from grader.extensions import db

from .models import LtiContext, LtiUser


@dataclass
class LinkRefused(Exception):
    message: str
    status: int = 409


def choices(user: User, context: LtiContext) -> list[Course]:
    """The other courses the instructor could link this LMS course to (those they teach)."""
    query = select(Course).where(Course.id != context.course_id).order_by(Course.code)
    if user.role is not Role.ADMIN:
        taught = select(Enrollment.course_id).where(
            Enrollment.user_id == user.id, Enrollment.role == Role.INSTRUCTOR, Enrollment.left_at.is_(None)
        )
        query = query.where(Course.id.in_(taught))
    return list(db.session.scalars(query))


def link(context: LtiContext, target: Course, by: User) -> int:
    """Link the LMS course to ``target`` (committed); the number of members enrolled there."""
    source = db.session.get(Course, context.course_id)
    assert source is not None  # the context's foreign key
    if target.id == source.id:
        raise LinkRefused(f"{context.title!r} is already linked to {target.code}.", 400)
    if not (is_staff(by, source.id) and is_staff(by, target.id)):
        raise LinkRefused(f"You can link {context.title!r} only to a course you teach.", 403)
    if db.session.scalar(select(func.count(Assignment.id)).where(Assignment.course_id == source.id)):
        raise LinkRefused(
            f"{source.code} already has assignments, so its LMS link cannot move: students' work would be "
            f"split between two courses. Link only a newly made, empty course; or keep {source.code}.",
        )
    members = (
        db.session.execute(
            select(Enrollment)
            .join(
                LtiUser,
                (LtiUser.user_id == Enrollment.user_id) & (LtiUser.platform_id == context.platform_id),
            )
            .where(Enrollment.course_id == source.id)
        )
        .scalars()
        .all()
    )
    moved = 0
    for member in members:
        there = db.session.scalar(
            select(Enrollment).where(Enrollment.course_id == target.id, Enrollment.user_id == member.user_id)
        )
        if there is None:
            db.session.add(Enrollment(course_id=target.id, user_id=member.user_id, role=member.role))
            moved += 1
        elif there.role is not Role.ADMIN and there.left_at is None and member.left_at is None:
            there.role = member.role
    context.course_id = target.id
    subject = audit.Subject("lms_course", context.id, f"{context.title} ({context.platform.name})")
    details = {"from": source.code, "to": target.code, "members": moved}
    for course_id in (source.id, target.id):
        audit.record(Action.LMS_COURSE_LINKED, by=by, course_id=course_id, subject=subject, details=details)
    db.session.flush()
    others = db.session.scalar(select(func.count(LtiContext.id)).where(LtiContext.course_id == source.id))
    if not others:
        db.session.delete(source)  # made for the link, empty, and now used by nothing
    db.session.commit()
    return moved
