"""/metrics: off unless a token is configured, then only with it; every value read from the real
PostgreSQL database and Redis broker at scrape time (and from the embedded broker's tables)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from kombu import Connection
from support.metrics import METRICS_TOKEN, scrape, value
from support.uploads import submit

from grader.config import ConfigError, ServiceConfig
from grader.engine.runner.grade import GradeReport
from grader.engine.verdicts import Verdict
from grader.extensions import db
from grader.ops.queues import read_queue_depths
from grader.webhooks.models import Webhook, WebhookDelivery
from grader.workers import grading


def test_metrics_are_off_without_a_token(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 404


def test_metrics_need_the_token(client, metrics_on):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": METRICS_TOKEN}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert b"grader_" not in response.data


def test_metrics_follow_uploads_runs_results_and_deliveries(
    client, metrics_on, paraboloid, student_token, course
):
    before = scrape(client)
    assert value(before, "grader_metrics_source_up", source="database") == 1
    assert value(before, "grader_metrics_source_up", source="broker") == 1

    first, second = submit(client, paraboloid, student_token), submit(client, paraboloid, student_token)
    assert grading.claim(first.id, "w1") == 1  # running, lease held
    attempt = grading.claim(second.id, "w2")
    report = GradeReport("paraboloid", Verdict.RUNTIME_ERROR, "boom", "mse", None, None, 100.0, False)
    assert attempt is not None and grading.finish(second.id, attempt, report)
    hook = Webhook(
        course_id=course.id, url="https://example.edu/hook", secret="s", events=["submission.scored"]
    )
    db.session.add(hook)
    db.session.flush()
    db.session.add(
        WebhookDelivery(
            webhook_id=hook.id, event="submission.scored", event_id="e1", payload={}, state="failed"
        )
    )
    db.session.commit()
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("grader_submissions", state="running") == 1
    assert delta("grader_submissions", state="failed") == 1
    assert delta("grader_runs_in_progress") == 1
    assert value(after, "grader_runs_lease_expired") == 0
    # Both uploads were published to Redis; no worker consumes this test database's queues.
    assert delta("grader_queue_messages", queue="cpu", transport="redis") == 2
    # The paraboloid trains on the CPU: none of them went to the gpu queue. Redis is not rolled back
    # with the test's transaction (other tests leave messages there), so the change is what is known.
    assert delta("grader_queue_messages", queue="gpu", transport="redis") == 0
    assert ("grader_queue_unacked", (("queue", "cpu"), ("transport", "redis"))) in after
    assert delta("grader_results", verdict="runtime_error") == 1
    assert delta("grader_recent_verdicts", verdict="runtime_error") == 1
    # The failed one finished seconds after its upload: counted in the window's lowest bucket.
    assert delta("grader_grading_latency_seconds_bucket", le="5.0") == 1
    assert delta("grader_grading_latency_seconds_gcount") == 1
    assert delta("grader_webhook_deliveries", state="failed") == 1
    # No LTI here; the one delivery failed for good (no retry due): the database, rolled back after
    # each test, holds no passback and nothing overdue.
    assert value(after, "grader_lti_passbacks", state="failed") == 0
    assert value(after, "grader_outbound_overdue", kind="webhook") == 0


def test_a_broker_that_is_down_is_reported_and_the_rest_still_served(client, metrics_on, app, monkeypatch):
    config = app.extensions["grader.config"]
    down = dataclasses.replace(config, broker_url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    monkeypatch.setitem(app.extensions, "grader.config", down)
    samples = scrape(client)
    assert value(samples, "grader_metrics_source_up", source="broker") == 0
    assert value(samples, "grader_metrics_source_up", source="database") == 1
    assert not any(name == "grader_queue_messages" for name, _ in samples)
    assert ("grader_submissions", (("state", "queued"),)) in samples


def test_the_embedded_brokers_queue_depths_come_from_its_tables(tmp_path: Path):
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    assert read_queue_depths(url).note  # no file yet: said, and not created
    assert not (tmp_path / "broker.sqlite3").exists()
    with Connection(url) as connection:
        queue = connection.SimpleQueue("cpu")
        for n in range(3):
            queue.put({"n": n})
        queue.get(timeout=5).ack()  # taken and acknowledged: no longer waiting
        queue.close()
    depths = read_queue_depths(url)
    assert depths.transport == "sqlalchemy" and depths.unacked is None
    assert depths.waiting == {"cpu": 2, "gpu": 0, "maintenance": 0, "outbound": 0}


def test_a_short_metrics_token_is_refused(tmp_path: Path):
    with pytest.raises(ConfigError, match="GRADER_METRICS_TOKEN must be at least 24 characters"):
        ServiceConfig.from_env(tmp_path, {"GRADER_METRICS_TOKEN": "guessable"})
    assert ServiceConfig.from_env(tmp_path, {}).metrics_token is None
