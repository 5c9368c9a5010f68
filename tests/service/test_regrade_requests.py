"""Regrade requests and scores set by hand: a student asks with a reason (one open request per
assignment); the course's instructors answer with a comment and a regrade, a score set by hand, or a
no; the student reads the answer; the set score is the grade everywhere (scoreboard, exports, webhooks)
and the audit trail shows who did what and why. Refusals name what was wrong and write nothing."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select
from support.courses import enroll
from support.grading import graded_as_worker
from support.pages import log_in, log_out, page_text
from support.uploads import submit

from grader.accounts.models import Role, User
from grader.accounts.services import create_user, issue_token
from grader.audit.models import Action, AuditEntry
from grader.courses.models import Course
from grader.extensions import db
from grader.regrade_requests.models import RegradeRequest, RequestState
from grader.submissions.models import State, Submission
from grader.webhooks import services as webhooks
from grader.webhooks.models import WebhookDelivery

REASON = "My MSE is below the threshold in my own run; the hidden set may differ from the spec."


@pytest.fixture
def teacher(course: Course) -> User:
    user = create_user("requests-teacher@example.edu", "Grace Teacher", Role.INSTRUCTOR, "pw")
    enroll(course, user, Role.INSTRUCTOR)
    return user


@pytest.fixture
def teacher_token(teacher: User) -> str:
    return issue_token(teacher, "cli", ["read", "grade"])


@pytest.fixture
def graded(client, paraboloid, student_token) -> Submission:  # type: ignore[no-untyped-def]
    submission = submit(client, paraboloid, student_token)
    graded_as_worker(submission.id, score=60.0)
    db.session.refresh(submission)
    return submission


def _ask(client, submission_id: int, reason: str = REASON):  # type: ignore[no-untyped-def]
    page = page_text(client.get(f"/submissions/{submission_id}/regrade-requests/new"))
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    return client.post(
        f"/submissions/{submission_id}/regrade-requests", data={"csrf_token": token, "reason": reason}
    )


def _trail(course: Course) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            select(AuditEntry).where(AuditEntry.course_id == course.id).order_by(AuditEntry.id)
        )
    )


def test_a_student_asks_once_at_a_time_and_refusals_keep_what_they_typed(client, course, student, graded):
    log_in(client, student)
    result = page_text(client.get(f"/submissions/{graded.id}/result"))
    assert 'id="ask-regrade"' in result
    too_short = _ask(client, graded.id, "wrong")
    assert "A reason is needed (at least 10 characters)" in page_text(too_short, 400)
    assert ">wrong</textarea>" in page_text(too_short, 400)
    asked = _ask(client, graded.id)
    assert asked.status_code == 303
    request = db.session.scalars(select(RegradeRequest)).one()
    assert (request.state, request.reason, request.score_when_asked) == (RequestState.OPEN, REASON, 60.0)
    page = page_text(client.get(asked.headers["Location"]))
    assert "waiting for an answer" in page and REASON in page and 'id="answer-form"' not in page
    again = _ask(client, graded.id, "And another thing about the same grade.")
    text = page_text(again, 409)
    assert (
        "You already have an open regrade request for 'Fit a paraboloid'" in text
        or "already have an open" in text
    )
    assert "And another thing about the same grade.</textarea>" in text
    assert 'id="ask-regrade"' not in page_text(client.get(f"/submissions/{graded.id}/result"))


def test_nobody_else_asks_or_reads_and_an_ungraded_submission_cannot_be_asked_about(
    client, course, student, student_token, graded, paraboloid
):
    queued = submit(client, paraboloid, student_token)
    log_in(client, student)
    assert "can be asked for once it has been graded" in page_text(_ask(client, queued.id), 409)
    log_out(client)
    other = create_user("other-student@example.edu", "Bo Other", Role.STUDENT, "pw")
    enroll(course, other)
    log_in(client, other)
    assert client.get(f"/submissions/{graded.id}/regrade-requests/new").status_code == 404
    token = issue_token(other, "cli", ["read", "submit"])
    api = client.post(
        f"/api/v1/submissions/{graded.id}/regrade-requests", json={"reason": REASON},
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert api.status_code == 404
    assert client.get(f"/courses/{course.id}/regrade-requests").status_code == 404
    assert db.session.scalars(select(RegradeRequest)).all() == []


def test_the_instructor_sets_the_score_by_hand_and_it_is_the_grade_everywhere(
    client, course, student, teacher, teacher_token, graded, paraboloid
):
    webhooks.register(course.id, "https://hooks.example.edu/grader", teacher)
    log_in(client, student)
    _ask(client, graded.id)
    log_out(client)
    token = log_in(client, teacher)
    assert "<strong>1 open</strong>" in page_text(client.get(f"/courses/{course.id}"))
    queue = page_text(client.get(f"/courses/{course.id}/regrade-requests"))
    assert "Ada Student" in queue and "<strong>open</strong>" in queue
    request = db.session.scalars(select(RegradeRequest)).one()
    form = page_text(client.get(f"/regrade-requests/{request.id}"))
    assert 'id="answer-form"' in form
    too_high = client.post(
        f"/regrade-requests/{request.id}/answer",
        data={"csrf_token": token, "decision": "adjust", "score": "140", "comment": "Checked by hand."},
    )
    text = page_text(too_high, 400)
    assert "A score is between 0 and 100" in text and "Checked by hand.</textarea>" in text
    answered = client.post(
        f"/regrade-requests/{request.id}/answer",
        data={"csrf_token": token, "decision": "adjust", "score": "85", "comment": "Your run is fine: 85."},
    )
    assert answered.status_code == 303
    db.session.refresh(request)
    db.session.refresh(graded)
    assert request.state is RequestState.ADJUSTED and request.score_set == 85.0
    assert graded.result.score == 85.0 and graded.result.adjustment.machine_score == 60.0

    # The grade everywhere: scoreboard, grades, the Canvas CSV; the webhooks' two events.
    auth = {"Authorization": f"Bearer {teacher_token}"}
    grades = client.get(f"/api/v1/assignments/{paraboloid.id}/grades", headers=auth).get_json()
    assert [g["grade"] for g in grades["items"] if g["grade"] is not None] == [85.0]
    exported = client.get(f"/api/v1/assignments/{paraboloid.id}/grades.csv?format=moodle", headers=auth)
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[1][-1] in ("85", "85.0")
    board = client.get(f"/api/v1/assignments/{paraboloid.id}/scoreboard", headers=auth).get_json()
    [row] = [r for r in board["items"] if r["submission_id"] == graded.id]
    assert row["score"] == 85.0 and row["set_by_hand"] is True and row["left"] is False
    assert "set by hand</span>" in page_text(client.get(f"/assignments/{paraboloid.id}/scoreboard"))
    full = list(
        csv.reader(
            io.StringIO(client.get(f"/assignments/{paraboloid.id}/scoreboard.csv").get_data(as_text=True))
        )
    )
    assert full[0][-2:] == ["set_by_hand", "left_the_course"] and full[1][-2:] == ["yes", "no"]
    events = sorted(d.event for d in db.session.scalars(select(WebhookDelivery)))
    assert events == ["regrade_request.answered", "submission.scored"]
    scored = db.session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.event == "submission.scored")
    ).one()
    assert scored.payload["result"]["score"] == 85.0 and scored.payload["result"]["score_set_by_hand"] is True
    assert scored.payload["result"]["machine_score"] == 60.0
    trail = [(e.action, e.reason) for e in _trail(course)][-2:]
    assert trail == [
        (Action.SCORE_ADJUSTED, "Your run is fine: 85."),
        (Action.REGRADE_REQUEST_ANSWERED, "Your run is fine: 85."),
    ]
    log_out(client)

    log_in(client, student)
    result = page_text(client.get(f"/submissions/{graded.id}/result"))
    assert "Score set by hand by Grace Teacher" in result and "(the grader's own score: 60)" in result
    assert "answered (adjusted)" in result
    page = page_text(client.get(f"/regrade-requests/{request.id}"))
    assert "Your run is fine: 85." in page and "score set to 85" in page


def test_a_regrade_against_the_same_version_and_a_decline(
    client, course, student, student_token, teacher, teacher_token, graded, paraboloid
):
    auth = {"Authorization": f"Bearer {teacher_token}"}
    mine = {"Authorization": f"Bearer {student_token}"}
    asked = client.post(
        f"/api/v1/submissions/{graded.id}/regrade-requests", json={"reason": REASON}, headers=mine
    )
    assert asked.status_code == 201 and asked.headers["Location"] == asked.get_json()["url"]
    request_id = asked.get_json()["id"]
    by_student = client.post(
        f"/api/v1/regrade-requests/{request_id}/answer",
        json={"decision": "decline", "comment": "no"},
        headers=mine,
    )
    assert by_student.status_code == 403
    listed = client.get(f"/api/v1/courses/{course.id}/regrade-requests?state=open", headers=auth).get_json()
    assert [r["id"] for r in listed["items"]] == [request_id]
    regraded = client.post(
        f"/api/v1/regrade-requests/{request_id}/answer",
        json={"decision": "regrade_same_version", "comment": "Training it again on the same hidden set."},
        headers=auth,
    )
    assert regraded.status_code == 200 and regraded.get_json()["state"] == "regraded"
    db.session.refresh(graded)
    assert graded.state in (State.RECEIVED, State.QUEUED) and graded.result is None
    again = client.post(
        f"/api/v1/regrade-requests/{request_id}/answer",
        json={"decision": "decline", "comment": "twice"},
        headers=auth,
    )
    assert again.status_code == 409 and "already been answered" in again.get_json()["detail"]

    graded_as_worker(graded.id, score=70.0)
    second = client.post(
        f"/api/v1/submissions/{graded.id}/regrade-requests", json={"reason": REASON}, headers=mine
    )
    assert second.status_code == 201  # the first was answered: a new one may be asked
    declined = client.post(
        f"/api/v1/regrade-requests/{second.get_json()['id']}/answer",
        json={"decision": "decline", "comment": "The grade stands: the threshold is in the spec."}, headers=auth,
    )  # fmt: skip
    assert declined.get_json()["state"] == "declined"
    db.session.refresh(graded)
    assert graded.result.score == 70.0
    own = client.get(f"/api/v1/submissions/{graded.id}/regrade-requests", headers=mine).get_json()
    assert [(r["state"], r["answer"][:9]) for r in own["items"]] == [
        ("regraded", "Training "), ("declined", "The grade"),
    ]  # fmt: skip


def test_a_score_set_by_hand_through_the_api_and_given_back(
    client, course, teacher, teacher_token, student_token, graded
):
    auth = {"Authorization": f"Bearer {teacher_token}"}
    not_set = client.delete(f"/api/v1/submissions/{graded.id}/score", headers=auth)
    assert not_set.status_code == 409 and "was not set by hand" in not_set.get_json()["detail"]
    by_student = client.put(
        f"/api/v1/submissions/{graded.id}/score", json={"score": 100, "reason": "mine"},
        headers={"Authorization": f"Bearer {student_token}"},
    )  # fmt: skip
    assert by_student.status_code == 403
    out_of_range = client.put(
        f"/api/v1/submissions/{graded.id}/score", json={"score": -1, "reason": "x"}, headers=auth
    )
    assert out_of_range.status_code == 400 and "between 0 and 100" in out_of_range.get_json()["detail"]
    set_ = client.put(
        f"/api/v1/submissions/{graded.id}/score",
        json={"score": 90, "reason": "Late penalty waived"},
        headers=auth,
    )
    assert set_.get_json() == {
        "submission_id": graded.id, "score": 90.0, "max_score": 100.0, "set_by_hand": True,
        "machine_score": 60.0, "reason": "Late penalty waived",
    }  # fmt: skip
    given_back = client.delete(f"/api/v1/submissions/{graded.id}/score", headers=auth).get_json()
    assert given_back["score"] == 60.0 and given_back["set_by_hand"] is False
    assert [e.action for e in _trail(course)][-2:] == [Action.SCORE_ADJUSTED, Action.ADJUSTMENT_REMOVED]
