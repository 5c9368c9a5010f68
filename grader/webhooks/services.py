"""Webhooks: staff register an endpoint for their course; each scored submission is POSTed to it, signed.

A result's event is recorded as one ``WebhookDelivery`` row per active endpoint in the same commit,
and only then is a delivery task queued (thin, on the outbound queue). A delivery that fails
(no 2xx, a timeout, a refused connection) is retried with exponential back-off by the periodic
sweep, up to MAX_ATTEMPTS, then marked failed for staff to see. No ETA or countdown tasks: the
rows are the schedule. Each attempt is claimed with a conditional update, so the task and a sweep
never send the same attempt twice.

Signature: ``X-Grader-Signature: sha256=<hex HMAC-SHA256 of "<X-Grader-Timestamp>.<body>">`` with
the endpoint's secret (docs/webhooks.md shows a receiver checking it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from grader.accounts.models import User
from grader.domain_events import AfterCommit, GradeCommitted
from grader.extensions import db, utcnow
from grader.submissions.models import Submission
from grader.workers.curves import json_safe

from . import sending
from .addresses import AddressRefused, check_public
from .models import Webhook, WebhookDelivery

EVENTS = ("submission.scored", "regrade_request.answered")
MAX_ATTEMPTS = 8
CLAIM = timedelta(seconds=3 * sending.TIMEOUT_SECONDS)  # an attempt's hold on its row while it is being sent
MAX_BACKOFF = timedelta(hours=1)
SWEEP_BATCH = 50
URL_MAX = 500  # the column's width


@dataclass
class WebhookRefused(Exception):
    """Staff asked for something that cannot be done; the message says why and what to do."""

    message: str
    status: int = 422


def check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused(
            f"{url[:80]!r} is not an http:// or https:// URL: give the full address, like https://lms.example.edu/hooks/grader."
        )
    if len(url) > URL_MAX:
        raise WebhookRefused(f"The URL may be at most {URL_MAX} characters; it has {len(url)}.")
    if parts.username or parts.password:
        raise WebhookRefused(
            "Put no user name or password in the URL: the signature authenticates each delivery."
        )
    if not current_app.extensions["grader.config"].webhook_allow_private:
        try:
            check_public(parts.hostname, parts.port)
        except AddressRefused as refused:
            raise WebhookRefused(str(refused)) from None
    return url


def register(
    course_id: int, url: str, created_by: User, events: list[str] | None = None
) -> tuple[Webhook, str]:
    """Register an endpoint for the course and commit; returns it and its secret (shown only this once)."""
    wanted = list(dict.fromkeys(events or EVENTS))
    unknown = [e for e in wanted if e not in EVENTS]
    if unknown:
        raise WebhookRefused(f"Unknown event {unknown[0]!r}: the events are {', '.join(EVENTS)}.")
    secret = "whsec_" + secrets.token_hex(32)
    webhook = Webhook(
        course_id=course_id, url=check_url(url), secret=secret, events=wanted, created_by_id=created_by.id
    )
    db.session.add(webhook)
    db.session.commit()
    return webhook, secret


def deactivate(webhook: Webhook) -> None:
    """Stop sending to the endpoint (its deliveries stay listed; pending ones fail at their next attempt)."""
    webhook.active = False
    db.session.commit()


def course_webhooks(course_id: int) -> list[Webhook]:
    return list(
        db.session.scalars(select(Webhook).where(Webhook.course_id == course_id).order_by(Webhook.id))
    )


def deliveries(webhook_id: int, offset: int = 0, limit: int = 20) -> tuple[list[WebhookDelivery], int]:
    """One page of the endpoint's deliveries, newest first, and how many there are."""
    query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = db.session.scalars(query.order_by(WebhookDelivery.id.desc()).offset(offset).limit(limit))
    return list(page), int(total)


