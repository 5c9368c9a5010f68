"""What a valid launch sets up: the course for the LMS context, the user, their enrollment, the resource
link and its assignment, the context's service endpoints; and where the user lands.

``launch`` is the one act: validation (nonce and state consumed) and everything created here commit
together, or nothing does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from grader.accounts.models import Role
from grader.assignments.models import Assignment
from grader.courses.models import Course
from grader.extensions import db

from . import identities
from .launch import CLAIM, LaunchRefused, ValidLaunch, validate_launch
from .lineitems import TAG, points_of, resource_id_for
from .models import LtiContext, LtiLineItem, LtiResourceLink

AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DEEP_LINKING = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
ASSIGNMENT_PARAM = "assignment_id"  # the custom parameter deep linking puts on each link


@dataclass
class Landing:
    """Where the launch goes: "assignment", "course", "home" or "deep_link", and what to say there."""

    user_id: int
    kind: str
    target_id: int | None = None
    messages: list[str] = field(default_factory=list)
    deep_link: dict[str, Any] | None = None  # what the deep linking page needs (kept in the session)


def launch(values: dict[str, str]) -> Landing:
    """Validate a launch and set up everything it implies, in one commit. Raises LaunchRefused."""
    try:
        valid = validate_launch(values)
        landing = _provision(valid)
        db.session.commit()
    except LaunchRefused:
        db.session.rollback()
        raise
    except IntegrityError:
        db.session.rollback()
        raise LaunchRefused(
            "This launch was used twice at the same moment, or another launch set up the same course "
            "concurrently; nothing was created. Open the tool again from the LMS.",
            409,
        ) from None
    return landing


def _provision(valid: ValidLaunch) -> Landing:
    claims = valid.claims
    roles = [str(r) for r in claims.get(CLAIM + "roles") or []]
    role = identities.map_roles(roles)
    if role is None:
        raise LaunchRefused(
            f"Your role in this LMS course ({identities.describe_roles(roles)}) gives no access to the "
            "grader: instructors, teaching assistants, course administrators and learners have access.",
            403,
        )
    context, made = _context_for(valid)
    user, _ = identities.user_for(valid.platform, claims, role)
    identities.enroll(context.course_id, user, role)
    db.session.flush()
    if valid.message_type == "LtiDeepLinkingRequest":
        if role is not Role.INSTRUCTOR:
            raise LaunchRefused("Only the course's instructors can add grader assignments to the LMS.", 403)
        settings = claims.get(DEEP_LINKING) or {}
        if "ltiResourceLink" not in (settings.get("accept_types") or []):
            raise LaunchRefused(
                "The LMS does not accept LTI resource links from this deep linking request, so no "
                "assignment can be placed from here."
            )
        deep_link = {
            "platform_id": valid.platform.id,
            "deployment_id": valid.deployment_id,
            "context_id": context.id,
            "settings": {
                k: settings.get(k) for k in ("deep_link_return_url", "data", "accept_types", "title")
            },
        }
        return Landing(user.id, "deep_link", context.course_id, deep_link=deep_link)
    messages: list[str] = []
    assignment = _resource_link_assignment(context, claims, messages)
    if assignment is not None:
        _adopt_link_line_item(context, assignment, claims)
        return Landing(user.id, "assignment", assignment.id, messages)
    if role is Role.INSTRUCTOR:
        if made:
            messages.append(
                "A course was made here for this LMS course. If you already teach this class in the grader, "
                "link the LMS course to that course on this course's LMS page instead."
            )
        messages.append(
            "This LMS link opens no assignment yet: add one through the LMS's content picker (deep linking)."
        )
        return Landing(user.id, "course", context.course_id, messages)
    return Landing(user.id, "home", None, messages)


def _free_code(wanted: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", wanted).strip("-")[:40] or "LMS"
    code, n = base, 1
    while db.session.scalar(select(Course.id).where(Course.code == code)) is not None:
        n += 1
        code = f"{base}-{n}"
    return code


def _context_for(valid: ValidLaunch) -> tuple[LtiContext, bool]:
    """The LMS course's link (made, with a course of its own, on its first launch); whether it was made."""
    claim = valid.claims.get(CLAIM + "context") or {}
    context_id = str(claim.get("id") or "")
    if not context_id:
        raise LaunchRefused(
            "The launch names no LMS course (no context claim): place the tool inside a course in the LMS."
        )
    context = db.session.scalar(
        select(LtiContext).where(
            LtiContext.platform_id == valid.platform.id, LtiContext.context_id == context_id
        )
    )
    title = str(claim.get("title") or claim.get("label") or "LMS course")[:200]
    made = context is None
    if context is None:
        # A course of its own, never one found by code: a label is no proof of owning a course here.
        course = Course(code=_free_code(str(claim.get("label") or title)), title=title)
        db.session.add(course)
        db.session.flush()
        context = LtiContext(
            platform_id=valid.platform.id, context_id=context_id, course_id=course.id,
            deployment_id=valid.deployment_id, title=title, ags_scopes=[],
        )  # fmt: skip
        db.session.add(context)
    context.title, context.deployment_id = title[:255], valid.deployment_id
    ags = valid.claims.get(AGS) or {}
    if ags:
        context.lineitems_url = ags.get("lineitems") or context.lineitems_url
        context.ags_scopes = [str(s) for s in ags.get("scope") or []]
    nrps = valid.claims.get(NRPS) or {}
    if nrps.get("context_memberships_url"):
        context.memberships_url = nrps["context_memberships_url"]
    db.session.flush()
    return context, made


