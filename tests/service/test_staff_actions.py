"""Instructors' actions on an assignment: hide it, its leaderboard setting, a student's own deadline,
regrading every submission with the batch's progress; and that nobody else reaches any of them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import redis
from sqlalchemy import event, func, select, update
from support.assignments import FIXED, copy_paraboloid
from support.courses import enroll
from support.pages import log_in, page_text, upload_through_form
from support.uploads import post_upload

from grader import worker_slot
from grader.accounts.models import Role, User
from grader.accounts.services import create_user
from grader.assignments.deadlines import effective_deadline, grant_extension
from grader.assignments.models import Assignment, DeadlineExtension
from grader.assignments.services import publish
from grader.courses.models import Course
from grader.engine.runner.grade import GradeReport
from grader.engine.verdicts import Verdict
from grader.extensions import db, utcnow
from grader.submissions import regrading
from grader.submissions.models import Attempt, RegradeBatch, Result, State, StoredFile, Submission
from grader.workers import grading


@pytest.fixture
def teacher(course: Course) -> User:
    user = create_user("staff-teacher@example.edu", "Grace Teacher", Role.INSTRUCTOR, "pw")
    enroll(course, user, Role.INSTRUCTOR)
    return user


@pytest.fixture
def outsider(session: None) -> User:
    """An instructor, but of another course."""
    other = Course(code="ELSEWHERE-9", title="Someone else's course")
    db.session.add(other)
    db.session.commit()
    user = create_user("other-teacher@example.edu", "Other Teacher", Role.INSTRUCTOR, "pw")
    enroll(other, user, Role.INSTRUCTOR)
    return user


@pytest.fixture
def storage(app):  # type: ignore[no-untyped-def]
    return app.extensions["grader.config"].storage_dir


def _counts(storage) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    return (
        db.session.scalar(select(func.count(Submission.id))) or 0,
        db.session.scalar(select(func.count()).select_from(StoredFile)) or 0,
        sum(1 for p in storage.rglob("*") if p.is_file()),
    )


def _logout(client, token: str) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303


def _minute(moment) -> str:  # type: ignore[no-untyped-def]
    """As a datetime-local input sends it."""
    return f"{moment:%Y-%m-%dT%H:%M}"


def _finish(submission_id: int, verdict: Verdict = Verdict.SCORED, score: float | None = 100.0) -> None:
    """A worker's claim and finish, as after training (the states and rows a real grading leaves)."""
    attempt = grading.claim(submission_id, "test-worker")
    assert attempt is not None
    report = GradeReport(
        "paraboloid", verdict, "msg", "mse", 5e-4 if score else None, score, 100.0, bool(score)
    )
    assert grading.finish(submission_id, attempt, report)


# Hide and show


