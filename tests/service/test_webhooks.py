"""Webhooks against a real HTTP receiver on 127.0.0.1: signed, retried with back-off, delivered once,
a regrade a new event; failures run out into "failed" where staff see them."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import func, select, update
from support.databases import REDIS_URL
from support.pages import log_in
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from grader.accounts.models import Role
from grader.accounts.services import issue_token
from grader.celery_app import OUTBOUND_QUEUE
from grader.domain_events import ResultCommitted, announce
from grader.extensions import db, utcnow
from grader.submissions import services as submissions
from grader.submissions.models import Submission
from grader.webhooks import services
from grader.webhooks.addresses import AddressRefused, check_public
from grader.webhooks.models import Webhook, WebhookDelivery

from .apidata import bearer, grade, new_user, upload


class Receiver:
    """An endpoint that answers 500 to its first ``failures`` requests, then 204; it keeps every request."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/grader"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @Request.application  # type: ignore[arg-type]
    def wsgi(self, request: Request) -> Response:
        self.requests.append((dict(request.headers), request.get_data()))
        if len(self.requests) <= self.failures:
            return Response("not yet", status=500)
        return Response(status=204)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(failures=1)
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture
def quick_retries(app, monkeypatch):  # type: ignore[no-untyped-def]
    """Back-off from 1 s (30 s in production), so a retry comes due within the test."""
    config = dataclasses.replace(app.extensions["grader.config"], webhook_backoff_seconds=1)
    monkeypatch.setitem(app.extensions, "grader.config", config)


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance: float = 300) -> bool:
    """What a receiver does (docs/webhooks.md): HMAC-SHA256 of "<timestamp>.<body>", compared in
    constant time, and a timestamp recent enough that a replay is refused."""
    timestamp = headers["X-Grader-Timestamp"]
    expected = (
        "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    )
    fresh = abs(time.time() - int(timestamp)) <= tolerance
    return fresh and hmac.compare_digest(expected, headers["X-Grader-Signature"])


def _deliveries(submission_id: int) -> list[WebhookDelivery]:
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.submission_id == submission_id)
            .order_by(WebhookDelivery.id)
        )
    )


