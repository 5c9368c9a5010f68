"""The deadline burst's stack and its measures: the processes of a deployment on loopback, the
students it seeds, and what the database says about the drain afterwards (benchmarks/deadline_burst.py)."""

from __future__ import annotations

import http.client
import itertools
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from flask_migrate import upgrade
from sqlalchemy import func, select

from grader.accounts.models import Role
from grader.accounts.services import create_user, issue_token
from grader.assignments.services import publish
from grader.courses.models import Course, Enrollment
from grader.engine.spec import BUILTIN
from grader.extensions import db
from grader.submissions.models import Attempt, Result, Submission

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PARABOLOID = BUILTIN / "paraboloid"
FINAL = ("scored", "failed", "error")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def busy_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy (all cores, all processes), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


class Stack:
    """The processes of a deployment, on loopback, stopped together."""

    def __init__(self, settings: dict[str, str], workdir: Path) -> None:
        self.env = {**os.environ, **settings}
        self.workdir = workdir
        self.children: list[subprocess.Popen[bytes]] = []
        self.sessions: dict[str, int] = {}  # each part's session id (its first process's pid)

    def start(self, name: str, command: list[str]) -> None:
        log = open(self.workdir / f"{name}.log", "wb")
        child = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)  # fmt: skip
        self.children.append(child)
        self.sessions[name] = child.pid

    def stop(self) -> None:
        for child in self.children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)


def celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "grader.worker_main:celery", "worker", "--loglevel", "INFO",
            "--without-mingle", "--without-gossip", *args]  # fmt: skip


