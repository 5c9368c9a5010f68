"""The names students show on leaderboards: chosen by them, one per course, not revealing who they are."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from grader.accounts.models import User
from grader.extensions import db

from .models import Enrollment

PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{1,38}[A-Za-z0-9._\-]")


@dataclass
class PseudonymRefused(Exception):
    message: str


def _reveals(user: User, pseudonym: str) -> bool:
    """The pseudonym contains the student's name, a part of it, or their email's local part."""
    lowered = pseudonym.lower()
    parts = [
        p for p in re.split(r"[\s.@_\-]+", f"{user.name} {user.email.split('@')[0]}".lower()) if len(p) >= 3
    ]
    return any(part in lowered for part in parts)


def set_pseudonym(user: User, course_id: int, pseudonym: str) -> Enrollment:
    """Set (or with an empty text, withdraw) the student's pseudonym in the course.

    Raises PseudonymRefused with what to change; the enrollment is left as it was.
    """
    enrollment = db.session.scalar(
        select(Enrollment).where(Enrollment.user_id == user.id, Enrollment.course_id == course_id)
    )
    if enrollment is None:
        raise PseudonymRefused("You are not enrolled in this course.")
    chosen = " ".join(pseudonym.split())
    if chosen and not PATTERN.fullmatch(chosen):
        raise PseudonymRefused(
            "A pseudonym has 3 to 40 characters: letters, digits, spaces, '.', '_' and '-', "
            "starting with a letter or a digit."
        )
    if chosen and _reveals(user, chosen):
        raise PseudonymRefused(
            "That pseudonym contains your name or your email address; choose one that does not say who you are."
        )
    taken = chosen and db.session.scalar(
        select(Enrollment.id).where(
            Enrollment.course_id == course_id,
            func.lower(Enrollment.pseudonym) == chosen.lower(),
            Enrollment.id != enrollment.id,
        )
    )
    if taken:
        raise PseudonymRefused(f"{chosen!r} is already taken in this course; choose another.")
    enrollment.pseudonym = chosen or None
    try:
        db.session.commit()
    except IntegrityError:  # chosen by someone else between the check and the commit
        db.session.rollback()
        raise PseudonymRefused(f"{chosen!r} is already taken in this course; choose another.") from None
    return enrollment
