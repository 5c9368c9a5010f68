"""Names and Role Provisioning: the LMS course's members become users enrolled here, before they launch.

Every page is followed (``Link: <...>; rel="next"``, quoted or not). Members whose role gives no
access, and inactive or deleted ones, are skipped. Once every page has been read, the course's
members who came from this LMS and are no longer listed as active are marked as having left: their
access ends, their submissions and grades stay (staff see them as "left"); listed again, or
launching again, they are members again. A roster that lists nobody active removes nobody (an LMS
answering with an empty page by mistake must not empty a course). Beat syncs every linked course
on a schedule; staff can ask for one, and see its progress, on the course's LMS page.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from flask import current_app
from pylti1p3.exception import LtiException
from pylti1p3.names_roles import NamesRolesProvisioningService
from sqlalchemy import select

from grader.accounts.models import Role
from grader.courses.models import Enrollment, current_member
from grader.extensions import db, utcnow

from . import identities
from .models import LtiContext, LtiUser
from .toolconf import DbServiceConnector, PlatformError

MAX_PAGES = 1000  # a platform whose "next" never ends must not keep a worker forever


@dataclass
class RosterReport:
    pages: int = 0
    members: int = 0
    new_users: int = 0
    new_enrollments: int = 0
    skipped: int = 0
    left: int = 0  # marked as having left the course
    returned: int = 0  # had left, listed again


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
    listed: set[str] = set()  # the subs listed as active members with a role that gives access
    context.roster_started_at = utcnow()
    db.session.commit()
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
                _add(context, dict(member), report, listed)
            context.roster_report = asdict(report)  # the progress staff see while it runs
            db.session.commit()
        if listed:
            _mark_left(context, listed, report)
    except (PlatformError, LtiException, OSError) as exc:
        db.session.rollback()
        error = f"The roster sync failed: {exc}"[:2000]
        context.roster_error, context.roster_started_at = error, None
        db.session.commit()
        raise PlatformError(error) from None
    context.roster_synced_at, context.roster_error, context.roster_started_at = utcnow(), None, None
    context.roster_report = asdict(report)
    db.session.commit()
    return report


def _mark_left(context: LtiContext, listed: set[str], report: RosterReport) -> None:
    """Members of the course who came from this LMS and are no longer listed: marked as left."""
    rows = db.session.execute(
        select(Enrollment, LtiUser.sub)
        .join(LtiUser, (LtiUser.user_id == Enrollment.user_id) & (LtiUser.platform_id == context.platform_id))
        .where(Enrollment.course_id == context.course_id, current_member(), Enrollment.role != Role.ADMIN)
    ).all()
    now = utcnow()
    for enrollment, sub in rows:
        if sub not in listed:
            enrollment.left_at = now
            report.left += 1


def sync_all() -> int:
    """Queue a sync of every linked course whose LMS offers its roster and is enabled (beat's)."""
    contexts = db.session.scalars(select(LtiContext).where(LtiContext.memberships_url.is_not(None))).all()
    queued = 0
    for context in contexts:
        if context.platform.disabled_at is None:
            current_app.extensions["celery"].send_task("grader.lti.roster", args=[context.id])
            queued += 1
    return queued


def _add(context: LtiContext, member: dict[str, object], report: RosterReport, listed: set[str]) -> None:
    report.members += 1
    sub = str(member.get("user_id") or "")
    roles = [str(r) for r in member.get("roles") or []]  # type: ignore[attr-defined]
    role = identities.map_roles(roles)
    if not sub or role is None or str(member.get("status") or "Active") != "Active":
        report.skipped += 1
        return
    listed.add(sub)
    user, new = identities.user_for(context.platform, {**member, "sub": sub}, role)
    report.new_users += int(new)
    had_left = db.session.scalar(
        select(Enrollment.left_at).where(
            Enrollment.course_id == context.course_id, Enrollment.user_id == user.id
        )
    )
    report.returned += int(had_left is not None)
    report.new_enrollments += int(identities.enroll(context.course_id, user, role))
    db.session.flush()
