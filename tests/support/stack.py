"""The grader as real processes for the tests that need them: a migrated database, the app bound to
it, and Celery worker processes started on demand (``Stack``); ``postgres_stack`` puts one on its own
PostgreSQL database and Redis database number.

Data in a stack is really committed (a worker is another process), so each stack gets its own database.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import redis
from flask import Flask
from flask_migrate import upgrade

from grader.accounts.models import Role
from grader.accounts.services import create_user, issue_token
from grader.app import create_app
from grader.assignments.services import publish
from grader.courses.models import Course, Enrollment
from grader.extensions import db

from .databases import temporary_database

ROOT = Path(__file__).resolve().parents[2]  # the repository: workers run from it


class Stack:
    """A migrated database, an app bound to it, and worker processes started on demand."""

    def __init__(self, settings: dict[str, str], workdir: Path) -> None:
        self.settings = settings
        self.workdir = workdir
        self.app: Flask = create_app(settings)
        self.workers: list[subprocess.Popen[bytes]] = []
        self.logs: list[IO[bytes]] = []
        with self.app.app_context():
            upgrade()
            course = Course(code="E2E-1", title="End to end")
            db.session.add(course)
            db.session.commit()
            student = create_user("e2e@example.edu", "E2E Student", Role.STUDENT, "pw")
            db.session.add(Enrollment(course_id=course.id, user_id=student.id, role=Role.STUDENT))
            db.session.commit()
            self.assignment_id = publish(course, "paraboloid", daily_limit=50).id
            self.token = issue_token(student, "e2e", ["read", "submit"])

    def start_worker(self) -> subprocess.Popen[bytes]:
        """One more Celery worker process on the cpu queue (one run at a time), logging to the workdir."""
        env = {**os.environ, **self.settings, "GRADER_WARM_POOL": "0"}
        log = open(self.workdir / f"worker-{len(self.workers)}.log", "wb")
        self.logs.append(log)
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "grader.worker_main:celery", "worker", "-Q", "cpu", "--pool", "solo",
             "--concurrency", "1", "--without-mingle", "--without-gossip", "-n", f"w{uuid.uuid4().hex[:6]}@%h",
             "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.workers.append(worker)
        return worker

    def upload(self, path: Path) -> int:
        """Upload the file through the API as the stack's student; the new submission's id."""
        client = self.app.test_client()
        response = client.post(
            f"/api/v1/assignments/{self.assignment_id}/submissions",
            data={"file": (io.BytesIO(path.read_bytes()), path.name)},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert response.status_code == 202, response.get_data(as_text=True)
        return int(response.get_json()["id"])

    def status(self, submission_id: int) -> dict:  # type: ignore[type-arg]
        """The submission as the API shows it to its student."""
        client = self.app.test_client()
        response = client.get(
            f"/api/v1/submissions/{submission_id}", headers={"Authorization": f"Bearer {self.token}"}
        )
        return response.get_json()  # type: ignore[no-any-return]

    def wait(self, submission_id: int, states: set[str], timeout: float) -> dict:  # type: ignore[type-arg]
        """The submission once it is in one of ``states``; fails with the workers' logs after ``timeout``
        seconds, or as soon as every worker started has exited."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            body = self.status(submission_id)
            if body["state"] in states:
                return body
            if self.workers and all(w.poll() is not None for w in self.workers):
                break  # no worker left: fail now, with their logs
            time.sleep(0.5)
        logs = "\n".join(
            (self.workdir / f"worker-{i}.log").read_text()[-3000:] for i in range(len(self.workers))
        )
        raise AssertionError(f"submission {submission_id} still {body['state']} after {timeout} s\n{logs}")

    def stop(self) -> None:
        """Stop the workers (killed if they take over 15 s) and close the app's connections."""
        for worker in self.workers:
            if worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    worker.kill()
        for log in self.logs:
            log.close()
        with self.app.app_context():
            db.engine.dispose()


@contextlib.contextmanager
def postgres_stack(workdir: Path, redis_db: int, lease_seconds: int) -> Iterator[Stack]:
    """A Stack on its own PostgreSQL database and Redis database number, torn down afterwards."""
    broker = f"redis://127.0.0.1:6379/{redis_db}"
    redis.Redis.from_url(broker).flushdb()
    with temporary_database("grader_e2e") as url:
        stack = Stack(
            {
                "GRADER_ENV": "test",
                "GRADER_DATABASE_URL": url,
                "GRADER_REDIS_URL": broker,
                "GRADER_STORAGE_DIR": str(workdir / "storage"),
                "GRADER_LEASE_SECONDS": str(lease_seconds),
            },
            workdir,
        )
        try:
            yield stack
        finally:
            stack.stop()