def test_a_hidden_assignment_is_hidden_from_students_everywhere_but_not_from_staff(
    client, course, student, student_token, teacher, paraboloid, storage
):
    token = log_in(client, teacher)
    course_page = page_text(client.get(f"/courses/{course.id}"))
    assert f'action="/assignments/{paraboloid.id}/settings/hidden"' in course_page
    assert "Hide from students" in course_page and "Leaderboard off" in course_page
    hidden = client.post(
        f"/assignments/{paraboloid.id}/settings/hidden", data={"csrf_token": token, "value": "on"}
    )
    assert hidden.status_code == 303 and hidden.headers["Location"] == f"/courses/{course.id}"
    db.session.refresh(paraboloid)
    assert paraboloid.hidden is True
    course_page = page_text(client.get(f"/courses/{course.id}"))
    assert "is now hidden from students" in course_page and "Show to students" in course_page
    row = course_page[course_page.index(paraboloid.title) :]
    assert row.index("hidden") < row.index("</td>")  # marked in its own row
    # Staff still see it, open it, download its starter and may test it.
    assert "hidden from students" in page_text(client.get("/"))
    assert "Hidden from students." in page_text(client.get(f"/assignments/{paraboloid.id}"))
    assert client.get(f"/assignments/{paraboloid.id}/starter.py").status_code == 200
    assert upload_through_form(client, paraboloid.id, token, "staff-test.py", FIXED).status_code == 303
    _logout(client, token)

    student_token_web = log_in(client, student)
    assert f"/assignments/{paraboloid.id}" not in page_text(client.get("/"))
    assert client.get(f"/assignments/{paraboloid.id}").status_code == 404
    assert client.get(f"/assignments/{paraboloid.id}/starter.py").status_code == 404
    before = _counts(storage)
    refused = upload_through_form(client, paraboloid.id, student_token_web, "s.py", FIXED)
    assert f"no assignment {paraboloid.id}" in page_text(refused, 404)
    api = post_upload(client, paraboloid.id, student_token, "s.py", FIXED)
    assert api.status_code == 404 and api.mimetype == "application/problem+json"
    detail = api.get_json()["detail"]
    assert detail == f"There is no assignment {paraboloid.id} you can see."  # as GET /assignments/{id}
    assert paraboloid.title not in detail  # a hidden assignment's title is not told to students
    assert _counts(storage) == before
    _logout(client, student_token_web)

    token = log_in(client, teacher)
    shown = client.post(
        f"/assignments/{paraboloid.id}/settings/hidden", data={"csrf_token": token, "value": "off"}
    )
    assert shown.status_code == 303
    _logout(client, token)
    student_token_web = log_in(client, student)
    assert f"/assignments/{paraboloid.id}" in page_text(client.get("/"))
    assert upload_through_form(client, paraboloid.id, student_token_web, "s.py", FIXED).status_code == 303
    assert post_upload(client, paraboloid.id, student_token, "s.py", b"x = 1\n").status_code == 202


def test_the_leaderboard_setting(client, course, teacher, paraboloid):
    token = log_in(client, teacher)
    done = client.post(
        f"/assignments/{paraboloid.id}/settings/leaderboard", data={"csrf_token": token, "value": "on"}
    )
    assert done.status_code == 303
    db.session.refresh(paraboloid)
    assert paraboloid.leaderboard is True and paraboloid.hidden is False
    page = page_text(client.get(f"/courses/{course.id}"))
    assert "The leaderboard of" in page and "Leaderboard on" in page and "Turn leaderboard off" in page
    bad = client.post(
        f"/assignments/{paraboloid.id}/settings/leaderboard", data={"csrf_token": token, "value": "maybe"}
    )
    assert "value=on or value=off" in page_text(bad, 400)
    forged = client.post(f"/assignments/{paraboloid.id}/settings/leaderboard", data={"value": "off"})
    assert forged.status_code == 400
    db.session.refresh(paraboloid)
    assert paraboloid.leaderboard is True


# A student's own deadline


