"""The fault tests' stack: real worker processes, the web app and its database, on the private
servers (support.private_servers), and the linear assignment's reference solution to grade."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from grader.accounts.models import Role, User
from grader.accounts.services import create_user, issue_token
from grader.app import create_app
from grader.assignments.models import Assignment
from grader.assignments.services import publish
from grader.courses.models import Course, Enrollment
from grader.engine.spec import BUILTIN
from grader.extensions import db, utcnow
from grader.lti.lineitems import SCORE_SCOPE
from grader.lti.models import LtiContext, LtiGradePassback, LtiPlatform, LtiUser
from grader.submissions import services
from grader.submissions.models import Attempt, Result, State, Submission
from grader.submissions.policy import submissions_today
from grader.webhooks import services as webhooks
from grader.webhooks.models import WebhookDelivery
from support.private_servers import Servers

ROOT = Path(__file__).resolve().parents[2]
LINEAR = BUILTIN / "linear"
REFERENCE = (LINEAR / "reference.py").read_bytes()
# The reference solution training four times as long (about four seconds here), so that "while it
# trains" is a window wide enough to aim a fault at; it still scores full marks.
LONGER = REFERENCE.replace(b"range(3000)", b"range(12000)")
assert LONGER != REFERENCE
FINAL = {"scored", "failed", "error"}


def settings_for(database_url: str, broker_url: str, storage: Path, **extra: str) -> dict[str, str]:
    return {
        "GRADER_ENV": "test",
        "GRADER_DATABASE_URL": database_url,
        "GRADER_REDIS_URL": broker_url,
        "GRADER_STORAGE_DIR": str(storage),
        "GRADER_WEBHOOK_ALLOW_PRIVATE": "1",  # the course's webhook points at 127.0.0.1
        **extra,
    }


def linear_spec(folder: Path, **changes: str) -> Path:
    """The `linear` assignment trained once (seeds = 1): a grading takes a few seconds."""
    copy = folder / "linear"
    shutil.copytree(LINEAR, copy)
    spec = copy / "assignment.toml"
    text = spec.read_text().replace("seeds = 3", "seeds = 1")
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new)
    spec.write_text(text)
    return copy


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path
    name: str

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no acknowledgement, its sandbox dies with it (--die-with-parent)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@dataclass
class Upload:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def id(self) -> int:
        return int(self.body["id"])


@dataclass
class Stack:
    """A database of its own, the app bound to it, worker processes started on demand."""

    servers: Servers
    workdir: Path
    settings: dict[str, str]
    app: Flask
    assignment_id: int
    student_id: int
    token: str
    student_email: str
    workers: list[Worker] = field(default_factory=list)
    _logs: list[IO[bytes]] = field(default_factory=list)

    # -- processes -----------------------------------------------------------------
    def start_worker(self, **env: str) -> Worker:
        name = f"w{len(self.workers)}-{uuid.uuid4().hex[:4]}"
        log_path = self.workdir / f"{name}.log"
        log = open(log_path, "wb")  # kept open while the worker writes
        self._logs.append(log)
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "grader.worker_main:celery", "worker", "-Q", "cpu",
             "--pool", "solo", "--concurrency", "1", "--without-mingle", "--without-gossip",
             "-n", f"{name}@%h", "--loglevel", "INFO"],
            cwd=ROOT, env={**os.environ, **self.settings, **env}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        worker = Worker(process, log_path, name)
        self.workers.append(worker)
        return worker

    def wait_ready(self, *workers: Worker, timeout: float = 60) -> None:
        """Until each worker is consuming (Celery logs "ready" once connected to the broker)."""
        end = time.monotonic() + timeout
        while not all(" ready." in w.log.read_text() for w in workers):
            if time.monotonic() > end or not all(w.alive for w in workers):
                raise AssertionError(f"workers not ready after {timeout} s\n{self.logs()}")
            time.sleep(0.1)

    def worker_of(self, lease_owner: str | None) -> Worker | None:
        """The worker whose attempts are recorded as ``host:pid``."""
        for worker in self.workers:
            if lease_owner is not None and lease_owner.endswith(f":{worker.pid}"):
                return worker
        return None

    def logs(self) -> str:
        return "\n".join(f"--- {w.name} (pid {w.pid})\n{w.log.read_text()[-2500:]}" for w in self.workers)

    @contextlib.contextmanager
    def reconciling(self, every: float = 0.5) -> Iterator[None]:
        """What beat does every 30 s, here every ``every`` seconds, in a thread of this process."""
        stop = threading.Event()

        def loop() -> None:
            with self.app.app_context():
                while not stop.wait(every):
                    try:
                        services.reconcile()
                    except Exception:  # noqa: BLE001 - a failed run (database away) is retried, as in beat
                        db.session.remove()

        thread = threading.Thread(target=loop, name="reconciler", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=30)

    def stop(self) -> None:
        for worker in self.workers:
            if worker.alive:
                worker.process.terminate()
        for worker in self.workers:
            try:
                worker.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait(timeout=10)
        for log in self._logs:
            log.close()
        with self.app.app_context():
            db.engine.dispose()

    # -- requests ------------------------------------------------------------------
    def client(self) -> FlaskClient:
        return self.app.test_client()

    def upload(self, content: bytes = REFERENCE, name: str = "reference.py") -> Upload:
        response = self.client().post(
            f"/api/v1/assignments/{self.assignment_id}/submissions",
            data={"file": (io.BytesIO(content), name)},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        body = response.get_json(silent=True) or {}
        return Upload(response.status_code, body, dict(response.headers))

    def accepted(self, content: bytes = REFERENCE, name: str = "reference.py") -> int:
        upload = self.upload(content, name)
        assert upload.status == 202, upload.body
        return upload.id

    # -- the database --------------------------------------------------------------
    def query(self, read: Callable[[], Any]) -> Any:
        with self.app.app_context():
            try:
                return read()
            finally:
                db.session.remove()

    def states(self, ids: list[int]) -> dict[int, str]:
        rows = self.query(
            lambda: db.session.execute(
                select(Submission.id, Submission.state).where(Submission.id.in_(ids))
            ).all()
        )
        return {int(i): state.value for i, state in rows}

    def attempt_counts(self, ids: list[int]) -> dict[int, int]:
        rows = self.query(
            lambda: db.session.execute(
                select(Submission.id, Submission.attempts).where(Submission.id.in_(ids))
            ).all()
        )
        return {int(i): int(n) for i, n in rows}

    def running(self) -> list[tuple[int, int, str, dict[str, Any] | None]]:
        """(submission, attempt, lease owner, progress) of every running attempt."""
        rows = self.query(
            lambda: db.session.execute(
                select(Submission.id, Submission.attempts, Submission.lease_owner, Submission.progress).where(
                    Submission.state == State.RUNNING
                )
            ).all()
        )
        return [(int(i), int(n), str(owner), progress) for i, n, owner, progress in rows]

    def wait_final(self, ids: list[int], timeout: float) -> dict[int, str]:
        end = time.monotonic() + timeout
        states: dict[int, str] = {}
        while time.monotonic() < end:
            with contextlib.suppress(sa.exc.OperationalError):
                states = self.states(ids)
                if len(states) == len(ids) and set(states.values()) <= FINAL:
                    return states
            time.sleep(0.5)
        raise AssertionError(f"not final after {timeout} s: {states}\n{self.logs()}")

    # -- what every fault test ends with ---------------------------------------------
    def check_graded_exactly_once(self, ids: list[int], expected: dict[int, str] | None = None) -> None:
        """Each submission final (scored unless ``expected`` says otherwise) with exactly one result,
        written by its one finished attempt (the others expired or were platform errors); one webhook
        delivery per result and one pending LTI passback; quota charged once per charged submission."""
        expected = expected or {}

        def read() -> None:
            assignment = db.session.get(Assignment, self.assignment_id)
            student = db.session.get(User, self.student_id)
            assert assignment is not None and student is not None
            all_ids = set(
                db.session.scalars(
                    select(Submission.id).where(Submission.assignment_version_id.in_(assignment.version_ids))
                )
            )
            assert all_ids == set(ids), (
                f"submissions nobody accepted, or accepted and lost: {all_ids ^ set(ids)}"
            )
            for submission_id in ids:
                submission = db.session.get(Submission, submission_id)
                assert submission is not None
                want = expected.get(submission_id, "scored")
                assert submission.state.value == want, (submission_id, submission.state, want)
                results = db.session.scalars(
                    select(Result).where(Result.submission_id == submission_id)
                ).all()
                attempts = db.session.scalars(
                    select(Attempt).where(Attempt.submission_id == submission_id).order_by(Attempt.number)
                ).all()
                outcomes = [a.outcome for a in attempts]
                assert [a.number for a in attempts] == list(range(1, submission.attempts + 1))
                assert "running" not in outcomes, (submission_id, outcomes)
                if want == "error":
                    assert set(outcomes) <= {"expired", "error"}, (submission_id, outcomes)
                    assert len(results) <= 1
                    continue
                assert len(results) == 1, (submission_id, len(results))
                assert outcomes.count("finished") == 1, (submission_id, outcomes)
                assert results[0].attempt_number == outcomes.index("finished") + 1
                assert set(outcomes) <= {"expired", "error", "finished"}
                if want == "scored":
                    assert results[0].verdict == "scored" and results[0].passed, results[0].message
            # One "submission.scored" delivery per result (the course has one webhook), none twice.
            deliveries = db.session.execute(
                select(WebhookDelivery.submission_id, func.count()).group_by(WebhookDelivery.submission_id)
            ).all()
            with_result = {
                i for i in ids if db.session.scalar(select(Result.id).where(Result.submission_id == i))
            }
            assert {s: int(n) for s, n in deliveries} == dict.fromkeys(with_result, 1)
            # The LMS gradebook: one pending passback of the best score for the student (no
            # outbound worker runs here, so each new result updates the same untouched row).
            passbacks = db.session.scalars(select(LtiGradePassback)).all()
            graded = [i for i in ids if expected.get(i, "scored") in ("scored", "failed")]
            assert len(passbacks) == (1 if graded else 0), [(p.id, p.submission_id) for p in passbacks]
            # Quotas: every submission counts once, except the platform's failures.
            charged = sum(1 for i in ids if expected.get(i, "scored") != "error")
            assert submissions_today(student, assignment, utcnow() + timedelta(seconds=1)) == charged

        self.query(read)


@contextlib.contextmanager
def make_stack(servers: Servers, workdir: Path, spec: Path | None = None, **settings: str) -> Iterator[Stack]:
    """A stack on a new database (copied from the migrated template) and a Redis database of its own."""
    name = f"faults_{uuid.uuid4().hex[:8]}"
    admin = servers.postgres.admin()
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{servers.template}"'))
    number = servers.next_redis_db = (servers.next_redis_db + 1) % 16
    broker = servers.redis.url(number)
    redis.Redis.from_url(broker).flushdb()
    merged = settings_for(servers.postgres.url(name), broker, workdir / "storage", **settings)
    merged.setdefault("GRADER_LEASE_SECONDS", "5")
    merged.setdefault("GRADER_WARM_POOL", "0")
    app = create_app(merged)
    with app.app_context():
        course = Course(code=f"FLT-{uuid.uuid4().hex[:4]}", title="Faults")
        db.session.add(course)
        db.session.commit()
        student = create_user(f"student-{name}@example.edu", "Faulty Student", Role.STUDENT, "pw")
        teacher = create_user(f"teacher-{name}@example.edu", "Teacher", Role.INSTRUCTOR, "pw")
        db.session.add_all(
            [
                Enrollment(course_id=course.id, user_id=student.id, role=Role.STUDENT),
                Enrollment(course_id=course.id, user_id=teacher.id, role=Role.INSTRUCTOR),
            ]
        )
        db.session.commit()
        assignment = publish(course, str(spec or linear_spec(workdir)), daily_limit=500)
        webhooks.register(course.id, "http://127.0.0.1:9/hook", teacher)
        # The student came from an LMS course whose gradebook takes scores (LTI AGS).
        platform = LtiPlatform(
            issuer="https://lms.example.edu", client_id="grader", auth_login_url="https://lms.example.edu/auth",
            auth_token_url="https://lms.example.edu/token", key_set_url="https://lms.example.edu/jwks",
        )  # fmt: skip
        db.session.add(platform)
        db.session.flush()
        db.session.add_all(
            [
                LtiContext(
                    platform_id=platform.id, context_id="ctx-1", course_id=course.id, deployment_id="d1",
                    lineitems_url="https://lms.example.edu/lineitems", ags_scopes=[SCORE_SCOPE],
                ),
                LtiUser(platform_id=platform.id, sub="student-sub", user_id=student.id),
            ]
        )  # fmt: skip
        db.session.commit()
        token = issue_token(student, "faults", ["read", "submit"])
        stack = Stack(servers, workdir, merged, app, assignment.id, student.id, token, student.email)
        db.session.remove()
    try:
        yield stack
    finally:
        stack.stop()
        with contextlib.suppress(Exception), admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
