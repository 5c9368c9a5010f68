"""The instructor's scoreboard at class scale: 1,000 students, 20,000 graded submissions, PostgreSQL.

Creates a throwaway database on the local PostgreSQL, migrates it, bulk-loads the class, then
requests the scoreboard page repeatedly as its instructor and prints the server time (p50, p95)
and the number of SQL statements per request (it must not grow with the class: the test
tests/service/test_scoreboard_scale.py pins that). Target: p95 at most 100 ms. The class's other
whole-class pages, the leaderboard (every student with a pseudonym) and the class analytics, are
timed the same way, side by side.

    .venv/bin/python benchmarks/scoreboard.py [--students 1000] [--submissions 20000] [--requests 40]
    .venv/bin/python benchmarks/scoreboard.py --smoke   # a small class: that it all still runs
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid

import sqlalchemy as sa
from flask_migrate import upgrade

from grader.app import create_app
from grader.extensions import db, utcnow

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PAGES = ("scoreboard", "leaderboard", "analytics")


def _load(students: int, submissions: int) -> tuple[int, int]:
    """Bulk rows with plain INSERTs (the ORM would take minutes); returns (instructor id, assignment id)."""
    from grader.accounts.models import Role, User
    from grader.assignments.services import publish
    from grader.courses.models import Course, Enrollment
    from grader.submissions.models import Result, ResultDiagnosis, State, StoredFile, Submission

    course = Course(code="BENCH-101", title="Scale")
    db.session.add(course)
    db.session.commit()
    assignment = publish(course, "paraboloid")
    version = assignment.current.id
    teacher = User(email="teacher@bench.example.edu", name="Teacher", role=Role.INSTRUCTOR, password_hash="!")
    db.session.add(teacher)
    db.session.add(StoredFile(sha256="0" * 64, size=1))
    db.session.commit()
    db.session.add(Enrollment(course_id=course.id, user_id=teacher.id, role=Role.INSTRUCTOR))
    now = utcnow()
    users = [
        {"email": f"s{i}@bench.example.edu", "name": f"Student {i:04}", "role": Role.STUDENT, "password_hash": "!",
         "created_at": now}
        for i in range(students)
    ]  # fmt: skip
    ids = list(db.session.scalars(sa.insert(User).returning(User.id), users))
    db.session.execute(
        sa.insert(Enrollment),
        [{"course_id": course.id, "user_id": i, "role": Role.STUDENT, "pseudonym": f"p{i}"} for i in ids],
    )
    rows = [
        {"user_id": ids[n % students], "assignment_version_id": version, "filename": "s.py",
         "file_sha256": "0" * 64, "kind": "script", "state": State.SCORED, "late": False, "created_at": now,
         "updated_at": now, "attempts": 1}
        for n in range(submissions)
    ]  # fmt: skip
    submission_ids = list(db.session.scalars(sa.insert(Submission).returning(Submission.id), rows))
    results = [
        {"submission_id": s, "attempt_number": 1, "verdict": "scored", "message": "", "metric_name": "mse",
         "metric_value": 0.001 * (1 + n % 97), "score": float(n % 101), "max_score": 100.0, "passed": False,
         "public_metric": 0.001 * (1 + n % 89), "public_score": float(n % 103 % 101),
         "seed": n, "device": "cpu", "stdout": "x" * 2000, "stderr": "", "details": {"notes": ["n" * 500]},
         "created_at": now}
        for n, s in enumerate(submission_ids)
    ]  # fmt: skip
    result_ids = list(db.session.scalars(sa.insert(Result).returning(Result.id), results))
    db.session.execute(
        sa.insert(ResultDiagnosis),
        [{"result_id": r, "code": ("plateau", "overfitting", "linear_stack")[n % 3], "severity": "warning",
          "title": "t"} for n, r in enumerate(result_ids)],
    )  # fmt: skip
    db.session.commit()
    with db.engine.connect() as connection:  # what autovacuum does after a load like this
        connection.execute(sa.text("ANALYZE"))
        connection.commit()
    return teacher.id, assignment.id


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--submissions", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--smoke", action="store_true", help="20 students, 200 submissions, 3 requests")
    args = parser.parse_args()
    if args.smoke:
        args.students, args.submissions, args.requests = 20, 200, 3
    name = f"grader_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        with tempfile.TemporaryDirectory() as storage:
            app = create_app(
                {"GRADER_ENV": "test", "GRADER_DATABASE_URL": ADMIN_URL.rsplit("/", 1)[0] + "/" + name,
                 "GRADER_STORAGE_DIR": storage}
            )  # fmt: skip
            with app.app_context():
                upgrade()
                started = time.perf_counter()
                teacher_id, assignment_id = _load(args.students, args.submissions)
                loaded = time.perf_counter() - started
                statements: list[str] = []
                sa.event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
            client = app.test_client()
            with client.session_transaction() as session:
                session["user_id"] = teacher_id
            pages = {name: f"/assignments/{assignment_id}/{name}" for name in PAGES}
            timings: dict[str, tuple[list[float], list[int]]] = {name: ([], []) for name in PAGES}
            for name in PAGES:
                client.get(pages[name])  # warm-up
            for _ in range(args.requests):
                for name in PAGES:  # side by side: the machine's noise falls on every page alike
                    statements.clear()
                    started = time.perf_counter()
                    response = client.get(pages[name])
                    timings[name][0].append(time.perf_counter() - started)
                    timings[name][1].append(len(statements))
                    assert response.status_code == 200, (name, response.status_code)
            with app.app_context():
                db.engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(f"{args.students:,} students, {args.submissions:,} graded submissions (loaded in {loaded:.1f} s)")
    missed = False
    for name in PAGES:
        times, per_request = timings[name]
        times.sort()
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        target = "   (target p95 <= 100 ms)" if name == "scoreboard" else ""
        print(f"  {name:<12} server time p50 {statistics.median(times) * 1e3:7.1f} ms   p95 {p95 * 1e3:7.1f} ms"
              f"   SQL statements/request {min(per_request)}..{max(per_request)}{target}")  # fmt: skip
        missed |= name == "scoreboard" and p95 > 0.100
    print(f"  target: {'MISSED' if missed else 'met'}")
    return 0 if args.smoke or not missed else 1  # a small class says nothing of the target


if __name__ == "__main__":
    sys.exit(main())