def test_a_scored_submission_is_signed_retried_and_delivered_once(
    client, course, paraboloid, student, student_token, receiver, quick_retries
):
    instructor = new_user(course, Role.INSTRUCTOR, "Ines")
    admin_token = issue_token(instructor, "hooks", ["admin"])
    created = client.post(
        f"/api/v1/courses/{course.id}/webhooks", json={"url": receiver.url}, headers=bearer(admin_token)
    )
    assert created.status_code == 201, created.get_json()
    secret = created.get_json()["secret"]
    assert secret.startswith("whsec_") and created.headers["Location"].endswith(
        f"/webhooks/{created.get_json()['id']}"
    )
    listed = client.get(f"/api/v1/courses/{course.id}/webhooks", headers=bearer(admin_token)).get_json()
    assert listed["total"] == 1 and "secret" not in listed["items"][0]  # shown once only

    submission_id = upload(client, paraboloid.id, student_token)["id"]
    grade(submission_id, score=87.5)
    broker = redis.Redis.from_url(REDIS_URL)
    queued = {name: broker.llen(name) for name in ("outbound", "maintenance")}
    announce(ResultCommitted(submission_id, None))  # what the worker stages with the result
    # Its task went to the outbound worker (the one with a route out), not beside the reconciler.
    assert broker.llen("outbound") == queued["outbound"] + 1
    assert broker.llen("maintenance") == queued["maintenance"]
    (delivery,) = _deliveries(submission_id)
    assert delivery.state == "pending" and delivery.attempts == 0
    payload = delivery.payload
    assert payload["event"] == "submission.scored" and payload["event_id"] == delivery.event_id
    assert payload["student"] == {"id": student.id, "email": student.email, "name": student.name}
    assert payload["assignment"]["slug"] == "paraboloid" and payload["assignment"]["id"] == paraboloid.id
    assert payload["result"]["score"] == 87.5 and payload["result"]["max_score"] == 100.0
    assert payload["result"]["verdict"] == "scored" and payload["result"]["metric"] == "mse"
    assert payload["submission"]["url"].endswith(f"/submissions/{submission_id}/result")
    assert payload["submission"]["submitted_at"].endswith("Z") and payload["result"]["graded_at"].endswith(
        "Z"
    )

    # The task's work: the receiver fails the first time, the failure is recorded with its next attempt.
    assert services.deliver(delivery.id) == "retry"
    db.session.refresh(delivery)
    assert (delivery.state, delivery.attempts, delivery.response_status) == ("pending", 1, 500)
    assert "HTTP 500" in delivery.last_error and delivery.next_attempt_at > utcnow()
    assert services.sweep()["delivered"] == 0 and len(receiver.requests) == 1  # not due yet

    time.sleep(1.1)
    assert services.sweep()["delivered"] == 1
    db.session.refresh(delivery)
    assert (delivery.state, delivery.attempts, delivery.response_status) == ("delivered", 2, 204)
    assert delivery.delivered_at is not None and delivery.last_error is None
    services.sweep()
    assert services.deliver(delivery.id) == "not due"  # delivered: never sent again
    assert len(receiver.requests) == 2

    for headers, body in receiver.requests:
        assert verify(secret, headers, body)
        assert not verify("whsec_wrong", headers, body)
        assert headers["X-Grader-Event"] == "submission.scored"
        assert (
            headers["X-Grader-Delivery"] == delivery.event_id
            and headers["Content-Type"] == "application/json"
        )
        assert json.loads(body) == payload
    assert not verify(secret, receiver.requests[0][0], receiver.requests[0][1] + b" ")  # a changed body fails

    # Told twice of the same result, nothing new is recorded; a regrade is a new, different event.
    announce(ResultCommitted(submission_id, None))
    assert len(_deliveries(submission_id)) == 1
    submissions.regrade(db.session.get(Submission, submission_id), instructor)
    grade(submission_id, score=93.0)
    announce(ResultCommitted(submission_id, None))
    first, second = _deliveries(submission_id)
    assert second.event_id != first.event_id and second.payload["result"]["score"] == 93.0
    assert services.deliver(second.id) == "delivered"
    assert len(receiver.requests) == 3 and verify(secret, *receiver.requests[2])
    assert receiver.requests[2][0]["X-Grader-Delivery"] == second.event_id

    page = client.get(
        f"/api/v1/webhooks/{created.get_json()['id']}/deliveries", headers=bearer(admin_token)
    ).get_json()
    assert [d["state"] for d in page["items"]] == ["delivered", "delivered"] and page["total"] == 2


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_dead_endpoint_is_retried_up_to_the_cap_then_failed_and_shown(
    client, course, paraboloid, student_token, quick_retries
):
    instructor = new_user(course, Role.INSTRUCTOR, "Ines")
    hook, _ = services.register(course.id, f"http://127.0.0.1:{_closed_port()}/nobody", instructor)
    submission_id = upload(client, paraboloid.id, student_token)["id"]
    grade(submission_id)
    (delivery_id,) = services.record_scored(submission_id)
    delays = []
    for attempt in range(1, services.MAX_ATTEMPTS + 1):
        assert services.deliver(delivery_id) == ("failed" if attempt == services.MAX_ATTEMPTS else "retry")
        delivery = db.session.get(WebhookDelivery, delivery_id)
        db.session.refresh(delivery)
        assert delivery.attempts == attempt and "could not connect" in delivery.last_error
        if delivery.next_attempt_at is not None:
            delays.append(round((delivery.next_attempt_at - utcnow()).total_seconds()))
            db.session.execute(  # skip the wait
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id)
                .values(next_attempt_at=utcnow() - timedelta(seconds=1))
            )
            db.session.commit()
    assert delays == [1, 2, 4, 8, 16, 32, 64]  # doubling from the configured first delay
    assert delivery.state == "failed" and delivery.next_attempt_at is None
    assert services.deliver(delivery_id) == "not due"

    token = log_in(client, instructor)
    page = client.get(f"/courses/{course.id}/webhooks").get_data(as_text=True)
    assert hook.url in page and '<strong class="bad">failed</strong>' in page and "could not connect" in page
    course_page = client.get(f"/courses/{course.id}").get_data(as_text=True)
    assert f'action="/courses/{course.id}/webhooks"' in course_page

    # The course page's form: the secret is shown on the answer, once; a bad URL says what to fix.
    bad = client.post(f"/courses/{course.id}/webhooks", data={"csrf_token": token, "url": "ftp://x"})
    assert bad.status_code == 400 and "http:// or https://" in bad.get_data(as_text=True)
    made = client.post(
        f"/courses/{course.id}/webhooks", data={"csrf_token": token, "url": "https://lms.example.edu/h"}
    )
    assert made.status_code == 201 and "whsec_" in made.get_data(as_text=True)
    assert "whsec_" not in client.get(f"/courses/{course.id}/webhooks").get_data(as_text=True)
    other = new_user(course)
    client.post("/logout", data={"csrf_token": token})
    log_in(client, other)
    assert client.get(f"/courses/{course.id}/webhooks").status_code == 404  # students: not theirs to see


