"""Live status streams at a deadline: many watchers cost greenlets and one Redis subscription.

Each open status page keeps an event stream. Under gunicorn's gevent workers (grader/gunicorn_conf.py,
what ``grader serve`` and docker-compose.yml run) two hundred streams on one process are all
accepted, pages still answer while they are open, the process holds one Redis subscription for all
of them, and one notification reaches every watcher. The process's shared subscription
(grader/web/live_hub.py) wakes a stream at once for its own submission and at most every few seconds
for its queue's moves.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import update
from support.assignments import FIXED_SCRIPT
from support.databases import REDIS_URL, temporary_database

from grader.accounts.models import Role
from grader.accounts.services import create_user
from grader.app import create_app
from grader.assignments.services import publish
from grader.courses.models import Course, Enrollment
from grader.engine.spec import BUILTIN
from grader.extensions import db
from grader.submissions import notify, services
from grader.submissions.models import State, Submission
from grader.web import events, live_hub

ROOT = Path(__file__).resolve().parents[2]
WATCHERS = 200
LIVE_REDIS = "redis://127.0.0.1:6379/8"  # the broker of this module's server: its messages are its own


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _hub_connections(client: redis.Redis, name: str) -> int:
    return sum(1 for entry in client.client_list() if entry.get("name") == name)


@pytest.fixture
def fast_queue_refresh(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(live_hub, "QUEUE_REFRESH_SECONDS", 0.6)
    return 0.6


def _hub(name: str) -> live_hub.Hub:
    return live_hub.Hub(lambda: redis.Redis.from_url(REDIS_URL, client_name=name, socket_timeout=10))


def _subscribed(hub: live_hub.Hub) -> None:
    end = time.monotonic() + 5
    while not hub.live and time.monotonic() < end:
        time.sleep(0.01)
    assert hub.live, "the hub did not subscribe within 5 s"


def test_one_subscription_serves_every_watcher_and_wakes_the_right_ones():
    name = f"hub-{uuid.uuid4().hex[:8]}"
    hub, publisher = _hub(name), redis.Redis.from_url(REDIS_URL)
    try:
        with hub.follow(("grader:submission:1",)) as first, hub.follow(("grader:submission:2",)) as second:
            _subscribed(hub)
            assert _hub_connections(publisher, name) == 1
            publisher.publish("grader:submission:1", b"changed")
            started = time.monotonic()
            assert first.wait(5) is True and time.monotonic() - started < 1
            assert second.wait(0.3) is False  # not its submission
    finally:
        hub.stop()


def test_a_queue_move_wakes_a_watcher_at_most_once_per_refresh(fast_queue_refresh: float):
    hub, publisher = _hub(f"hub-{uuid.uuid4().hex[:8]}"), redis.Redis.from_url(REDIS_URL)
    queue = f"grader:queue:test-{uuid.uuid4().hex[:6]}"
    try:
        with hub.follow(("grader:submission:9",), (queue,)) as watch:
            _subscribed(hub)
            publisher.publish(queue, b"moved")
            assert watch.wait(5) is True  # the first move: read now (no read for a refresh before)
            started = time.monotonic()
            for _ in range(5):  # five claims in quick succession: one read, a refresh later
                publisher.publish(queue, b"moved")
            assert watch.wait(5) is True
            waited = time.monotonic() - started
            assert fast_queue_refresh * 0.8 <= waited < fast_queue_refresh + 1, waited
            assert watch.wait(fast_queue_refresh * 2) is False  # the five coalesced into that read
            publisher.publish("grader:submission:9", b"changed")  # its own change: at once
            started = time.monotonic()
            assert watch.wait(5) is True and time.monotonic() - started < 0.5
    finally:
        hub.stop()


class _CountedEvent(threading.Event):
    def __init__(self) -> None:
        super().__init__()
        self.sets = 0

    def set(self) -> None:
        self.sets += 1
        super().set()


def test_queue_moves_while_a_read_is_pending_do_not_wake_the_stream_again():
    """Every claim moves the queue; a stream already waiting to read its place is not woken for each."""
    watch = live_hub.Watch(("grader:submission:9",), ("grader:queue:q",), hub=None)  # type: ignore[arg-type]
    watch.event = counted = _CountedEvent()
    watch.wake(queue=True)
    assert watch.wait(0) is True and watch.woke_for == "queue"  # the first move: read now
    watch.wake(queue=True)
    assert watch.wait(0) is False  # the next is due a refresh after the last read
    for _ in range(50):  # fifty claims while that read is pending
        watch.wake(queue=True)
    assert counted.sets == 2
    watch.wake(queue=False)  # its own submission changed: at once, whatever is pending
    assert watch.wait(0) is True and watch.woke_for == "change" and counted.sets == 3


def test_without_redis_the_hub_says_so_and_the_streams_poll():
    hub = live_hub.Hub(lambda: redis.Redis(host="127.0.0.1", port=_free_port(), socket_connect_timeout=0.2))
    try:
        with hub.follow(("grader:submission:1",)) as watch:
            time.sleep(0.5)
            assert watch.live is False  # events.py then polls the database every second
    finally:
        hub.stop()


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[tuple[dict[str, str], Flask, int, list[int]]]:
    """A migrated database with WATCHERS students, each with one queued submission."""
    redis.Redis.from_url(LIVE_REDIS).flushdb()
    with temporary_database("grader_live") as url:
        settings = {
            "GRADER_ENV": "test",
            "GRADER_SECRET_KEY": "live-streams-test-secret",
            "GRADER_DATABASE_URL": url,
            "GRADER_REDIS_URL": LIVE_REDIS,
            "GRADER_STORAGE_DIR": str(tmp_path / "storage"),
        }
        app = create_app(settings)
        with app.app_context():
            upgrade()
            course = Course(code=f"LIVE-{uuid.uuid4().hex[:4]}", title="Live")
            db.session.add(course)
            db.session.commit()
            assignment = publish(course, str(BUILTIN / "paraboloid"), daily_limit=10)
            users, submissions, script = [], [], FIXED_SCRIPT.read_bytes()
            for number in range(WATCHERS):
                user = create_user(f"live-{number}@example.edu", f"Student {number}", Role.STUDENT)
                db.session.add(Enrollment(course_id=course.id, user_id=user.id, role=Role.STUDENT))
                users.append(user)
            db.session.commit()
            for user in users:
                submissions.append(services.create_submission(user, assignment, "fixed.py", script).id)
            user_ids, assignment_id = [user.id for user in users], assignment.id
        yield settings, app, assignment_id, list(zip(user_ids, submissions, strict=True))  # type: ignore[misc]
        with app.app_context():
            db.engine.dispose()


def _cookie(app: Flask, user_id: int) -> str:
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    return f"session={serializer.dumps({'user_id': user_id})}"


class Watcher:
    """A browser's EventSource, reduced to a socket: the events it has read so far."""

    def __init__(self, port: int, submission_id: int, cookie: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(
            f"GET /submissions/{submission_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            f"Cookie: {cookie}\r\n\r\n".encode()
        )
        self.received = b""
        self.status = ""

    def read_until(self, marker: bytes, timeout: float) -> bool:
        self.sock.settimeout(timeout)
        end = time.monotonic() + timeout
        while marker not in self.received and time.monotonic() < end:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            self.received += chunk
        self.status = self.received.split(b"\r\n", 1)[0].decode(errors="replace")
        return marker in self.received


@pytest.mark.slow
def test_two_hundred_watchers_on_one_gevent_process_hold_no_thread(seeded, tmp_path):  # type: ignore[no-untyped-def]
    settings, app, assignment_id, pairs = seeded
    port = _free_port()
    env = {**os.environ, **settings}
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:grader.gunicorn_conf", "--workers", "1",
             "--bind", f"127.0.0.1:{port}", "grader.wsgi:app"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    watchers: list[Watcher] = []
    try:
        end = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < end, log.read_text()
                time.sleep(0.1)
        watchers = [Watcher(port, submission, _cookie(app, user)) for user, submission in pairs]
        for watcher in watchers:
            assert watcher.read_until(b'"state":"queued"', 20), (watcher.status, log.read_text()[-2000:])
        assert {watcher.status for watcher in watchers} == {"HTTP/1.1 200 OK"}

        # Pages answer while every stream is open (under 2 x 8 threads the sixteenth stream held them).
        user, submission = pairs[0]
        timings = []
        for path in (f"/assignments/{assignment_id}", f"/submissions/{submission}/status.json") * 5:
            started = time.monotonic()
            page = subprocess.run(
                ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Cookie: {_cookie(app, user)}",
                 f"http://127.0.0.1:{port}{path}"],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            timings.append(time.monotonic() - started)
            assert page.stdout == "200", (path, page.stdout)
        assert max(timings) < 5, timings

        # One subscription for the process, not one per stream.
        monitor = redis.Redis.from_url(LIVE_REDIS)
        own = f"{events.HUB_CLIENT_NAME}-{os.getpid()}"  # this test process's hubs, from other tests
        hubs = [
            c
            for c in monitor.client_list()
            if c.get("name", "").startswith(events.HUB_CLIENT_NAME) and c["name"] != own
        ]
        assert len(hubs) == 1 and int(hubs[0]["psub"]) == 2, hubs

        # One change, every watcher told.
        with app.app_context():
            ids = [submission for _, submission in pairs]
            db.session.execute(update(Submission).where(Submission.id.in_(ids)).values(state=State.RUNNING))
            db.session.commit()
            for submission_id in ids:
                notify.notify(submission_id)
        for watcher in watchers:
            assert watcher.read_until(b'"state":"running"', 10), watcher.received[-300:]
    finally:
        for watcher in watchers:
            watcher.sock.close()
        server.send_signal(signal.SIGINT)  # quick shutdown: a graceful one waits for the open streams
        server.wait(timeout=30)