def _resource_link_assignment(
    context: LtiContext, claims: dict[str, Any], messages: list[str]
) -> Assignment | None:
    """The assignment this link opens: its custom parameter (deep linking) or the link's mapping."""
    link_claim = claims.get(CLAIM + "resource_link") or {}
    link_id = str(link_claim.get("id") or "")
    link = db.session.scalar(
        select(LtiResourceLink).where(
            LtiResourceLink.context_id == context.id, LtiResourceLink.resource_link_id == link_id
        )
    )
    if link is None:
        link = LtiResourceLink(context_id=context.id, resource_link_id=link_id)
        db.session.add(link)
    link.title = str(link_claim.get("title") or "")[:255]
    wanted = str((claims.get(CLAIM + "custom") or {}).get(ASSIGNMENT_PARAM) or "").strip()
    if wanted:
        assignment = (
            db.session.get(Assignment, int(wanted))
            if wanted.isascii() and wanted.isdecimal() and len(wanted) < 10
            else None
        )
        if assignment is None or assignment.course_id != context.course_id:
            messages.append(
                f"This LMS link points to assignment {wanted}, which is not in this course (was the LMS "
                "course copied?). Ask the instructor to place the assignment again with deep linking."
            )
        else:
            link.assignment_id = assignment.id
    db.session.flush()
    return db.session.get(Assignment, link.assignment_id) if link.assignment_id else None


def _adopt_link_line_item(context: LtiContext, assignment: Assignment, claims: dict[str, Any]) -> None:
    """The link's own gradebook column (the AGS ``lineitem`` claim) becomes the assignment's, if it has none."""
    url = (claims.get(AGS) or {}).get("lineitem")
    if not url:
        return
    existing = db.session.scalar(
        select(LtiLineItem).where(
            LtiLineItem.context_id == context.id, LtiLineItem.assignment_id == assignment.id
        )
    )
    if existing is None:
        db.session.add(
            LtiLineItem(
                context_id=context.id, assignment_id=assignment.id, url=str(url)[:500],
                resource_id=resource_id_for(assignment), tag=TAG, label=assignment.title[:255],
                score_maximum=points_of(assignment),
            )
        )  # fmt: skip
    elif existing.url is None:
        existing.url = str(url)[:500]