def test_an_extension_lets_a_student_submit_after_the_deadline_and_is_shown_to_them(
    client, course, student, student_token, teacher, storage
):
    # paraboloid's spec: late work loses 10% per started day, for up to 3 days; this is 5 days ago.
    assignment = publish(course, "paraboloid", deadline=utcnow() - timedelta(days=5))
    refused = post_upload(client, assignment.id, student_token, "s.py", b"x = 1\n")
    assert refused.status_code == 403 and "The deadline of" in refused.get_json()["detail"]

    token = log_in(client, teacher)
    board = page_text(client.get(f"/assignments/{assignment.id}/scoreboard"))
    assert f'href="/assignments/{assignment.id}/students/{student.id}"' in board
    page = page_text(client.get(f"/assignments/{assignment.id}/students/{student.id}"))
    assert "No extension" in page and 'for="deadline"' in page and 'for="reason"' in page
    until = utcnow() + timedelta(days=2)
    granted = client.post(
        f"/assignments/{assignment.id}/students/{student.id}/extension",
        data={"csrf_token": token, "deadline": _minute(until), "reason": "ill for a week"},
    )
    assert granted.status_code == 303, granted.get_data(as_text=True)
    page = page_text(client.get(granted.headers["Location"]))
    assert f"deadline for {assignment.title!r} is now {until:%Y-%m-%d %H:%M} UTC" in page
    assert "ill for a week" in page and "by Grace Teacher" in page and "Revoke the extension" in page
    _logout(client, token)

    accepted = post_upload(client, assignment.id, student_token, "s.py", b"x = 1\n")
    assert accepted.status_code == 202, accepted.get_json()
    assert db.session.get(Submission, accepted.get_json()["id"]).late is False
    web_token = log_in(client, student)
    mine = page_text(client.get(f"/assignments/{assignment.id}"))
    fact = mine[mine.index('id="deadline"') : mine.index("</div>", mine.index('id="deadline"'))]
    assert "Your deadline (extended for you)" in fact and f"{until:%Y-%m-%d %H:%M} UTC" in fact
    assert re.search(r"1 day \d+ hours? left", fact), fact
    assert "an extension" in fact and f"{assignment.deadline:%Y-%m-%d %H:%M}" in fact
    assert "Your deadline (extended)" in page_text(client.get("/"))
    assert upload_through_form(client, assignment.id, web_token, "fixed.py", FIXED).status_code == 303
    _logout(client, web_token)

    # Revoked: the class's deadline applies again, and the refusal names it.
    token = log_in(client, teacher)
    revoked = client.post(
        f"/assignments/{assignment.id}/students/{student.id}/extension/revoke", data={"csrf_token": token}
    )
    assert revoked.status_code == 303
    assert "extension is revoked" in page_text(client.get(revoked.headers["Location"]))
    assert db.session.scalar(select(func.count(DeadlineExtension.id))) == 0
    before = _counts(storage)
    again = post_upload(client, assignment.id, student_token, "s.py", b"x = 2\n")
    assert again.status_code == 403 and "The deadline of" in again.get_json()["detail"]
    assert _counts(storage) == before


def test_the_refusal_names_the_students_own_deadline(client, course, student, student_token, teacher):
    assignment = publish(course, "paraboloid", deadline=utcnow() - timedelta(days=10))
    grant_extension(assignment, student, utcnow() + timedelta(hours=1), "", teacher)
    extension = db.session.scalar(select(DeadlineExtension))
    extension.deadline = utcnow() - timedelta(days=4)  # it has run out, and its late window with it
    db.session.commit()
    response = post_upload(client, assignment.id, student_token, "s.py", b"x = 1\n")
    detail = response.get_json()["detail"]
    assert response.status_code == 403 and detail.startswith("Your extended deadline for")
    assert f"{extension.deadline:%Y-%m-%d %H:%M} UTC" in detail and "accepted for 3 day(s)" in detail


def test_a_bad_extension_date_is_refused_and_changes_nothing(client, course, student, teacher):
    assignment = publish(course, "paraboloid", deadline=utcnow() + timedelta(days=1))
    token = log_in(client, teacher)
    url = f"/assignments/{assignment.id}/students/{student.id}/extension"
    first = utcnow() + timedelta(days=3)
    assert client.post(url, data={"csrf_token": token, "deadline": _minute(first)}).status_code == 303
    cases = [
        ("next friday", "'next friday' is not a date and time, e.g. 2026-12-15T23:59 (UTC)"),
        ("", "The new deadline must be a date and time"),
        (_minute(utcnow() - timedelta(hours=2)), "is in the past"),
        (_minute(utcnow() + timedelta(hours=2)), "must end after the assignment's deadline"),
    ]
    for typed, words in cases:
        response = client.post(url, data={"csrf_token": token, "deadline": typed, "reason": "why"})
        body = page_text(response, 400)
        assert words in body, (typed, body[:2000])
        assert "Nothing was changed." in body and 'role="alert"' in body
        assert f'value="{typed}"' in body  # what was typed is kept for correcting
    too_long = client.post(url, data={"csrf_token": token, "deadline": _minute(first), "reason": "x" * 201})
    assert "at most 200 characters" in page_text(too_long, 400)
    forged = client.post(url, data={"deadline": _minute(first + timedelta(days=1))})
    assert forged.status_code == 400
    (kept,) = db.session.scalars(select(DeadlineExtension)).all()
    db.session.refresh(kept)
    assert kept.deadline == first.replace(second=0, microsecond=0) and kept.reason == ""
    # Without a deadline there is nothing to extend.
    open_ended = publish(course, "xor")
    open_ended.deadline = None
    db.session.commit()
    none = client.post(
        f"/assignments/{open_ended.id}/students/{student.id}/extension",
        data={"csrf_token": token, "deadline": _minute(first)},
    )
    assert "has no deadline" in page_text(none, 400)
    assert db.session.scalar(select(func.count(DeadlineExtension.id))) == 1


