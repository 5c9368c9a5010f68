"""Uploads through the API: accepted ones are queued; refused ones get a clear 4xx and change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from support.assignments import FIXED
from support.uploads import make_zip, post_upload

from grader.accounts.models import Role
from grader.accounts.services import create_user, issue_token
from grader.assignments.services import publish
from grader.courses.models import Course
from grader.extensions import db, utcnow
from grader.submissions.models import State, StoredFile, Submission


def _counts(storage) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    files = sum(1 for p in storage.rglob("*") if p.is_file())
    return (
        db.session.scalar(select(func.count(Submission.id))) or 0,
        db.session.scalar(select(func.count()).select_from(StoredFile)) or 0,
        files,
    )


@pytest.fixture
def storage(app):  # type: ignore[no-untyped-def]
    return app.extensions["grader.config"].storage_dir


def test_an_accepted_upload_is_committed_then_queued(client, paraboloid, student_token):
    response = post_upload(client, paraboloid.id, student_token, "fixed.py", FIXED)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["state"] == "queued" and response.headers["Location"] == f"/api/v1/submissions/{body['id']}"
    submission = db.session.get(Submission, body["id"])
    assert submission.state is State.QUEUED and submission.assignment_version.number == 1
    status = client.get(body["url"], headers={"Authorization": f"Bearer {student_token}"})
    assert status.status_code == 200 and status.get_json()["state"] == "queued"


@pytest.mark.parametrize(
    "filename, content, status, words",
    [
        ("big.py", b"#" * (300 * 1024), 413, "large"),
        ("empty.py", b"", 422, "empty"),
        ("model.pt", b"\x80\x04binary", 422, ".py, .ipynb or .zip"),
        ("bomb.zip", make_zip({"main.py": b"x = 1\n", "zeros.txt": b"\0" * (60 * 1024 * 1024)}), 422, ""),
        ("evil.zip", make_zip({"../../etc/cron.d/evil": b"x", "main.py": b"x = 1\n"}), 422, ".."),
    ],
)
def test_refused_uploads_change_nothing(
    client, paraboloid, student_token, storage, filename, content, status, words
):
    before = _counts(storage)
    response = post_upload(client, paraboloid.id, student_token, filename, content)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    detail = response.get_json()["detail"]
    assert words in detail, detail
    assert _counts(storage) == before


def test_after_the_deadline_and_its_late_window(client, course, student_token, storage):
    # paraboloid's spec: late work loses 10% per started day, for up to 3 days.
    assignment = publish(course, "paraboloid", deadline=utcnow() - timedelta(days=3, hours=1))
    before = _counts(storage)
    response = post_upload(client, assignment.id, student_token, "s.py", b"x = 1\n")
    assert response.status_code == 403, response.get_json()
    detail = response.get_json()["detail"]
    assert "deadline" in detail and "accepted for 3 day(s)" in detail
    assert _counts(storage) == before
    assignment.deadline = utcnow() - timedelta(hours=1)
    db.session.commit()
    response = post_upload(client, assignment.id, student_token, "s.py", b"x = 1\n")
    assert response.status_code == 202
    assert db.session.get(Submission, response.get_json()["id"]).late is True


def test_over_the_daily_limit(client, paraboloid, student_token, storage):
    for index in range(3):
        assert (
            post_upload(client, paraboloid.id, student_token, "s.py", f"x = {index}\n".encode()).status_code
            == 202
        )
    before = _counts(storage)
    response = post_upload(client, paraboloid.id, student_token, "s.py", b"x = 99\n")
    assert response.status_code == 429 and "3 submissions" in response.get_json()["detail"]
    assert _counts(storage) == before


def test_platform_failures_do_not_count_against_the_limit(client, paraboloid, student_token):
    for index in range(3):
        body = post_upload(client, paraboloid.id, student_token, "s.py", f"x = {index}\n".encode()).get_json()
        db.session.get(Submission, body["id"]).state = State.ERROR
    db.session.commit()
    assert post_upload(client, paraboloid.id, student_token, "s.py", b"x = 5\n").status_code == 202


def test_someone_elses_or_a_hidden_assignment_is_not_there(client, course, student_token, storage):
    """The upload checks visibility as GET /assignments/{id} does, before its policy: a 404 that says
    nothing of the assignment (not a 403 with its title), and nothing is stored."""
    other = Course(code="OTHER-101", title="Another course")
    db.session.add(other)
    db.session.commit()
    elsewhere = publish(other, "paraboloid")
    hidden = publish(course, "linear")
    hidden.hidden = True
    db.session.commit()
    before = _counts(storage)
    for assignment in (elsewhere, hidden):
        response = post_upload(client, assignment.id, student_token, "s.py", b"x = 1\n")
        assert response.status_code == 404 and response.mimetype == "application/problem+json"
        detail = response.get_json()["detail"]
        assert detail == f"There is no assignment {assignment.id} you can see."
        assert assignment.title not in response.get_data(as_text=True)
        seen = client.get(
            f"/api/v1/assignments/{assignment.id}", headers={"Authorization": f"Bearer {student_token}"}
        )
        assert seen.status_code == 404 and seen.get_json()["detail"] == detail  # the same answer as GET
    missing = post_upload(client, 999_999, student_token, "s.py", b"x = 1\n")
    assert (
        missing.status_code == 404
        and missing.get_json()["detail"] == "There is no assignment 999999 you can see."
    )
    assert _counts(storage) == before


def test_tokens_and_scopes(client, paraboloid, student):
    read_only = issue_token(student, "ro", ["read"])
    assert post_upload(client, paraboloid.id, read_only, "s.py", b"x=1\n").status_code == 403
    assert post_upload(client, paraboloid.id, "grd_nonsense", "s.py", b"x=1\n").status_code == 401
    response = client.post(f"/api/v1/assignments/{paraboloid.id}/submissions")
    assert response.status_code == 401 and "Bearer" in response.get_json()["detail"]


def test_students_cannot_see_each_others_submissions(client, course, paraboloid, student_token):
    body = post_upload(client, paraboloid.id, student_token, "s.py", b"x = 1\n").get_json()
    other = create_user("other@example.edu", "Other", Role.STUDENT)
    token = issue_token(other, "t", ["read"])
    assert client.get(body["url"], headers={"Authorization": f"Bearer {token}"}).status_code == 404
