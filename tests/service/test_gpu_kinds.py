"""An assignment that asks for a kind of GPU is graded on that kind's queue (gpu-<kind>), and that
queue shows in /metrics while it has work: the real PostgreSQL database and Redis broker throughout."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import redis
from kombu import Connection
from support.assignments import copy_paraboloid
from support.databases import REDIS_URL
from support.metrics import METRICS_TOKEN, scrape, value
from support.uploads import submit

from grader.app import create_app
from grader.assignments.models import Assignment
from grader.assignments.services import publish
from grader.courses.models import Course
from grader.engine.runner.grade import GradeReport
from grader.engine.verdicts import Verdict
from grader.extensions import db
from grader.ops.queues import QUEUES, queues_in_use, queues_in_use_at, read_queue_depths
from grader.workers import grading

KIND_QUEUE = "gpu-a100"


@pytest.fixture
def a100_assignment(course: Course, tmp_path: Path) -> Assignment:
    folder = copy_paraboloid(
        tmp_path, ("max_parameters = 100000", 'max_parameters = 100000\ndevice = "gpu"\ngpu_kind = "a100"')
    )
    assignment = publish(course, str(folder))
    assert assignment.current.spec().budget.gpu_kind == "a100"
    return assignment


def test_a_submission_for_a_kind_of_gpu_goes_to_that_kinds_queue(client, a100_assignment, student_token):
    # Messages go to Redis (the test broker): read the queue lists themselves.
    broker = redis.Redis.from_url(REDIS_URL)
    before = broker.llen(KIND_QUEUE), broker.llen("gpu"), broker.llen("cpu")
    submission = submit(client, a100_assignment, student_token)
    assert submission.queue == KIND_QUEUE
    assert (broker.llen(KIND_QUEUE), broker.llen("gpu"), broker.llen("cpu")) == (
        before[0] + 1,
        before[1],
        before[2],
    )


def test_metrics_show_a_kinds_queue_once_it_has_had_work(client, metrics_on, a100_assignment, student_token):
    label = (("queue", KIND_QUEUE), ("transport", "redis"))
    submission = submit(client, a100_assignment, student_token)
    assert KIND_QUEUE in queues_in_use(db.session)
    samples = scrape(client)
    broker = redis.Redis.from_url(REDIS_URL)
    assert value(samples, "grader_queue_messages", queue=KIND_QUEUE, transport="redis") == broker.llen(
        KIND_QUEUE
    )
    assert value(samples, "grader_queue_messages", queue=KIND_QUEUE, transport="redis") >= 1
    assert ("grader_queue_unacked", label) in samples
    for queue in QUEUES:  # the fixed queues are still all there
        assert ("grader_queue_messages", (("queue", queue), ("transport", "redis"))) in samples

    # Graded (failed here) and its message drained: nothing of that kind waits or runs, and its series
    # stays, at 0 (an alert or a dashboard panel keeps it).
    attempt = grading.claim(submission.id, "w1")
    report = GradeReport("paraboloid", Verdict.RUNTIME_ERROR, "boom", "mse", None, None, 100.0, False)
    assert attempt is not None and grading.finish(submission.id, attempt, report)
    broker.delete(KIND_QUEUE)
    assert KIND_QUEUE in queues_in_use(db.session)
    assert value(scrape(client), "grader_queue_messages", queue=KIND_QUEUE, transport="redis") == 0


def test_the_embedded_broker_reads_the_extra_queues_too(tmp_path: Path):
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    with Connection(url) as connection:
        queue = connection.SimpleQueue("gpu-t4")
        for n in range(2):
            queue.put({"n": n})
        queue.close()
    depths = read_queue_depths(url, extra=["gpu-t4", "cpu"])
    assert depths.waiting == {"cpu": 0, "gpu": 0, "maintenance": 0, "outbound": 0, "gpu-t4": 2}


def _free_port() -> int:
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_without_the_database_the_fixed_queues_are_reported(tmp_path: Path):
    unreachable = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/grader"
    assert queues_in_use_at(unreachable, 1.0) == ()
    assert queues_in_use_at(f"sqlite:///{tmp_path / 'none.sqlite3'}", 1.0) == ()
    assert not (tmp_path / "none.sqlite3").exists()  # not created by asking

    app = create_app(
        {
            "GRADER_ENV": "test",
            "GRADER_DATABASE_URL": unreachable,
            "GRADER_REDIS_URL": REDIS_URL,
            "GRADER_STORAGE_DIR": str(tmp_path / "storage"),
            "GRADER_METRICS_TOKEN": METRICS_TOKEN,
        }
    )
    samples = scrape(app.test_client())
    assert value(samples, "grader_metrics_source_up", source="database") == 0
    assert value(samples, "grader_metrics_source_up", source="broker") == 1
    reported = {dict(labels)["queue"] for name, labels in samples if name == "grader_queue_messages"}
    assert reported == set(QUEUES)