def when(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds") + "Z"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Grader-Signature value: HMAC-SHA256 over "<timestamp>.<body>"."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def result_url(submission_id: int) -> str:
    base = current_app.extensions["grader.config"].public_url or ""
    return f"{base}/submissions/{submission_id}/result"


def scored_payload(submission: Submission, event_id: str) -> dict[str, Any]:
    result = submission.result
    assert result is not None
    assignment = submission.assignment_version.assignment
    adjusted = result.adjustment if result.adjustment is not None and result.adjustment.active else None

    payload = {
        "event_id": event_id,
        "event": "submission.scored",
        "created_at": when(utcnow()),
        "submission": {
            "id": submission.id, "state": submission.state.value, "late": submission.late,
            "submitted_at": when(submission.created_at), "url": result_url(submission.id),
        },
        "student": {"id": submission.user.id, "email": submission.user.email, "name": submission.user.name},
        "assignment": {"id": assignment.id, "slug": assignment.slug, "title": assignment.title, "version": submission.assignment_version.number},
        "course": {"id": assignment.course_id, "code": assignment.course.code},
        "result": {
            "score": result.score, "max_score": result.max_score, "passed": result.passed, "verdict": result.verdict,
            "metric": result.metric_name, "metric_value": result.metric_value, "graded_at": when(result.created_at),
            "score_set_by_hand": adjusted is not None,
            "machine_score": adjusted.machine_score if adjusted is not None else result.score,
        },
    }  # fmt: skip
    # A diverged run's NaN metric becomes null: JSON has no NaN, and neither have JSON columns.
    safe: dict[str, Any] = json_safe(payload)
    return safe


def record_scored(submission_id: int) -> list[int]:
    """Record the submission's "submission.scored" event for each active endpoint of its course; commit.

    The event id is derived from the result row, so the same result never makes two events and a
    regrade (a new result) makes a new one. Returns the new deliveries' ids, to queue after the commit.
    """
    try:
        ids = stage_scored(submission_id)
        db.session.commit()
    except IntegrityError:  # told twice of the same result: the first recording stands
        db.session.rollback()
        return []
    return ids


def stage_scored(submission_id: int) -> list[int]:
    """``record_scored`` in the caller's transaction (flushed, not committed): the worker records the
    deliveries with the result itself, so that no crash between two commits can lose them."""
    submission = db.session.get(Submission, submission_id)
    if submission is None or submission.result is None or submission.is_reference:
        return []
    result = submission.result
    course_id = submission.assignment_version.assignment.course_id
    if not subscribed(course_id, "submission.scored"):
        return []
    seed = f"{submission.id}:{result.id}:{result.created_at.isoformat()}"
    if result.adjustment is not None:  # each score set by hand, or given back, is an event of its own
        adjustment = result.adjustment
        seed += f":{adjustment.created_at.isoformat()}:{adjustment.removed_at}"
    event_id = "evt_" + uuid.uuid5(uuid.NAMESPACE_URL, f"grader:{seed}").hex
    return stage_event(course_id, "submission.scored", submission.id, scored_payload(submission, event_id))


def subscribed(course_id: int, event: str) -> list[Webhook]:
    return [h for h in course_webhooks(course_id) if h.active and event in (h.events or [])]


def stage_event(course_id: int, event: str, submission_id: int, payload: dict[str, Any]) -> list[int]:
    """One pending delivery of the event per subscribed endpoint, in the caller's transaction; their
    ids. ``payload["event_id"]`` is the event's (a repeat of it is refused by the unique key)."""
    rows = [
        WebhookDelivery(
            webhook_id=h.id, event=event, event_id=payload["event_id"], submission_id=submission_id,
            payload=payload, state="pending", next_attempt_at=utcnow(),
        )
        for h in subscribed(course_id, event)
    ]  # fmt: skip
    db.session.add_all(rows)
    db.session.flush()
    return [row.id for row in rows]


def queue(delivery_ids: list[int]) -> None:
    """Queue the delivery tasks (after the commit); the sweep sends whatever the broker did not take.

    No queue is named here: the task's route (celery_app) sends it to the outbound worker, the
    only one with a route out.
    """
    celery = current_app.extensions["celery"]
    for delivery_id in delivery_ids:
        try:
            celery.send_task("grader.deliver_webhook", args=[delivery_id])
        except Exception:  # noqa: BLE001 - the row is pending: the sweep delivers it
            current_app.logger.warning(
                "could not queue webhook delivery %s; the sweep will send it", delivery_id
            )
            return


def on_grade(event: GradeCommitted) -> AfterCommit | None:
    """A grade's "submission.scored" deliveries, recorded in its transaction and queued after its commit."""
    try:
        with db.session.begin_nested():
            deliveries = stage_scored(event.submission_id)
    except IntegrityError:  # told twice of the same result: the first recording stands
        return None
    return (lambda: queue(deliveries)) if deliveries else None


def backoff(attempts: int) -> timedelta:
    """How long after a failed attempt the next one is due: doubling from the configured start, capped."""
    first = current_app.extensions["grader.config"].webhook_backoff_seconds
    return min(timedelta(seconds=first * 2 ** (attempts - 1)), MAX_BACKOFF)


def _post_public(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
    """``sending.post`` to addresses of the URL's host known to be public (checked again here: a
    name that was public at registration may not be any more), and connected to those very ones."""
    addresses = None
    if not current_app.extensions["grader.config"].webhook_allow_private:
        parts = urlsplit(url)
        try:
            addresses = check_public(parts.hostname or "", parts.port)
        except AddressRefused as refused:
            return None, f"not sent: {refused}"
    return sending.post(url, body, headers, addresses)


def deliver(delivery_id: int) -> str:
    """Send one attempt of a pending delivery that is due; record how it went. Returns what happened."""
    now = utcnow()
    claimed = db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.state == "pending",
            WebhookDelivery.next_attempt_at.is_(None) | (WebhookDelivery.next_attempt_at <= now),
        )
        .values(attempts=WebhookDelivery.attempts + 1, next_attempt_at=now + CLAIM)
        .returning(WebhookDelivery.attempts)
    ).first()
    if claimed is None:
        db.session.rollback()
        return "not due"
    attempt = int(claimed[0])
    db.session.commit()
    delivery = db.session.get(WebhookDelivery, delivery_id)
    assert delivery is not None
    db.session.refresh(delivery)
    webhook = delivery.webhook
    url, secret, active = webhook.url, webhook.secret, webhook.active
    event, event_id = delivery.event, delivery.event_id
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    db.session.commit()  # no transaction stays open while the endpoint answers
    status: int | None = None
    error: str | None = "the webhook was deactivated before this delivery was sent"
    if active:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "grader-webhooks/1",
            "X-Grader-Event": event,
            "X-Grader-Delivery": event_id,
            "X-Grader-Timestamp": timestamp,
            "X-Grader-Signature": sign(secret, timestamp, body),
        }
        status, error = _post_public(url, body, headers)
    ok = status is not None and 200 <= status < 300
    values: dict[str, Any] = {"response_status": status, "last_error": None if ok else error}
    outcome = "retry"
    if ok:
        outcome = "delivered"
        values |= {"state": outcome, "delivered_at": utcnow(), "next_attempt_at": None}
    elif attempt >= MAX_ATTEMPTS or not active:
        outcome = "failed"
        values |= {"state": outcome, "next_attempt_at": None}
    else:
        values |= {"next_attempt_at": utcnow() + backoff(attempt)}
    db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.attempts == attempt)
        .values(**values)
    )
    db.session.commit()
    return outcome


def sweep(limit: int = SWEEP_BATCH) -> dict[str, int]:
    """Send the pending deliveries that are due, oldest first (the beat's periodic task).

    An endpoint that fails once is skipped for the rest of the sweep: its other deliveries would
    only wait for the same timeout.
    """
    due = db.session.execute(
        select(WebhookDelivery.id, WebhookDelivery.webhook_id)
        .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= utcnow())
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    ).all()
    db.session.commit()
    counts = {"delivered": 0, "retry": 0, "failed": 0, "not due": 0}
    broken: set[int] = set()
    for delivery_id, webhook_id in due:
        if webhook_id in broken:
            continue
        outcome = deliver(delivery_id)
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome in ("retry", "failed"):
            broken.add(webhook_id)
    return counts
