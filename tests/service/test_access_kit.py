"""One access kit (grader/access) for the pages and the API: the same thing refused the same way,
as an error page to a browser and as problem+json to a script, with the same words; and what only
staff may do refused by the service itself, whoever calls it."""

from __future__ import annotations

import pytest
from support.pages import log_in, page_text

from grader.access.kit import require_assignment, require_course, require_submission
from grader.accounts.models import Role
from grader.accounts.services import issue_token
from grader.assignments.services import publish
from grader.courses.models import Course
from grader.denials import NotYours, StaffOnly
from grader.extensions import db
from grader.submissions import regrading, services
from grader.submissions.models import State, Submission

from .apidata import bearer, grade, new_user, upload


def _other_course() -> Course:
    other = Course(code="OTHER-101", title="Another course")
    db.session.add(other)
    db.session.commit()
    return other


def test_a_page_and_the_api_refuse_the_same_thing_with_the_same_words(client, course, paraboloid, student):
    """Another student's submission, another course's assignment, a hidden one: a 404 that tells
    nothing of what exists, worded the same on the page and in the API's problem detail."""
    classmate = new_user(course, Role.STUDENT, "Grace")
    theirs = upload(client, paraboloid.id, issue_token(classmate, "cli", ["read", "submit"]))["id"]
    elsewhere = publish(_other_course(), "paraboloid")
    hidden = publish(course, "linear")
    hidden.hidden = True
    db.session.commit()
    token = issue_token(student, "cli", ["read", "submit"])
    log_in(client, student)

    refused = {
        f"/submissions/{theirs}": f"There is no submission {theirs} you can see.",
        f"/assignments/{elsewhere.id}": f"There is no assignment {elsewhere.id} you can see.",
        f"/assignments/{hidden.id}": f"There is no assignment {hidden.id} you can see.",
    }
    for path, words in refused.items():
        assert words in page_text(client.get(path), 404)
        answer = client.get(f"/api/v1{path}", headers=bearer(token))
        assert answer.status_code == 404 and answer.mimetype == "application/problem+json"
        assert answer.get_json()["detail"] == words and answer.get_json()["title"] == "Not Found"
    assert hidden.title not in page_text(client.get(f"/assignments/{hidden.id}"), 404)


def test_a_student_sees_their_own_result_but_only_staff_regrade_it(client, course, paraboloid, student):
    mine = upload(client, paraboloid.id, issue_token(student, "cli", ["read", "submit", "grade"]))["id"]
    grade(mine)
    token = log_in(client, student)
    assert client.get(f"/submissions/{mine}/result").status_code == 200

    words = "Only the course's instructors can regrade a submission."
    page = client.post(f"/submissions/{mine}/regrade", data={"csrf_token": token})
    assert words in page_text(page, 403)
    api = client.post(
        f"/api/v1/submissions/{mine}/regrade",
        headers=bearer(issue_token(student, "grader", ["read", "grade"])),
    )
    assert api.status_code == 403 and api.get_json()["detail"] == words
    # The service refuses it too, whoever calls it (a CLI, a task), and nothing is reset.
    submission = db.session.get(Submission, mine)
    with pytest.raises(StaffOnly, match="regrade a submission"):
        services.regrade(submission, student)
    with pytest.raises(StaffOnly, match="regrade an assignment's submissions"):
        regrading.regrade_all(paraboloid, student)
    db.session.expire_all()
    assert db.session.get(Submission, mine).state is State.SCORED

    teacher = new_user(course, Role.INSTRUCTOR, "Ines")
    services.regrade(db.session.get(Submission, mine), teacher)
    assert not db.session.get(Submission, mine).state.final  # queued to be graded again


def test_staff_of_another_course_are_strangers_there(course, paraboloid, student):
    """Teaching one course gives nothing in another: its assignments and submissions are not there
    (404), not merely forbidden (403), which would say they exist."""
    stranger = new_user(_other_course(), Role.INSTRUCTOR, "Otto")
    with pytest.raises(NotYours):
        require_assignment(stranger, paraboloid.id, staff_to="see its scoreboard")
    with pytest.raises(NotYours, match="that you teach"):
        require_course(stranger, course.id, staff=True)
    with pytest.raises(NotYours, match="you are enrolled in"):
        require_course(stranger, course.id, staff_to="manage its webhooks")
    # Its own student reaches the assignment, and is told what only staff may do with it.
    assert require_assignment(student, paraboloid.id) == paraboloid
    with pytest.raises(StaffOnly, match=r"Only the course's instructors can see its scoreboard\."):
        require_assignment(student, paraboloid.id, staff_to="see its scoreboard")
    with pytest.raises(NotYours):
        require_submission(stranger, 10**9)
