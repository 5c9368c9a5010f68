"""Who an LMS user is here: their roles mapped to ours, their account and their enrollment.

Shared by launches and roster syncs. Nothing here commits: the caller's act does, whole.

Conservative by design:
* LTI roles never make anyone a site admin. Course staff are Instructor, TeachingAssistant and
  Administrator *of the course* (context roles); when the platform sends context roles only they
  count (Canvas also sends institution roles that have nothing to do with this course); institution
  or system roles are looked at only when no context role came, and then only an Administrator
  (someone the LMS let into the course) becomes the course's instructor.
* Learners are students. Any other role (Mentor, Observer, ContentDeveloper, ...) gets no access.
* An LMS identity is never joined to an existing account because the emails match: the platform's
  email claim is not proof of owning our account. Such users get their own account (and a
  placeholder address when theirs is taken), logged in through the LMS only (no password).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from grader.accounts.models import Role, User
from grader.courses.models import Enrollment
from grader.extensions import db

from .models import LtiPlatform, LtiUser

STAFF_NAMES = frozenset({"Instructor", "TeachingAssistant", "Administrator"})
STUDENT_NAMES = frozenset({"Learner", "Student"})
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _parse_role(uri: str) -> tuple[str, str]:
    """("context" | "institution" | "system", name) of an LTI role URI or a short (context) name."""
    if "/" not in uri and "#" not in uri:
        return "context", uri  # LTI 1.1-style short names are context roles
    path, _, fragment = uri.partition("#")
    if "/membership/" in path:  # a sub-role, e.g. membership/Instructor#TeachingAssistant
        base = path.rsplit("/membership/", 1)[1]
        return "context", "TeachingAssistant" if fragment == "TeachingAssistant" else base
    if path.endswith("/membership"):
        return "context", fragment
    if "/institution/" in path:
        return "institution", fragment
    if "/system/" in path:
        return "system", fragment
    return "other", fragment or uri


def map_roles(roles: list[str]) -> Role | None:
    """Our role in the course for these LTI roles; None when they give no access."""
    parsed = [_parse_role(str(r)) for r in roles]
    context = {name for kind, name in parsed if kind == "context"}
    if context:
        if context & STAFF_NAMES:
            return Role.INSTRUCTOR
        return Role.STUDENT if context & STUDENT_NAMES else None
    others = {name for kind, name in parsed if kind in ("institution", "system")}
    if "Administrator" in others:
        return Role.INSTRUCTOR
    return None


def describe_roles(roles: list[str]) -> str:
    names = sorted({_parse_role(str(r))[1] for r in roles})
    return ", ".join(names) if names else "none"


def _name(claims: Mapping[str, Any], sub: str) -> str:
    name = str(claims.get("name") or "").strip()
    if not name:
        name = " ".join(str(claims.get(k) or "").strip() for k in ("given_name", "family_name")).strip()
    return (name or f"LMS user {sub[:12]}")[:200]


def _email(platform: LtiPlatform, claims: Mapping[str, Any], sub: str) -> str:
    email = str(claims.get("email") or "").strip().lower()
    if EMAIL.match(email) and len(email) <= 254:
        taken = db.session.scalar(select(User.id).where(User.email == email))
        if taken is None:
            return email
    # Unique per platform and sub; .invalid never receives mail (RFC 2606).
    digest = hashlib.sha256(f"{platform.id}:{sub}".encode()).hexdigest()[:16]
    return f"lti-{platform.id}-{digest}@lti.invalid"


def user_for(platform: LtiPlatform, claims: Mapping[str, Any], role: Role) -> tuple[User, bool]:
    """The account of the platform's user ``claims["sub"]`` (made on first sight); True if new."""
    sub = str(claims["sub"])
    link = db.session.scalar(select(LtiUser).where(LtiUser.platform_id == platform.id, LtiUser.sub == sub))
    if link is not None:
        user = link.user
        if claims.get("name") or claims.get("given_name"):
            user.name = _name(claims, sub)  # the LMS keeps names current
        return user, False
    user = User(email=_email(platform, claims, sub), name=_name(claims, sub), role=role)
    db.session.add(user)
    db.session.flush()
    db.session.add(LtiUser(platform_id=platform.id, sub=sub, user_id=user.id))
    return user, True


def enroll(course_id: int, user: User, role: Role) -> bool:
    """Enroll the user with the LMS's role (the LMS is the truth for a linked course); True if new."""
    enrollment = db.session.scalar(
        select(Enrollment).where(Enrollment.course_id == course_id, Enrollment.user_id == user.id)
    )
    if enrollment is None:
        db.session.add(Enrollment(course_id=course_id, user_id=user.id, role=role))
        return True
    if enrollment.role is not Role.ADMIN:
        enrollment.role = role
    enrollment.left_at = None  # the LMS lists them (or launched them): a member again
    return False
