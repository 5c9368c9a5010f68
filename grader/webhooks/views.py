"""The course's webhooks page: register an endpoint (its secret is shown once), deactivate one, and
see every endpoint's recent deliveries with their state (course staff only; thin over services)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from grader.courses.access import is_staff
from grader.courses.models import Course
from grader.extensions import db
from grader.web.auth import check_csrf, current_user, login_required, security_headers
from grader.web.views import error_page

from . import services
from .models import Webhook

blueprint = Blueprint("webhooks", __name__)
blueprint.before_request(check_csrf)
blueprint.after_request(security_headers)
blueprint.register_error_handler(HTTPException, error_page)

RECENT = 20  # deliveries shown per endpoint


def _course(course_id: int) -> Course:
    user = current_user()
    course = db.session.get(Course, course_id)
    if course is None or user is None or not is_staff(user, course.id):
        abort(404, f"There is no course {course_id} that you teach.")
    return course


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
    if webhook is None:
        abort(404, f"There is no webhook {webhook_id}.")
    course = _course(webhook.course_id)
    services.deactivate(webhook)
    flash(f"Webhook {webhook.url} is deactivated: nothing more is sent to it.")
    return redirect(url_for("webhooks.webhooks", course_id=course.id), code=303)
