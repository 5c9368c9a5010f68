"""Names and Role Provisioning: the LMS course's members become users enrolled here, before they launch.

Every page is followed (``Link: <...>; rel="next"``, quoted or not). Members whose role gives no
access, and inactive or deleted ones, are skipped: a sync adds and updates, it never removes anyone
(a student dropped in the LMS keeps their submissions and stays visible to staff here).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from pylti1p3.exception import LtiException
from pylti1p3.names_roles import NamesRolesProvisioningService
from sqlalchemy import select

from grader.extensions import db, utcnow

from . import identities
from .models import LtiContext
from .toolconf import DbServiceConnector, PlatformError

MAX_PAGES = 1000  # a platform whose "next" never ends must not keep a worker forever


@dataclass
class RosterReport:
    pages: int = 0
    members: int = 0
    new_users: int = 0
    new_enrollments: int = 0
    skipped: int = 0


def contexts_of(course_id: int) -> list[LtiContext]:
    return list(db.session.scalars(select(LtiContext).where(LtiContext.course_id == course_id)))


def request_sync(context: LtiContext) -> None:
    """Queue a sync (the instructor's button); raises PlatformError if the LMS offers no roster."""
    if not context.memberships_url:
        raise PlatformError(
            "The LMS has not offered its roster service (NRPS) in any launch from this course: enable "
            "Names and Role Provisioning for the tool in the LMS, then open the tool from the course once."
        )
    current_app.extensions["celery"].send_task("grader.lti.roster", args=[context.id])  # the outbound queue


def sync(context_id: int) -> RosterReport:
    """Fetch every page of the course's members and enroll them; commits (or records the error)."""
    context = db.session.get(LtiContext, context_id)
    if context is None:
        return RosterReport()
    report = RosterReport()
    try:
        if not context.memberships_url:
            raise PlatformError("The LMS offers no roster service (NRPS) for this course.")
        if context.platform.disabled_at is not None:
            raise PlatformError(
                "The LMS's registration is disabled on this tool: enable it to sync the roster."
            )
        service = NamesRolesProvisioningService(
            DbServiceConnector(context.platform), {"context_memberships_url": context.memberships_url}
        )
        url: str | None = context.memberships_url
        while url:
            report.pages += 1
            if report.pages > MAX_PAGES:
                raise PlatformError(f"The roster has more than {MAX_PAGES} pages; stopped.")
            members, url = service.get_members_page(url)
            for member in members:
                _add(context, dict(member), report)
    except (PlatformError, LtiException, OSError) as exc:
        db.session.rollback()
        error = f"The roster sync failed: {exc}"[:2000]
        context.roster_error = error
        db.session.commit()
        raise PlatformError(error) from None
    context.roster_synced_at, context.roster_error = utcnow(), None
    db.session.commit()
    return report


def _add(context: LtiContext, member: dict[str, object], report: RosterReport) -> None:
    report.members += 1
    sub = str(member.get("user_id") or "")
    roles = [str(r) for r in member.get("roles") or []]  # type: ignore[attr-defined]
    role = identities.map_roles(roles)
    if not sub or role is None or str(member.get("status") or "Active") != "Active":
        report.skipped += 1
        return
    user, new = identities.user_for(context.platform, {**member, "sub": sub}, role)
    report.new_users += int(new)
    report.new_enrollments += int(identities.enroll(context.course_id, user, role))
    db.session.flush()
