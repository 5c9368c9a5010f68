"""A regrade request in a real browser: the student asks with a reason, the instructor finds it in the
course's queue and sets the score by hand with a comment, the student sees the new score and the
answer, and the audit trail shows what was done, by whom and why. (Headless Chromium against a real
threaded server on PostgreSQL; the grading itself is tested elsewhere, so the result is written as a
worker writes it.)"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from support.assignments import FIXED_SCRIPT
from support.browsing import ARTIFACTS, watched_page
from support.grading import graded_as_worker
from support.stack import Stack, postgres_stack

from grader.accounts.models import Role
from grader.accounts.services import create_user
from grader.courses.models import Course, Enrollment
from grader.extensions import db

pytestmark = [pytest.mark.slow, pytest.mark.long]
pytest.importorskip("playwright.sync_api")

REASON = "My notebook's final MSE was 0.0004, under the threshold; please check the hidden-set run."
ANSWER = "The hidden set had one outlier batch; your model is fine. Score set to 88."


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with postgres_stack(tmp_path_factory.mktemp("regrade-requests"), redis_db=5, lease_seconds=10) as stack:
        with stack.app.app_context():
            course = db.session.query(Course).filter_by(code="E2E-1").one()
            teacher = create_user("teacher@example.edu", "Grace Teacher", Role.INSTRUCTOR, "pw")
            db.session.add(Enrollment(course_id=course.id, user_id=teacher.id, role=Role.INSTRUCTOR))
            db.session.commit()
            stack.course_id = course.id  # type: ignore[attr-defined]
        yield stack


def _log_in(page, base_url: str, email: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()


def test_a_student_asks_the_instructor_sets_the_score_and_the_trail_shows_it(stack, base_url, browser):  # type: ignore[no-untyped-def]
    submission_id = stack.upload(FIXED_SCRIPT)
    with stack.app.app_context():
        graded_as_worker(submission_id, score=55.0)

    student_context, student, student_errors = watched_page(browser, 390, 844)  # a phone
    teacher_context, teacher, teacher_errors = watched_page(browser, 1200, 900)
    try:
        _log_in(student, base_url, "e2e@example.edu")
        student.goto(f"{base_url}/submissions/{submission_id}/result")
        student.get_by_role("link", name="Ask for a regrade").click()
        student.get_by_label("Why should it be looked at again?").fill(REASON)
        student.get_by_role("button", name="Send the request").click()
        student.wait_for_url(re.compile(r"/regrade-requests/\d+$"))
        assert "waiting for an answer" in student.inner_text("#request-state")
        student.screenshot(path=str(ARTIFACTS / "regrade-request-asked.png"), full_page=True)

        _log_in(teacher, base_url, "teacher@example.edu")
        teacher.goto(f"{base_url}/courses/{stack.course_id}")
        assert "1 open" in teacher.inner_text("main")
        teacher.get_by_role("link", name="Regrade requests").click()
        teacher.locator("#regrade-requests tbody tr").first.get_by_role("link").click()
        assert REASON in teacher.inner_text("#request-reason")
        teacher.get_by_label("Set the score by hand:").check()
        teacher.get_by_label(re.compile(r"^Score \(0 to")).fill("88")
        teacher.get_by_label(re.compile("Comment for the student")).fill(ANSWER)
        teacher.screenshot(path=str(ARTIFACTS / "regrade-request-answer.png"), full_page=True)
        teacher.get_by_role("button", name="Send the answer").click()
        teacher.wait_for_url(re.compile(r"/courses/\d+/regrade-requests$"))
        assert "adjusted" in teacher.inner_text("#regrade-requests")

        student.goto(f"{base_url}/submissions/{submission_id}/result")
        assert student.inner_text(".score .big") == "88"
        said = student.inner_text("#score-set-by-hand")
        assert (
            "Score set by hand by Grace Teacher" in said
            and "grader's own score: 55" in said
            and ANSWER in said
        )
        assert "answered (adjusted)" in student.inner_text("#regrade-requests")
        student.screenshot(path=str(ARTIFACTS / "regrade-request-answered.png"), full_page=True)

        teacher.get_by_role("link", name=re.compile("E2E-1")).first.click()
        teacher.get_by_role("link", name="Audit trail").click()
        rows = teacher.locator("#audit-trail tbody tr")
        texts = [rows.nth(i).inner_text() for i in range(rows.count())]
        assert "answered a regrade request" in texts[0] and ANSWER in texts[0]
        assert "set a score by hand" in texts[1] and "E2E Student" in texts[1] and "score: 88.0" in texts[1]
        assert all("Grace Teacher" in t for t in texts[:2])
        teacher.screenshot(path=str(ARTIFACTS / "audit-trail.png"), full_page=True)
        assert student_errors == [] and teacher_errors == []
    finally:
        student_context.close()
        teacher_context.close()
