"""Deep Linking: the instructor picks an assignment, the LMS gets a signed LtiDeepLinkingResponse with one
LTI resource link (custom ``assignment_id``) and its gradebook column declared (line item with our
resourceId and tag, so a later passback finds this very column instead of making a second one).
"""

from __future__ import annotations

from typing import Any, cast

from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.lineitem import LineItem
from sqlalchemy import select

from grader.assignments.models import Assignment
from grader.extensions import db

from .lineitems import TAG, points_of, resource_id_for
from .models import LtiContext, LtiPlatform
from .provisioning import ASSIGNMENT_PARAM
from .toolconf import registration_for


class DeepLinkRefused(Exception):
    pass


def choices(context_id: int) -> list[Assignment]:
    """The assignments the instructor may place: every one of the linked course."""
    context = db.session.get(LtiContext, context_id)
    if context is None:
        return []
    return list(
        db.session.scalars(
            select(Assignment).where(Assignment.course_id == context.course_id).order_by(Assignment.id)
        )
    )


def response(pending: dict[str, Any], assignment_id: int, launch_url: str) -> tuple[str, str]:
    """(the LMS's return URL, the signed JWT) placing the assignment. Raises DeepLinkRefused."""
    platform = db.session.get(LtiPlatform, pending.get("platform_id"))
    context = db.session.get(LtiContext, pending.get("context_id"))
    settings = pending.get("settings") or {}
    return_url = str(settings.get("deep_link_return_url") or "")
    if platform is None or context is None or not return_url:
        raise DeepLinkRefused("This deep linking request is no longer known. Start again from the LMS.")
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None or assignment.course_id != context.course_id:
        raise DeepLinkRefused(
            f"There is no assignment {assignment_id} in {context.course.code}: pick one from the list."
        )
    line_item = (
        LineItem()
        .set_score_maximum(points_of(assignment))
        .set_label(assignment.title)
        .set_resource_id(resource_id_for(assignment))
        .set_tag(TAG)
    )
    resource = (
        DeepLinkResource()
        .set_url(launch_url)
        .set_title(assignment.title)
        .set_lineitem(line_item)
        .set_custom_params({ASSIGNMENT_PARAM: str(assignment.id)})
        .set_target("iframe")  # launches work inside the LMS's frame (framing.py): stay in its page
    )
    registration = registration_for(platform, with_tool_key=True)
    link = DeepLink(registration, str(pending["deployment_id"]), cast(Any, settings))
    return return_url, link.get_response_jwt([resource])
