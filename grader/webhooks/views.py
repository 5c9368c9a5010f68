"""The course's webhooks page: register an endpoint (its secret is shown once), deactivate one, and
see every endpoint's recent deliveries with their state (course staff only; thin over services)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from grader.access.browser import current_user, login_required, serve_pages
from grader.access.kit import require_course
from grader.courses.access import is_staff
from grader.courses.models import Course
from grader.denials import NotYours
from grader.extensions import db

from . import services
from .models import Webhook

blueprint = serve_pages(Blueprint("webhooks", __name__))

RECENT = 20  # deliveries shown per endpoint


def _course(course_id: int) -> Course:
    return require_course(current_user(), course_id, staff=True)


def _page(course: Course, secret: str | None = None, created: Webhook | None = None,
          error: str | None = None, url: str = "", status: int = 200) -> tuple[str, int]:  # fmt: skip
    hooks = services.course_webhooks(course.id)
    recent = {h.id: services.deliveries(h.id, 0, RECENT) for h in hooks}
    page = render_template(
        "web/webhooks.html", course=course, hooks=hooks, recent=recent, secret=secret, created=created,
        error=error, url=url, events=services.EVENTS, max_attempts=services.MAX_ATTEMPTS,
    )  # fmt: skip
    return page, status


@blueprint.get("/courses/<int:course_id>/webhooks")
@login_required
def webhooks(course_id: int) -> tuple[str, int]:
    return _page(_course(course_id))


@blueprint.post("/courses/<int:course_id>/webhooks")
@login_required
def register(course_id: int) -> tuple[str, int]:
    """Register the endpoint and show its secret on this response only (never stored in the session)."""
    course = _course(course_id)
    url = request.form.get("url", "")
    user = current_user()
    assert user is not None
    try:
        webhook, secret = services.register(course.id, url, user)
    except services.WebhookRefused as refused:
        return _page(course, error=refused.message, url=url, status=400)
    return _page(course, secret=secret, created=webhook, status=201)


@blueprint.post("/webhooks/<int:webhook_id>/deactivate")
@login_required
def deactivate(webhook_id: int) -> Any:
    webhook = db.session.get(Webhook, webhook_id)
    user = current_user()
    if webhook is None or user is None or not is_staff(user, webhook.course_id):
        raise NotYours(f"There is no webhook {webhook_id} in the courses you teach.")
    course = _course(webhook.course_id)
    services.deactivate(webhook)
    flash(f"Webhook {webhook.url} is deactivated: nothing more is sent to it.")
    return redirect(url_for("webhooks.webhooks", course_id=course.id), code=303)