def post(port: int, assignment_id: int, token: str, content: bytes) -> tuple[int, float, Any]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="solution.py"\r\n'
            "Content-Type: text/x-python\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST", f"/api/v1/assignments/{assignment_id}/submissions", body,
            {"Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )  # fmt: skip
        response = connection.getresponse()
        payload = response.read()
        return response.status, time.perf_counter() - started, payload
    finally:
        connection.close()


def seed(app: Any, spec_folder: Path, students: int) -> tuple[int, list[tuple[int, str]]]:
    """The course, the assignment and ``students`` enrolled students: (user id, API token) of each."""
    with app.app_context():
        upgrade()
        course = Course(code=f"BURST-{uuid.uuid4().hex[:4]}", title="Deadline burst")
        db.session.add(course)
        db.session.commit()
        assignment = publish(course, str(spec_folder), daily_limit=100)
        users = []
        for number in range(students):
            user = create_user(f"burst-{number}@example.edu", f"Student {number}", Role.STUDENT, "pw")
            db.session.add(Enrollment(course_id=course.id, user_id=user.id, role=Role.STUDENT))
            users.append((user.id, issue_token(user, "burst", ["read", "submit"])))
        db.session.commit()
        return assignment.id, users


def session_cookie(app: Any, user_id: int) -> str:
    """The Cookie header of a browser logged in as the user (signed as the login page would)."""
    serializer = app.session_interface.get_signing_serializer(app)
    return f"session={serializer.dumps({'user_id': user_id})}"


def web_server(kind: str, port: int) -> list[str]:
    """gunicorn as the service runs it (``gevent``: grader/gunicorn_conf.py), or as it ran before
    (``gthread``: 2 processes x 8 threads), to compare the two side by side."""
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
    if kind == "gevent":
        return [*command, "-c", "python:grader.gunicorn_conf", "grader.app:create_app()"]
    return [*command, "--workers", "2", "--threads", "8", "--worker-class", "gthread",
            "grader.app:create_app()"]  # fmt: skip


def wait_final(app: Any, ids: list[int], timeout: float) -> None:
    end = time.monotonic() + timeout
    with app.app_context():
        while time.monotonic() < end:
            done = db.session.scalar(
                select(func.count()).where(Submission.id.in_(ids), Submission.state.in_(FINAL))
            )
            db.session.rollback()
            if done == len(ids):
                return
            time.sleep(0.5)
    raise SystemExit(f"not all {len(ids)} submissions final after {timeout} s")


def graded_once(app: Any, ids: list[int]) -> tuple[bool, dict[str, int]]:
    with app.app_context():
        attempts = dict(
            db.session.execute(
                select(Attempt.submission_id, func.count()).where(Attempt.submission_id.in_(ids))
                .group_by(Attempt.submission_id)
            ).all()
        )  # fmt: skip
        results = dict(
            db.session.execute(
                select(Result.submission_id, func.count()).where(Result.submission_id.in_(ids))
                .group_by(Result.submission_id)
            ).all()
        )  # fmt: skip
        verdicts = dict(
            db.session.execute(
                select(Result.verdict, func.count()).where(Result.submission_id.in_(ids)).group_by(Result.verdict)
            ).all()
        )  # fmt: skip
    once = all(attempts.get(i) == 1 and results.get(i) == 1 for i in ids)
    return once, {str(k): int(v) for k, v in verdicts.items()}


def sandbox_cpu_seconds(app: Any, ids: list[int], total: bool = False) -> float:
    """The median (or total) CPU time the runs themselves took in their sandboxes (the runner's measure)."""
    with app.app_context():
        values = db.session.scalars(select(Result.cpu_seconds).where(Result.submission_id.in_(ids))).all()
    known = [v for v in values if v is not None]
    return sum(known) if total else statistics.median(known)


def slot_use(app: Any, ids: list[int]) -> tuple[float, float]:
    """How busy the slots were over the drain (attempt time / window), and the median pause between
    one attempt's end and the next one's start on the same slot."""
    with app.app_context():
        rows = db.session.execute(
            select(Attempt.worker, Attempt.started_at, Attempt.finished_at)
            .where(Attempt.submission_id.in_(ids)).order_by(Attempt.worker, Attempt.started_at)
        ).all()  # fmt: skip
    busy = sum((end - start).total_seconds() for _, start, end in rows if end)
    window = (max(end for *_, end in rows if end) - min(start for _, start, _ in rows)).total_seconds()
    pauses = [(b[1] - a[2]).total_seconds() for a, b in itertools.pairwise(rows) if a[0] == b[0] and a[2]]
    workers = len({worker for worker, *_ in rows})
    return busy / (window * workers), statistics.median(pauses) if pauses else 0.0


def timings(app: Any, ids: list[int]) -> tuple[list[float], float, float]:
    """Seconds from upload to score for each, and the first claim's and last result's times (epoch s)."""
    with app.app_context():
        rows = db.session.execute(
            select(Submission.created_at, Result.created_at).join(Result, Result.submission_id == Submission.id)
            .where(Submission.id.in_(ids))
        ).all()  # fmt: skip
        first_claim = db.session.scalar(
            select(func.min(Attempt.started_at)).where(Attempt.submission_id.in_(ids))
        )
    latency = [(scored - uploaded).total_seconds() for uploaded, scored in rows]
    last = max(scored for _, scored in rows)
    return latency, first_claim.timestamp(), last.timestamp()


def sandboxes_cpu_seconds() -> float | None:
    """CPU time every sandbox has spent, from start to exit (their parent cgroup's total: it keeps
    the usage of groups already removed), or None where the sandboxes have no cgroup."""
    from grader.engine.sandbox.cgroups import PARENT, _own_path

    v1 = Path("/sys/fs/cgroup/cpuacct") / _own_path("cpuacct") / PARENT / "cpuacct.usage"
    if v1.exists():
        return int(v1.read_text()) / 1e9
    own = ""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            own = line[3:].lstrip("/")
    v2 = Path("/sys/fs/cgroup") / own / PARENT / "cpu.stat"
    if v2.exists():
        for line in v2.read_text().splitlines():
            if line.startswith("usage_usec "):
                return int(line.split()[1]) / 1e6
    return None


def process_cpu(sessions: dict[str, int], redis_pid: int) -> dict[int, tuple[str, float]]:
    """Each live process of the stack: (its part, its CPU seconds). Parts: each started child's
    session (the process's own time, not its reaped children's: a slot's children are sandboxes,
    counted by their cgroup), PostgreSQL's processes, the private Redis and this process (the
    benchmark's clients)."""
    ticks = os.sysconf("SC_CLK_TCK")
    by_session = {session: name for name, session in sessions.items()}
    found: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        pid, session, own = int(entry.name), int(fields[3]), (int(fields[11]) + int(fields[12])) / ticks
        part = (
            "clients" if pid == os.getpid() else "redis" if pid == redis_pid
            else "postgresql" if comm == "postgres" else by_session.get(session)
        )  # fmt: skip
        if part is not None:
            found[pid] = (part, own)
    return found


def stack_cpu_seconds(sessions: dict[str, int], redis_pid: int) -> float:
    """CPU seconds the stack's live processes (each part, this benchmark's own included) and its
    sandboxes have spent so far."""
    return sum(seconds for _, seconds in process_cpu(sessions, redis_pid).values()) + (
        sandboxes_cpu_seconds() or 0.0
    )


def cpu_by_part(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds each part spent between two ``process_cpu`` samples (processes that ended in
    between are lost to "the rest"; those that began are counted whole)."""
    parts: dict[str, float] = {}
    for pid, (part, seconds) in after.items():
        earlier = before.get(pid)
        parts[part] = parts.get(part, 0.0) + seconds - (earlier[1] if earlier and earlier[0] == part else 0.0)
    return parts
