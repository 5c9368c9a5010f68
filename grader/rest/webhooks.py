"""REST endpoints for a course's webhooks (course staff, with a token that has the admin scope)."""

from __future__ import annotations

from typing import Any, Literal

from flask import url_for
from pydantic import Field

from grader.access.kit import require_course, require_staff
from grader.accounts.models import User
from grader.api_errors import ApiProblem
from grader.courses.access import is_enrolled
from grader.denials import NotYours
from grader.extensions import db
from grader.rest.registry import Api, Reply
from grader.rest.schemas import Model, Page, PageQuery, UtcDateTime, paging
from grader.webhooks import services
from grader.webhooks.models import Webhook, WebhookDelivery

api = Api("webhooks_api", "Webhooks")

Event = Literal["submission.scored", "regrade_request.answered"]


def _every_event() -> list[Event]:
    return ["submission.scored", "regrade_request.answered"]


class WebhookIn(Model):
    url: str = Field(
        max_length=services.URL_MAX,
        pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/\S*)?$",
        description="Where to POST the events: an http:// or https:// URL, without a user name or password.",
    )
    events: list[Event] = Field(default_factory=_every_event, min_length=1, description="The events to send.")


class WebhookOut(Model):
    id: int
    course_id: int
    url: str
    events: list[str]
    active: bool
    created_at: UtcDateTime
    deliveries_url: str


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="Signs every delivery (X-Grader-Signature). Shown only in this response: keep it now."
    )


class WebhookPage(Page):
    items: list[WebhookOut]


class DeliveryOut(Model):
    id: int
    event: str
    event_id: str
    submission_id: int | None
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    response_status: int | None = Field(description="The endpoint's last HTTP status (null: no answer).")
    last_error: str | None
    next_attempt_at: UtcDateTime | None
    created_at: UtcDateTime
    delivered_at: UtcDateTime | None
    payload: dict[str, Any]


class DeliveryPage(Page):
    items: list[DeliveryOut]


def _describe(webhook: Webhook) -> dict[str, Any]:
    return {
        "id": webhook.id, "course_id": webhook.course_id, "url": webhook.url, "events": list(webhook.events or []),
        "active": webhook.active, "created_at": webhook.created_at,
        "deliveries_url": url_for("webhooks_api.list_deliveries", webhook_id=webhook.id),
    }  # fmt: skip


MANAGING = "manage its webhooks"


def _staff_course(user: User, course_id: int) -> None:
    require_course(user, course_id, staff_to=MANAGING)


def _webhook(user: User, webhook_id: int) -> Webhook:
    webhook = db.session.get(Webhook, webhook_id)
    if webhook is None or not is_enrolled(user, webhook.course_id):  # not a course of theirs: say no more
        raise NotYours(f"There is no webhook {webhook_id} in your courses.")
    require_staff(user, webhook.course_id, MANAGING)
    return webhook


@api.operation(
    "GET", "/courses/<int:course_id>/webhooks", summary="List a course's webhooks", scope="admin",
    query=PageQuery, response=WebhookPage, headers=("Link",),
)  # fmt: skip
def list_webhooks(user: User, course_id: int, query: PageQuery) -> WebhookPage:
    """The course's endpoints (their secrets are never shown again)."""
    _staff_course(user, course_id)
    hooks = services.course_webhooks(course_id)
    page = hooks[query.offset : query.offset + query.per_page]
    return WebhookPage(items=[WebhookOut(**_describe(h)) for h in page], **paging(query, len(hooks)))


@api.operation(
    "POST", "/courses/<int:course_id>/webhooks", summary="Register a webhook", scope="admin", body=WebhookIn,
    response=WebhookCreated, status=201, headers=("Location",),
)  # fmt: skip
def create_webhook(user: User, course_id: int, body: WebhookIn) -> Reply:
    """Register an endpoint: every scored submission of the course is POSTed to it as JSON, signed
    with the secret returned here (once). Failed deliveries are retried with back-off."""
    _staff_course(user, course_id)
    try:
        webhook, secret = services.register(course_id, body.url, user, list(body.events))
    except services.WebhookRefused as refused:
        raise ApiProblem(
            refused.status,
            "Unprocessable Content",
            refused.message,
            errors=[{"parameter": "url", "message": refused.message}],
        ) from None
    created = WebhookCreated(**_describe(webhook), secret=secret)
    return Reply(created, headers={"Location": url_for("webhooks_api.get_webhook", webhook_id=webhook.id)})


@api.operation(
    "GET", "/webhooks/<int:webhook_id>", summary="Get a webhook", scope="admin", response=WebhookOut
)
def get_webhook(user: User, webhook_id: int) -> WebhookOut:
    """One endpoint of a course you teach."""
    return WebhookOut(**_describe(_webhook(user, webhook_id)))


@api.operation(
    "DELETE", "/webhooks/<int:webhook_id>", summary="Deactivate a webhook", scope="admin", response=WebhookOut
)
def deactivate_webhook(user: User, webhook_id: int) -> WebhookOut:
    """Stop sending to the endpoint; its deliveries stay listed, pending ones are not sent."""
    webhook = _webhook(user, webhook_id)
    services.deactivate(webhook)
    return WebhookOut(**_describe(webhook))


@api.operation(
    "GET", "/webhooks/<int:webhook_id>/deliveries", summary="List a webhook's deliveries", scope="admin",
    query=PageQuery, response=DeliveryPage, headers=("Link",),
)  # fmt: skip
def list_deliveries(user: User, webhook_id: int, query: PageQuery) -> DeliveryPage:
    """Newest first: each event with its state (pending, delivered, failed), attempts and the last error."""
    webhook = _webhook(user, webhook_id)
    rows, total = services.deliveries(webhook.id, query.offset, query.per_page)
    return DeliveryPage(items=[delivery_of(d) for d in rows], **paging(query, total))


def delivery_of(d: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=d.id, event=d.event, event_id=d.event_id, submission_id=d.submission_id, state=d.state,  # type: ignore[arg-type]
        attempts=d.attempts, response_status=d.response_status, last_error=d.last_error,
        next_attempt_at=d.next_attempt_at, created_at=d.created_at, delivered_at=d.delivered_at, payload=d.payload,
    )  # fmt: skip
