"""The audit trail: each staff action that changes a grade or what students see leaves an entry (who,
when, what, why) in the same commit as the action; a refused action leaves none; the course's
instructors read it on a page, through the API and as CSV; nobody else does."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from support.courses import enroll
from support.grading import graded_as_worker
from support.pages import log_in, page_text
from support.uploads import submit

from grader.accounts.models import Role, User
from grader.accounts.services import create_user, issue_token
from grader.assignments import deadlines, visibility
from grader.assignments.services import publish
from grader.audit import services as trail
from grader.audit.models import Action, AuditEntry
from grader.courses.models import Course
from grader.extensions import db, utcnow
from grader.submissions import regrading, services


@pytest.fixture
def teacher(course: Course) -> User:
    user = create_user("audit-teacher@example.edu", "Grace Teacher", Role.INSTRUCTOR, "pw")
    enroll(course, user, Role.INSTRUCTOR)
    return user


@pytest.fixture
def teacher_token(teacher: User) -> str:
    return issue_token(teacher, "cli", ["read"])


def _entries(course: Course) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            select(AuditEntry).where(AuditEntry.course_id == course.id).order_by(AuditEntry.id)
        )
    )


def test_each_staff_action_is_recorded_with_who_what_and_why(
    client, course, student, student_token, teacher, paraboloid
):
    first = _entries(course)
    assert [e.action for e in first] == [Action.VERSION_PUBLISHED]  # the fixture's publication
    assert first[0].actor_label == "the system" and first[0].details["version"] == 1

    visibility.set_hidden(paraboloid, True, teacher)
    visibility.set_hidden(paraboloid, True, teacher)  # no change: no entry
    visibility.set_hidden(paraboloid, False, teacher)
    visibility.set_leaderboard(paraboloid, True, teacher)
    new_deadline = utcnow().replace(microsecond=0) + timedelta(days=9)
    paraboloid.deadline = utcnow() + timedelta(days=2)
    db.session.commit()
    deadlines.grant_extension(paraboloid, student, new_deadline, "Hospital stay, note seen", teacher)
    deadlines.revoke_extension(paraboloid, student, teacher)
    submission = submit(client, paraboloid, student_token)
    graded_as_worker(submission.id, score=40.0)
    services.regrade(submission, teacher)
    graded_as_worker(submission.id, score=60.0)
    regrading.regrade_all(paraboloid, teacher)

    entries = _entries(course)[1:]
    assert [e.action for e in entries] == [
        Action.ASSIGNMENT_HIDDEN, Action.ASSIGNMENT_SHOWN, Action.LEADERBOARD_CHANGED,
        Action.EXTENSION_GRANTED, Action.EXTENSION_REVOKED, Action.REGRADE, Action.REGRADE_ALL,
    ]  # fmt: skip
    assert all(
        e.actor_id == teacher.id and e.actor_label == "Grace Teacher <audit-teacher@example.edu>"
        for e in entries
    )
    granted = entries[3]
    assert granted.reason == "Hospital stay, note seen" and granted.student_id == student.id
    assert granted.details == {"deadline_utc": f"{new_deadline:%Y-%m-%d %H:%M}"}
    regrade = entries[5]
    assert (regrade.subject_type, regrade.subject_id, regrade.student_id) == (
        "submission",
        submission.id,
        student.id,
    )
    assert entries[6].details == {"version": 1, "submissions": 1}


def test_a_refused_action_leaves_no_entry(client, course, student, student_token, teacher, paraboloid):
    before = len(_entries(course))
    with pytest.raises(deadlines.ExtensionRefused):  # the assignment has no deadline to extend
        deadlines.grant_extension(paraboloid, student, utcnow() + timedelta(days=3), "why", teacher)
    submission = submit(client, paraboloid, student_token)
    with pytest.raises(services.UploadRefused):  # still queued: nothing to regrade yet
        services.regrade(submission, teacher)
    with pytest.raises(regrading.RegradeRefused):
        regrading.regrade_all(paraboloid, teacher)
    assert len(_entries(course)) == before


def test_a_new_version_published_from_the_course_page_names_its_publisher(client, course, teacher):
    token = log_in(client, teacher)
    response = client.post(f"/courses/{course.id}/publish", data={"csrf_token": token, "slug": "xor"})
    assert response.status_code == 303
    published = [e for e in _entries(course) if e.action == Action.VERSION_PUBLISHED]
    assert len(published) == 1 and published[0].actor_id == teacher.id
    assert published[0].subject_type == "assignment" and published[0].details["version"] == 1
    publish(course, "xor")  # the same spec again: no new version, no entry
    assert len([e for e in _entries(course) if e.action == Action.VERSION_PUBLISHED]) == 1


def test_instructors_read_the_trail_on_a_page_filtered_and_paged(
    client, course, student, teacher, paraboloid
):
    for n in range(55):
        trail.record(
            Action.EXTENSION_GRANTED, by=teacher, course_id=course.id,
            subject=trail.Subject("assignment", paraboloid.id, f"extension {n}"), reason=f"reason {n}",
        )  # fmt: skip
    db.session.commit()
    log_in(client, teacher)
    course_page = page_text(client.get(f"/courses/{course.id}"))
    assert f'href="/courses/{course.id}/audit"' in course_page
    page = page_text(client.get(f"/courses/{course.id}/audit"))
    assert "56 entries, newest first" in page and "extension 54" in page and "reason 54" in page
    assert "extension 4<" not in page and "Page 1 of 2" in page
    assert "extension 4<" in page_text(client.get(f"/courses/{course.id}/audit?page=2"))
    only = page_text(client.get(f"/courses/{course.id}/audit?action=version_published"))
    assert "1 entry of this action" in only and "extension 54" not in only
    refused = client.get(f"/courses/{course.id}/audit?action=dropped_tables")
    assert "There is no action 'dropped_tables' in the trail" in page_text(refused, 400)


def test_nobody_but_the_course_staff_reads_it(client, course, student, student_token, teacher, paraboloid):
    log_in(client, student)
    assert client.get(f"/courses/{course.id}/audit").status_code == 404
    assert client.get(f"/courses/{course.id}/audit.csv").status_code == 404
    api = client.get(
        f"/api/v1/courses/{course.id}/audit", headers={"Authorization": f"Bearer {student_token}"}
    )
    assert api.status_code == 403 and api.get_json()["detail"] == (
        "Only the course's instructors can read the course's audit trail."
    )
    other = Course(code="ELSEWHERE-7", title="Another course")
    db.session.add(other)
    db.session.commit()
    stranger = create_user("stranger-teacher@example.edu", "Other Teacher", Role.INSTRUCTOR, "pw")
    enroll(other, stranger, Role.INSTRUCTOR)
    stranger_token = issue_token(stranger, "cli", ["read"])
    api = client.get(
        f"/api/v1/courses/{course.id}/audit", headers={"Authorization": f"Bearer {stranger_token}"}
    )
    assert api.status_code == 404


def test_the_api_and_the_csv_give_the_whole_trail_safe_for_a_spreadsheet(
    client, course, student, teacher, teacher_token, paraboloid
):
    paraboloid.deadline = utcnow() + timedelta(days=2)
    db.session.commit()
    deadlines.grant_extension(
        paraboloid, student, utcnow() + timedelta(days=5), '=HYPERLINK("http://evil.example","x")', teacher
    )
    auth = {"Authorization": f"Bearer {teacher_token}"}
    body = client.get(f"/api/v1/courses/{course.id}/audit?per_page=1", headers=auth).get_json()
    assert body["total"] == 2 and body["pages"] == 2
    newest = body["items"][0]
    assert (
        newest["action"] == "extension_granted" and newest["action_words"] == "granted a deadline extension"
    )
    assert newest["actor_id"] == teacher.id and newest["student_id"] == student.id
    filtered = client.get(
        f"/api/v1/courses/{course.id}/audit?action=version_published", headers=auth
    ).get_json()
    assert [e["action"] for e in filtered["items"]] == ["version_published"]

    for response in (client.get(f"/api/v1/courses/{course.id}/audit.csv", headers=auth),):
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert "audit-trail.csv" in response.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
        assert rows[0][:4] == ["when_utc", "who", "action", "what"]
        assert [r[2] for r in rows[1:]] == [
            "published a version of an assignment",
            "granted a deadline extension",
        ]
        assert rows[2][7] == '\'=HYPERLINK("http://evil.example","x")'  # text, not a formula
    log_in(client, teacher)
    page_csv = client.get(f"/courses/{course.id}/audit.csv")
    assert page_csv.status_code == 200 and page_csv.get_data(as_text=True).count("\r\n") == 3


def test_the_trail_outlives_the_accounts_it_names(
    client, course, student, student_token, teacher, paraboloid
):
    visibility.set_hidden(paraboloid, True, teacher)
    db.session.delete(teacher)
    db.session.commit()
    entry = _entries(course)[-1]
    assert entry.actor_id is None and entry.actor_label == "Grace Teacher <audit-teacher@example.edu>"
    assert (
        db.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.course_id == course.id)
        )
        == 2
    )
