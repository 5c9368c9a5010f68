"""Where students and instructors read the place in the queue: the status page and its JSON (which
the page's script redraws from: tests/test_status_script.py), the REST API and its OpenAPI document,
and the course page. The place itself is tested in test_queue_place.py; `grader submit`'s line in
tests/test_queue_words.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from openapi_spec_validator import validate
from support.pages import log_in, page_text
from support.queueing import SCORED, new_student, upload

from grader.accounts.models import Role
from grader.accounts.services import create_user
from grader.assignments.models import Assignment
from grader.assignments.services import publish
from grader.courses.models import Course, Enrollment
from grader.extensions import db
from grader.submissions import notify
from grader.web import events, live_hub, queries
from grader.workers import grading, queue_estimate

# paraboloid with no run measured yet: three seeds of up to 120 s training and 30 s evaluation each
# (450 s), one worker slot assumed.
SECOND = "2nd in the cpu queue · grading starts in about 8 minutes, results in about 15 minutes."
PLACE_FIELDS = {
    "queue", "position", "ahead", "length", "slots", "run_seconds", "run_seconds_from",
    "starts_in_seconds", "ends_in_seconds", "summary",
}  # fmt: skip


@pytest.fixture
def assignment(course: Course) -> Assignment:
    return publish(course, "paraboloid", daily_limit=100)


@pytest.fixture(autouse=True)
def fresh_snapshots(session: None) -> Iterator[None]:
    # Each test has its own rolled-back queue: a snapshot kept from another test would be of another queue.
    forget_the_queues()
    yield
    forget_the_queues()


def forget_the_queues() -> None:
    queue_estimate.caches().snapshots.clear()
    queue_estimate.caches().run_times.clear()


def test_the_status_page_says_where_it_waits_and_its_json_keeps_it_current(client, course, assignment):
    student = new_student(course, "ada")
    first, second = upload(student, assignment, 2)
    log_in(client, student)
    page = page_text(client.get(f"/submissions/{second}"))
    assert f'<p id="queue-place" aria-live="polite">{SECOND}</p>' in page

    def live() -> dict:  # type: ignore[type-arg]
        forget_the_queues()  # as the page's next read after the queue moved, past the snapshot's life
        return client.get(f"/submissions/{second}/status.json").get_json()["queue"]

    assert set(live()) == PLACE_FIELDS and live()["summary"] == SECOND
    grading.claim(first, "w")
    next_up = "Next in the cpu queue · grading starts in"
    assert live()["summary"] == f"{next_up} about 8 minutes, results in about 15 minutes."
    assert grading.finish(first, 1, SCORED)  # at once: the one run measured took no time at all
    assert live()["summary"] == f"{next_up} under a minute, results in under a minute."
    grading.claim(second, "w")
    running = live()
    assert (running["position"], running["starts_in_seconds"], running["summary"]) == (
        None, None, "Results in under a minute."
    )  # fmt: skip
    assert grading.finish(second, 1, SCORED)
    assert client.get(f"/submissions/{second}/status.json").get_json()["queue"] is None


def test_the_api_gives_the_place_and_documents_every_field(
    client, course, student, student_token, assignment
):
    _, second = upload(student, assignment, 2)
    body = client.get(f"/api/v1/submissions/{second}", headers={"Authorization": f"Bearer {student_token}"})
    place = body.get_json()["queue"]
    assert place == {
        "queue": "cpu", "position": 2, "ahead": 1, "length": 2, "slots": 1, "run_seconds": 450.0,
        "run_seconds_from": "budget", "starts_in_seconds": 450, "ends_in_seconds": 900, "summary": SECOND,
    }  # fmt: skip
    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)
    schemas = document["components"]["schemas"]
    assert "queue" in schemas["SubmissionStatus"]["properties"]
    fields = schemas["QueuePlace"]["properties"]
    assert set(fields) == PLACE_FIELDS
    assert all(field.get("description") for field in fields.values()), fields


def test_instructors_see_each_queue_s_length_and_oldest_wait_on_the_course_page(client, course, assignment):
    upload(new_student(course, "ada"), assignment, 2)
    teacher = create_user("queues@example.edu", "Grace Teacher", Role.INSTRUCTOR, "pw")
    db.session.add(Enrollment(course_id=course.id, user_id=teacher.id, role=Role.INSTRUCTOR))
    db.session.commit()
    log_in(client, teacher)
    page = page_text(client.get(f"/courses/{course.id}"))
    start = page.index('id="grading-queues"')
    table = page[start : page.index("</table>", start)]
    row = '<tr><th scope="row">cpu</th><td>2</td><td>2</td><td>under a minute</td></tr>'
    assert row in table


def test_the_live_stream_follows_the_queue_without_reading_the_row_again(
    app, course, assignment, monkeypatch
):
    # At a deadline every watcher wakes when its queue moves; its new place comes from the queue's
    # shared snapshot, not from one more read of its own row per watcher.
    monkeypatch.setattr(live_hub, "QUEUE_REFRESH_SECONDS", 0.2)
    first, second = new_student(course, "ada"), new_student(course, "alan")
    (ahead,) = upload(first, assignment)
    (mine,) = upload(second, assignment)
    with app.test_request_context():
        stream = events.stream(mine, "cpu")
        assert next(stream).startswith("retry:")
        assert _event(next(stream))["queue"]["position"] == 2
        hub = events.live_hub()
        assert hub is not None
        _until(lambda: hub.live)  # subscribed: the queue's move reaches the stream
        assert grading.claim(ahead, "w1") is not None  # publishes the queue's move
        forget_the_queues()  # the snapshot's time to live has passed
        rows_read: list[str] = []

        def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
            if statement.lstrip().startswith("SELECT submissions.state, submissions.progress"):
                rows_read.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            moved = _event(next(stream))
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
        stream.close()
    assert moved["queue"]["position"] == 1 and moved["state"] == "queued"
    assert moved["queue"]["summary"].startswith("Next in the cpu queue")
    assert rows_read == []


def test_a_stream_opened_before_the_snapshot_knows_its_upload_shows_the_place_within_a_second(
    app, course, assignment
):
    # At a deadline the queue's snapshot is read again for newcomers at most once a second per process;
    # a stream whose upload came just after a read says "no place yet", then reads again that soon
    # (not at its next safety-net read, 15 s later).
    first, second = new_student(course, "ada"), new_student(course, "alan")
    (ahead,) = upload(first, assignment)
    with app.test_request_context():
        assert queries.status_of(ahead)["queue"]["position"] == 1  # type: ignore[index]
        (mine,) = upload(second, assignment)
        stream = events.stream(mine, "cpu")
        assert next(stream).startswith("retry:")
        assert _event(next(stream))["queue"] is None  # the snapshot is too fresh to read again
        hub = events.live_hub()
        assert hub is not None
        _until(lambda: hub.live)  # following: nothing else would wake it for 15 s
        waited = time.monotonic()
        for _ in range(5):  # claims elsewhere move the queue meanwhile: they do not use its soon reads up
            notify.notify_queue("cpu")
        placed = _event(next(stream))
        waited = time.monotonic() - waited
        stream.close()
    assert placed["queue"]["position"] == 2
    assert waited < queue_estimate.MISSING_REFRESH_SECONDS + 1


def _until(condition, seconds: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "not within 5 s"
        time.sleep(0.01)


def _event(chunk: str) -> dict:  # type: ignore[type-arg]
    assert chunk.startswith("data: "), chunk
    return json.loads(chunk[6:])  # type: ignore[no-any-return]
