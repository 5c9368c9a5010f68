"""One gradebook column per assignment and LMS course, found or made idempotently.

Duplicate columns come from making a line item twice (a retry after a lost response, two workers at
once: PrairieLearn#15643). Here the local row (unique per context and assignment) is taken first and
locked while the platform is asked; the platform is searched by our resourceId (and tag) before
anything is made, so a retry finds what an earlier attempt made.
"""

from __future__ import annotations

from typing import cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.exception import LtiException
from pylti1p3.lineitem import LineItem
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from grader.assignments.models import Assignment
from grader.engine.spec import SpecError
from grader.extensions import db

from .models import LtiContext, LtiLineItem, LtiResourceLink
from .toolconf import DbServiceConnector, PlatformError

TAG = "grader"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
READ_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"


def resource_id_for(assignment: Assignment) -> str:
    return f"grader-assignment-{assignment.id}"


def points_of(assignment: Assignment) -> float:
    try:
        return float(assignment.current.spec().points)
    except SpecError:
        return 100.0  # a spec that no longer parses still has a column; the score carries its maximum


def can_pass_back(context: LtiContext) -> bool:
    return SCORE_SCOPE in (context.ags_scopes or [])


def line_item_row(context: LtiContext, assignment: Assignment) -> LtiLineItem:
    """The local row for the column (made without a URL if new; flushed, not committed)."""
    query = select(LtiLineItem).where(
        LtiLineItem.context_id == context.id, LtiLineItem.assignment_id == assignment.id
    )
    row = db.session.scalar(query)
    if row is not None:
        return cast(LtiLineItem, row)
    try:
        with db.session.begin_nested():
            row = LtiLineItem(
                context_id=context.id, assignment_id=assignment.id, url=None,
                resource_id=resource_id_for(assignment), tag=TAG, label=assignment.title[:255],
                score_maximum=points_of(assignment),
            )  # fmt: skip
            db.session.add(row)
    except IntegrityError:  # made by a concurrent passback: use theirs
        row = db.session.scalar(query)
        assert row is not None
    return cast(LtiLineItem, row)


def ags_service(context: LtiContext, lineitems_url: str | None = None) -> AssignmentsGradesService:
    data = {"scope": list(context.ags_scopes or []), "lineitems": lineitems_url or context.lineitems_url}
    return AssignmentsGradesService(DbServiceConnector(context.platform), data)  # type: ignore[arg-type]


def ensure_on_platform(item_id: int) -> str:
    """The column's URL on the platform, found or made once; commits. Raises PlatformError."""
    item = db.session.get(LtiLineItem, item_id)
    assert item is not None
    if item.url:
        return str(item.url)
    context = item.context
    scopes = set(context.ags_scopes or [])
    if not context.lineitems_url or not scopes & {LINEITEM_SCOPE, READ_SCOPE}:
        raise PlatformError(
            "The LMS offers no line items service for this course, and no LMS link to this assignment "
            "carries a gradebook column: place the assignment in the LMS with deep linking, then open it "
            "once from the LMS."
        )
    try:
        # The token first: caching it commits, which must not end the locked transaction below.
        DbServiceConnector(context.platform).get_access_token(sorted(scopes))
    except (LtiException, OSError) as exc:
        raise PlatformError(f"The LMS refused this tool an access token: {exc}") from None
    # Locked while the platform is asked: a concurrent passback waits here, then finds the URL.
    item = db.session.scalar(
        select(LtiLineItem)
        .where(LtiLineItem.id == item_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert item is not None
    if item.url:
        db.session.commit()
        return str(item.url)
    wanted = LineItem().set_resource_id(item.resource_id).set_tag(item.tag)
    filtered = _with_query(str(context.lineitems_url), resource_id=item.resource_id, tag=item.tag)
    try:
        # Platforms may ignore the filters: match on our resourceId (and tag) ourselves too.
        found = ags_service(context, filtered).find_lineitem_satisfying(
            lambda li: li.get("resourceId") == item.resource_id and li.get("tag") in (None, "", item.tag)
        )
        if found is None:
            if LINEITEM_SCOPE not in scopes:
                raise PlatformError(
                    "The LMS lets this tool read line items but not make them (no lineitem scope)."
                )
            link = db.session.scalar(
                select(LtiResourceLink.resource_link_id).where(
                    LtiResourceLink.context_id == context.id,
                    LtiResourceLink.assignment_id == item.assignment_id,
                )
            )
            wanted.set_score_maximum(item.score_maximum).set_label(item.label)
            if link:
                wanted.set_resource_link_id(link)
            found = ags_service(context).create_lineitem(wanted)
    except (LtiException, OSError) as exc:
        db.session.rollback()
        raise PlatformError(f"The LMS's line items service failed: {exc}") from None
    url = found.get_id() if found else None
    if not url:
        db.session.rollback()
        raise PlatformError("The LMS answered a line item without an id.")
    item.url = url[:500]
    db.session.commit()
    return str(item.url)


def forget_url(item_id: int) -> None:
    """The platform no longer knows the column (deleted in the LMS): find or make it again next time."""
    item = db.session.get(LtiLineItem, item_id)
    if item is not None:
        item.url = None
        db.session.commit()


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query)) | params
    return urlunsplit(parts._replace(query=urlencode(query)))