def test_deliveries_are_thin_tasks_on_the_outbound_queue_swept_by_beat(app):
    celery = app.extensions["celery"]
    routes: dict[str, Any] = celery.conf.task_routes
    assert routes["grader.deliver_webhook"]["queue"] == OUTBOUND_QUEUE
    assert routes["grader.webhooks_sweep"]["queue"] == OUTBOUND_QUEUE
    assert routes["grader.lti.*"]["queue"] == OUTBOUND_QUEUE
    assert celery.conf.beat_schedule["webhooks"]["task"] == "grader.webhooks_sweep"
    assert {"grader.deliver_webhook", "grader.webhooks_sweep"} <= set(celery.tasks)


def test_webhooks_into_the_grader_s_own_network_are_refused(app, client, course, paraboloid, student_token):
    config = dataclasses.replace(app.extensions["grader.config"], webhook_allow_private=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(app.extensions, "grader.config", config)
        admin_token = issue_token(new_user(course, Role.INSTRUCTOR, "Sam"), "hooks", ["admin"])
        for url in (
            "http://127.0.0.1:6379/", "http://localhost:5000/api", "http://169.254.169.254/latest/meta-data",
            "http://10.1.2.3/hook", "http://[::1]/hook", "http://[::ffff:127.0.0.1]/hook",
            "https://no-such-host.invalid/hook",
        ):  # fmt: skip
            refused = client.post(
                f"/api/v1/courses/{course.id}/webhooks", json={"url": url}, headers=bearer(admin_token)
            )
            assert refused.status_code in (400, 422), (url, refused.status_code)
            detail = refused.get_json()["detail"]
            # IPv6 literals are already outside the API's URL pattern; the rest reach the address check.
            assert any(why in detail for why in ("public addresses only", "does not resolve", "pattern")), (
                url,
                detail,
            )
        assert db.session.scalar(select(func.count()).select_from(Webhook)) == 0
        # One registered where private addresses were allowed is not sent once they are not.
        hook = Webhook(
            course_id=course.id, url="http://127.0.0.1:9/hook", secret="whsec_x", events=["submission.scored"]
        )
        db.session.add(hook)
        db.session.commit()
        submission_id = upload(client, paraboloid.id, student_token)["id"]
        grade(submission_id, score=50.0)
        announce(ResultCommitted(submission_id, None))
        (delivery,) = _deliveries(submission_id)
        assert services.deliver(delivery.id) == "retry"
        db.session.refresh(delivery)
        assert delivery.last_error.startswith("not sent:") and "127.0.0.1" in delivery.last_error


@pytest.mark.parametrize(
    "host", ["::1", "::ffff:127.0.0.1", "fe80::1", "192.168.1.10", "100.64.0.1", "0.0.0.0"]
)
def test_addresses_inside_are_not_public(host):
    with pytest.raises(AddressRefused, match="public addresses only"):
        check_public(host, 443)


def test_a_delivery_connects_to_the_address_that_was_checked_not_to_what_dns_says_later(receiver):
    """DNS rebinding: the name is resolved once; the POST goes to that address with the name as Host.
    Here the name does not resolve at all (.invalid): only the pinned address can have reached the
    receiver, with the path, the query and the headers intact."""
    from grader.webhooks import sending

    port = receiver.server.server_port
    url = f"http://rebound.invalid:{port}/hooks/grader?course=1"
    status, error = sending.post(url, b"{}", {"X-Grader-Event": "submission.scored"}, ["127.0.0.1"])
    assert (status, error) == (500, "HTTP 500: not yet")  # the receiver's first answer
    status, error = sending.post(url, b"{}", {"X-Grader-Event": "submission.scored"}, ["127.0.0.1"])
    assert (status, error) == (204, None)
    headers, body = receiver.requests[-1]
    assert headers["Host"] == f"rebound.invalid:{port}" and body == b"{}"
    assert headers["X-Grader-Event"] == "submission.scored"
    # The checked addresses are tried in turn: one with nothing listening (127.0.0.3) is passed over.
    status, _ = sending.post(url, b"{}", {}, ["127.0.0.3", "127.0.0.1"])
    assert status == 204 and len(receiver.requests) == 3
    # An IPv6 literal without a port keeps its scheme's port (not its last group taken for one).
    assert sending._connection("https://[2001:db8::1]/hooks").port == 443
    assert sending._connection("http://[2001:db8::1]/hooks").host == "2001:db8::1"
    assert sending._connection("http://[2001:db8::1]:8080/").port == 8080
    # Without a pinned address the name is resolved as usual: and this one does not resolve.
    status, error = sending.post(url, b"{}", {}, None)
    assert status is None and error is not None and error.startswith("could not connect")
    assert len(receiver.requests) == 3


def test_a_public_address_passes_and_is_the_one_connected_to():
    # A literal: no DNS needed (the machine may have none).
    assert check_public("93.184.215.14", 443) == ["93.184.215.14"]
