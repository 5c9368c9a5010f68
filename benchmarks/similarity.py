"""The class similarity check at class scale: 200 students, every pair, PostgreSQL, on this machine.

Creates a throwaway database, migrates it and loads a class whose scripts are the corpus's real ones
(tests/corpus/real), each student's a different mix of two with its own names, plus one student who
copied another with every variable renamed. Each result has a behaviour fingerprint and a loss curve of
500 points, as graded results keep. Then runs the check's service (what the Celery task calls) and
prints its wall time, which must stay under 2 minutes for 200 students, and where the copy ranked.

    .venv/bin/python benchmarks/similarity.py [--students 200]
    .venv/bin/python benchmarks/similarity.py --smoke   # 12 students: that it all still runs
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from flask_migrate import upgrade

from grader.app import create_app
from grader.extensions import db, utcnow

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CORPUS = Path(__file__).resolve().parents[1] / "tests" / "corpus" / "real"
LIMIT_SECONDS = 120.0


def _scripts(students: int) -> list[str]:
    """Each student's script: halves of two real ones, every identifier suffixed with the student's
    number; the last student renamed the first one's again (the copy that must rank first)."""
    corpus = [p.read_text() for p in sorted(CORPUS.glob("*.py"))]
    draw = random.Random(20)
    scripts = []
    for n in range(students - 1):
        first, second = corpus[n % len(corpus)], corpus[draw.randrange(len(corpus))]
        half = second.splitlines()[len(second.splitlines()) // 2 :]
        scripts.append(first + "\n" + "\n".join(half) + f"\nfinal_note = 'student {n}'\n")
    scripts.append(re.sub(r"\b([a-z_][a-z0-9_]*) =", r"\1_mine =", scripts[0]))
    return scripts


def _load(students: int) -> tuple[int, int, int]:
    """The class as rows (stored uploads, results, fingerprints, curves); returns (check id, copy's and
    original's submission ids)."""
    from grader.accounts.models import Role, User
    from grader.assignments.services import publish
    from grader.courses.models import Course, Enrollment
    from grader.similarity.models import SimilarityCheck
    from grader.storage import current_store
    from grader.submissions.models import Curve, Result, ResultBehaviour, State, StoredFile, Submission

    course = Course(code="BENCH-SIM", title="Similarity at scale")
    db.session.add(course)
    db.session.commit()
    assignment = publish(course, "paraboloid")
    now = utcnow()
    draw = random.Random(7)
    submission_ids = []
    for n, script in enumerate(_scripts(students)):
        user = User(
            email=f"s{n}@bench.example.edu", name=f"Student {n:04}", role=Role.STUDENT, password_hash="!"
        )
        db.session.add(user)
        db.session.flush()
        db.session.add(Enrollment(course_id=course.id, user_id=user.id, role=Role.STUDENT))
        digest, size = current_store().put(script.encode())
        if db.session.get(StoredFile, digest) is None:
            db.session.add(StoredFile(sha256=digest, size=size))
        submission = Submission(
            user_id=user.id, assignment_version_id=assignment.current.id, filename="train.py",
            file_sha256=digest, kind="script", state=State.SCORED, created_at=now, updated_at=now,
        )  # fmt: skip
        db.session.add(submission)
        db.session.flush()
        result = Result(
            submission_id=submission.id, attempt_number=1, verdict="scored", metric_name="mse",
            metric_value=0.01, score=float(n % 100), max_score=100.0, seed=n, created_at=now,
        )  # fmt: skip
        errors = [draw.randint(-300, 300) for _ in range(256)]
        loss = [1 / (1 + step * draw.uniform(0.5, 1.5)) for step in range(500)]
        result.behaviour = ResultBehaviour(payload={"kind": "errors", "codes": errors})
        result.curves.append(Curve(series="loss", steps=list(range(500)), values=loss, points_total=500))
        db.session.add(result)
        submission_ids.append(submission.id)
    check = SimilarityCheck(assignment_id=assignment.id)
    db.session.add(check)
    db.session.commit()
    return check.id, submission_ids[0], submission_ids[-1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--smoke", action="store_true", help="12 students")
    args = parser.parse_args()
    if args.smoke:
        args.students = 12
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
                from grader.similarity import services
                from grader.similarity.models import SimilarityCheck

                upgrade()
                check_id, original, copy = _load(args.students)
                started = time.perf_counter()
                outcome = services.run_check(check_id)
                seconds = time.perf_counter() - started
                check = db.session.get(SimilarityCheck, check_id)
                assert check is not None
                top = check.pairs[0]
                pairs, kept = check.total - check.students, len(check.pairs)
                db.engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(
        f"{args.students} students, {pairs:,} pairs compared: {outcome} in {seconds:.1f} s (limit {LIMIT_SECONDS:.0f} s)"
    )
    print(
        f"kept {kept} pairs; the renamed copy ranks first: {(top.left_submission_id, top.right_submission_id) == (original, copy)} (code {top.code:.2f})"
    )
    return 0 if outcome == "done" and seconds < LIMIT_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