def test_the_late_penalty_counts_from_the_extension(
    client, course, student, student_token, teacher, monkeypatch
):
    # Training is replaced by a fixed report (the sandbox is not under test); grading.run is real,
    # with its database and its lease.
    report = GradeReport("paraboloid", Verdict.SCORED, "MSE 0.0005", "mse", 5e-4, 100.0, 100.0, True)
    monkeypatch.setattr(grading, "grade", lambda *args, **kwargs: report)
    monkeypatch.setattr(worker_slot, "current", lambda: worker_slot.Slot(None, 1, None, None, None))
    # Two started days late for the class: 20% off without the extension.
    assignment = publish(course, "paraboloid", deadline=utcnow() - timedelta(days=1, hours=2))
    grant_extension(assignment, student, utcnow() + timedelta(days=1), "", teacher)
    on_time = post_upload(client, assignment.id, student_token, "fixed.py", FIXED).get_json()["id"]
    assert grading.run(on_time, "w1") == "finished"
    result = db.session.scalar(select(Result).where(Result.submission_id == on_time))
    assert result.score == 100.0 and result.details["late"]["days"] == 0
    # The extension has run out an hour ago: one started day late, 10% off (not the class's 20%).
    extension = db.session.scalar(select(DeadlineExtension))
    extension.deadline = utcnow() - timedelta(hours=1)
    db.session.commit()
    assert effective_deadline(assignment, student) == extension.deadline
    late = post_upload(client, assignment.id, student_token, "fixed.py", FIXED).get_json()["id"]
    assert db.session.get(Submission, late).late is True
    assert grading.run(late, "w1") == "finished"
    result = db.session.scalar(select(Result).where(Result.submission_id == late))
    assert result.score == 90.0 and result.details["late"] == {
        "days": 1,
        "penalty_percent": 10.0,
        "score_before_penalty": 100.0,
    }


def test_an_extension_never_shortens_a_deadline(course, student, teacher):
    assignment = publish(course, "paraboloid", deadline=utcnow() + timedelta(days=1))
    grant_extension(assignment, student, utcnow() + timedelta(days=2), "", teacher)
    assignment.deadline = utcnow() + timedelta(days=5)  # the class's deadline moved past it
    db.session.commit()
    assert effective_deadline(assignment, student) == assignment.deadline
    assignment.deadline = None
    db.session.commit()
    assert effective_deadline(assignment, student) is None


# Regrade everything


