"""The scoreboard's SQL does not grow with the class (benchmarks/scoreboard.py times it at 1,000 students)."""

from __future__ import annotations

import csv
import io

from support.courses import enroll
from support.databases import counted
from support.pages import log_in

from grader.accounts.models import Role
from grader.accounts.services import create_user
from grader.extensions import db
from grader.submissions.models import Result, ResultDiagnosis, State, StoredFile, Submission


def _class_of(course, paraboloid, size: int, start: int) -> None:  # type: ignore[no-untyped-def]
    if db.session.get(StoredFile, "0" * 64) is None:
        db.session.add(StoredFile(sha256="0" * 64, size=1))
    for index in range(start, start + size):
        student = create_user(f"s{index}@scale.example.edu", f"Student {index:03}", Role.STUDENT, "pw")
        enroll(course, student)
        for attempt in range(3):
            submission = Submission(
                user_id=student.id, assignment_version_id=paraboloid.current.id, filename="s.py",
                file_sha256="0" * 64, kind="script", state=State.SCORED, late=attempt == 2,
            )  # fmt: skip
            submission.result = Result(
                attempt_number=1, verdict="scored", metric_name="mse", metric_value=0.01 / (attempt + 1),
                score=40.0 + 20 * attempt, max_score=100.0, seed=attempt,
                diagnoses=[ResultDiagnosis(code="plateau", severity="hint", title="Plateau")],
            )  # fmt: skip
            db.session.add(submission)
    db.session.commit()


def test_the_scoreboard_runs_the_same_queries_for_any_class_size(client, course, paraboloid):
    teacher = create_user("scale-teacher@example.edu", "Grace Teacher", Role.INSTRUCTOR, "pw")
    enroll(course, teacher, Role.INSTRUCTOR)
    log_in(client, teacher)
    counts = []
    for size, start in ((3, 0), (30, 3)):
        _class_of(course, paraboloid, size, start)
        with counted() as statements:
            page = client.get(f"/assignments/{paraboloid.id}/scoreboard")
        assert page.status_code == 200
        body = page.get_data(as_text=True)
        assert f"Student {start + size - 1:03}" in body and "80" in body  # the best of three, per student
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
    assert counts[1] <= 12, counts


def test_sorting_and_paging_happen_in_the_database(course, paraboloid):
    from grader.gradebooks import scoreboard

    _class_of(course, paraboloid, 25, 100)
    idle = create_user("idle-scale@example.edu", "Aaron Idle", Role.STUDENT, "pw")
    enroll(course, idle)
    first = scoreboard.scoreboard(paraboloid, sort="student", page=1, per_page=10)
    assert (first.students, first.submitted, first.pages) == (26, 25, 3)
    assert first.rows[0].name == "Aaron Idle" and first.rows[0].submission_id is None
    last = scoreboard.scoreboard(paraboloid, sort="score", descending=True, page=3, per_page=10)
    assert [r.name for r in last.rows][-1] == "Aaron Idle"  # no score sorts last, both ways
    ascending = scoreboard.scoreboard(paraboloid, sort="score", page=1, per_page=10)
    assert (
        ascending.rows[0].score == 80.0 and ascending.rows[0].attempts == 3 and ascending.rows[0].late is True
    )
    assert scoreboard.scoreboard(paraboloid, page=99, per_page=10).page == 3  # clamped to the last page


def test_filter_pick_and_csv(client, course, paraboloid):
    from grader.gradebooks import scoreboard

    _class_of(course, paraboloid, 4, 200)
    last = scoreboard.scoreboard(paraboloid, pick="last", search="student 20")
    assert last.students == 4 and {r.score for r in last.rows} == {80.0}  # the third upload is the latest
    assert scoreboard.scoreboard(paraboloid, search="s201@").students == 1
    assert scoreboard.scoreboard(paraboloid, search="100%_").students == 0  # wildcards are literal
    teacher = create_user("csv-teacher@example.edu", "Grace Teacher", Role.INSTRUCTOR, "pw")
    enroll(course, teacher, Role.INSTRUCTOR)
    log_in(client, teacher)
    response = client.get(f"/assignments/{paraboloid.id}/scoreboard.csv?sort=student&q=student%20202")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    lines = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert lines[0][:7] == ["student", "email", "score", "max_score", "mse", "verdict", "attempts"]
    assert len(lines) == 2 and lines[1][:4] == ["Student 202", "s202@scale.example.edu", "80.0", "100.0"]
    page = client.get(f"/assignments/{paraboloid.id}/scoreboard?q=student+202&pick=last")
    assert page.status_code == 200 and "Student 202" in page.get_data(as_text=True)