def _submissions(client, assignment: Assignment, token: str, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    assignment.daily_limit = 50  # the fixture's 3 a day would stop the class short
    db.session.commit()
    return [
        post_upload(client, assignment.id, token, "s.py", f"x = {i}\n".encode()).get_json()["id"]
        for i in range(count)
    ]


def test_regrade_all_queues_every_finished_submission_once_after_one_commit(
    app, client, course, student, student_token, teacher, tmp_path, monkeypatch
):
    other = create_user("second-student@example.edu", "Bo Student", Role.STUDENT, "pw")
    enroll(course, other)
    from grader.accounts.services import issue_token

    other_token = issue_token(other, "cli", ["read", "submit"])
    folder = copy_paraboloid(tmp_path)
    assignment = publish(course, str(folder))
    scored, failed, errored, running = _submissions(client, assignment, student_token, 4)
    (waiting,) = _submissions(client, assignment, other_token, 1)
    _finish(scored)
    _finish(failed, Verdict.RUNTIME_ERROR, None)
    db.session.execute(update(Submission).where(Submission.id == errored).values(state=State.ERROR))
    assert grading.claim(running, "busy-worker") == 1
    # A new version: earlier submissions stay on version 1 until regraded.
    (folder / "assignment.toml").write_text((folder / "assignment.toml").read_text() + "\n# v2\n")
    assignment = publish(course, str(folder))
    assert len(assignment.versions) == 2
    (on_v2,) = _submissions(client, assignment, other_token, 1)
    _finish(on_v2, score=50.0)
    finished = sorted([scored, failed, errored, on_v2])

    celery = app.extensions["celery"]
    broker = redis.Redis.from_url(app.extensions["grader.config"].broker_url)
    queued_before = broker.llen("cpu")
    log: list[str] = []
    seen_at_send: list[tuple[int, State, int]] = []
    real_send = celery.send_task

    def sending(name, args, **kwargs):  # type: ignore[no-untyped-def]
        log.append(f"send {args[0]}")
        state = db.session.scalar(select(Submission.state).where(Submission.id == args[0]))
        results = db.session.scalar(select(func.count(Result.id)).where(Result.submission_id.in_(finished)))
        seen_at_send.append((args[0], state, results))
        return real_send(name, args=args, **kwargs)

    def committed(_session) -> None:  # type: ignore[no-untyped-def]
        log.append("commit")

    monkeypatch.setattr(celery, "send_task", sending)
    listened = db.session()
    event.listen(listened, "after_commit", committed)
    try:
        batch = regrading.regrade_all(assignment, teacher)
    finally:
        event.remove(listened, "after_commit", committed)

    assert sorted(batch.submission_ids) == finished
    sends = [entry for entry in log if entry.startswith("send")]
    assert sorted(int(s.split()[1]) for s in sends) == finished  # each one once; never the busy ones
    assert log[0] == "commit" and log.index(sends[0]) == 1  # one commit, then the messages
    assert all(state is State.RECEIVED and results == 0 for _, state, results in seen_at_send)
    assert broker.llen("cpu") == queued_before + len(finished)
    for submission_id in finished:
        submission = db.session.get(Submission, submission_id)
        db.session.refresh(submission)
        assert submission.state is State.QUEUED and submission.attempts == 0
        assert submission.assignment_version_id == assignment.current.id and submission.result is None
    assert not db.session.scalars(select(Attempt).where(Attempt.submission_id.in_(finished))).all()
    for busy, state in ((running, State.RUNNING), (waiting, State.QUEUED)):
        submission = db.session.get(Submission, busy)
        db.session.refresh(submission)
        assert submission.state is state and submission.assignment_version_id == assignment.versions[0].id
    assert sorted(s.submission_id for s in regrading.skipped_by(batch, assignment)) == sorted(
        [running, waiting]
    )
    assert db.session.scalar(select(func.count(Submission.id))) == 6  # no new, charged submissions


def test_the_regrade_pages_follow_the_batch(client, course, student, student_token, teacher, paraboloid):
    first, second, third, busy = _submissions(client, paraboloid, student_token, 4)
    for submission_id in (first, second, third):
        _finish(submission_id)
    token = log_in(client, teacher)
    board = page_text(client.get(f"/assignments/{paraboloid.id}/scoreboard"))
    assert f'href="/assignments/{paraboloid.id}/regrades"' in board
    confirm = page_text(client.get(f"/assignments/{paraboloid.id}/regrades"))
    assert "Regrade all 3 submissions" in confirm and "1 submission is still being graded" in confirm
    started = client.post(f"/assignments/{paraboloid.id}/regrades", data={"csrf_token": token})
    assert started.status_code == 303
    batch_id = int(started.headers["Location"].rsplit("/", 1)[1])
    assert started.headers["Location"] == f"/assignments/{paraboloid.id}/regrades/{batch_id}"
    batch = db.session.get(RegradeBatch, batch_id)
    json_url = f"/assignments/{paraboloid.id}/regrades/{batch_id}/progress.json"

    def progress() -> dict:  # type: ignore[type-arg]
        response = client.get(json_url)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
        body = response.get_json()
        return {k: body[k] for k in ("total", "done", "failed", "waiting", "running", "finished")} | {
            "failures": [f["id"] for f in body["failures"]]
        }

    counts = {
        "total": 3,
        "done": 0,
        "failed": 0,
        "waiting": 3,
        "running": 0,
        "finished": False,
        "failures": [],
    }
    assert progress() == counts
    assert regrading.batch_progress(batch) == {
        k: counts[k] for k in ("total", "done", "failed", "waiting", "running")
    }
    page = page_text(client.get(started.headers["Location"]))
    assert "0</span> of" in page and '<span id="regrade-total">3</span> regraded' in page
    assert '<progress id="regrade-bar" max="3" value="0"' in page and "regrade.js" in page
    assert '<meta http-equiv="refresh"' in page and "<script>" not in page
    skipped = page[page.index('id="skipped"') :]
    assert f"#{busy}" in skipped and "Training" not in skipped and "Waiting in the queue" in skipped

    assert grading.claim(first, "w") == 1
    assert progress() == counts | {"waiting": 2, "running": 1}
    grading.finish(first, 1, GradeReport("paraboloid", Verdict.SCORED, "ok", "mse", 5e-4, 90.0, 100.0, False))
    assert progress() == counts | {"waiting": 2, "done": 1}
    _finish(second, Verdict.RUNTIME_ERROR, None)
    assert progress() == counts | {"waiting": 1, "done": 2, "failed": 1, "failures": [second]}
    failures = client.get(json_url).get_json()["failures"]
    assert failures == [{
        "id": second, "student": "Ada Student", "label": "Failed", "verdict": "runtime error",
        "url": f"/submissions/{second}/result",
    }]  # fmt: skip
    # Final, but before the batch (a row changed behind its back): not counted as regraded.
    db.session.execute(
        update(Submission)
        .where(Submission.id == third)
        .values(state=State.SCORED, updated_at=batch.created_at - timedelta(seconds=1))
    )
    db.session.commit()
    assert progress() == counts | {
        "waiting": 0,
        "done": 2,
        "failed": 1,
        "failures": [second],
        "finished": True,
    }
    db.session.execute(
        update(Submission).where(Submission.id == third).values(state=State.ERROR, updated_at=utcnow())
    )
    db.session.commit()
    assert progress() == counts | {
        "done": 3,
        "failed": 2,
        "waiting": 0,
        "failures": [second, third],
        "finished": True,
    }
    page = page_text(client.get(started.headers["Location"]))
    assert '<span id="regrade-done">3</span> of' in page and "Finished." in page
    assert '<meta http-equiv="refresh"' not in page
    failures_table = page[page.index('id="failures"') : page.index("</table>", page.index('id="failures"'))]
    assert (
        f"#{second}" in failures_table
        and f"#{third}" in failures_table
        and "Platform error" in failures_table
    )
    # The batch is listed on the regrade page.
    assert f"/assignments/{paraboloid.id}/regrades/{batch_id}" in page_text(
        client.get(f"/assignments/{paraboloid.id}/regrades")
    )
    # A batch of another assignment is not found under this one.
    other = publish(course, "xor")
    assert client.get(f"/assignments/{other.id}/regrades/{batch_id}").status_code == 404


def test_nothing_to_regrade_is_refused_and_writes_nothing(client, course, student_token, teacher, paraboloid):
    _submissions(client, paraboloid, student_token, 1)  # queued, not finished
    token = log_in(client, teacher)
    page = page_text(client.get(f"/assignments/{paraboloid.id}/regrades"))
    assert "nothing to regrade yet" in page and "Regrade all" not in page
    refused = client.post(f"/assignments/{paraboloid.id}/regrades", data={"csrf_token": token})
    assert "nothing to regrade" in page_text(refused, 409)
    assert db.session.scalar(select(func.count(RegradeBatch.id))) == 0


# Nobody else


def test_students_and_other_courses_staff_reach_no_staff_action(
    client, course, student, student_token, teacher, outsider, paraboloid
):
    (finished,) = _submissions(client, paraboloid, student_token, 1)
    _finish(finished)
    batch = regrading.regrade_all(paraboloid, teacher)
    stranger = create_user("stranger@example.edu", "Not In Class", Role.STUDENT, "pw")
    enroll(db.session.scalar(select(Course).where(Course.code == "ELSEWHERE-9")), stranger)
    base = f"/assignments/{paraboloid.id}"
    routes = [
        ("post", f"{base}/settings/hidden", {"value": "on"}),
        ("post", f"{base}/settings/leaderboard", {"value": "on"}),
        ("get", f"{base}/students/{student.id}", None),
        (
            "post",
            f"{base}/students/{student.id}/extension",
            {"deadline": _minute(utcnow() + timedelta(days=9))},
        ),
        ("post", f"{base}/students/{student.id}/extension/revoke", {}),
        ("get", f"{base}/regrades", None),
        ("post", f"{base}/regrades", {}),
        ("get", f"{base}/regrades/{batch.id}", None),
        ("get", f"{base}/regrades/{batch.id}/progress.json", None),
    ]

    def state() -> tuple:  # type: ignore[type-arg]
        db.session.refresh(paraboloid)
        return (
            paraboloid.hidden, paraboloid.leaderboard,
            db.session.scalar(select(func.count(DeadlineExtension.id))),
            db.session.scalar(select(func.count(RegradeBatch.id))),
        )  # fmt: skip

    before = state()
    for user, allowed in ((student, (403,)), (outsider, (404,)), (stranger, (404,))):
        token = log_in(client, user)
        for method, path, data in routes:
            response = getattr(client, method)(
                path, data=None if data is None else data | {"csrf_token": token}
            )
            assert response.status_code in allowed, (user.email, method, path, response.status_code)
        _logout(client, token)
    assert state() == before
    # Hidden: to its students the assignment is not there at all.
    paraboloid.hidden = True
    db.session.commit()
    token = log_in(client, student)
    for method, path, data in routes:
        response = getattr(client, method)(path, data=None if data is None else data | {"csrf_token": token})
        assert response.status_code == 404, (method, path, response.status_code)
    _logout(client, token)
    # Staff do not reach students of other courses either.
    token = log_in(client, teacher)
    assert client.get(f"{base}/students/{stranger.id}").status_code == 404
    assert client.get(f"{base}/students/{teacher.id}").status_code == 404  # staff get no extensions
    _logout(client, token)
    # Logged out: sent to the login page, or refused before anything runs.
    for method, path, data in routes:
        response = getattr(client, method)(path, data=data)
        assert response.status_code in ((302,) if method == "get" else (400, 401)), (method, path)
    assert state()[2:] == before[2:]
    # An admin is staff everywhere.
    admin = create_user("root@example.edu", "Root Admin", Role.ADMIN, "pw")
    log_in(client, admin)
    assert client.get(f"{base}/regrades").status_code == 200
    assert client.get(f"{base}/students/{student.id}").status_code == 200
