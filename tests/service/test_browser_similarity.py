"""The class similarity check in a real browser, on really graded submissions: two students handed in
the same model (the second renamed every variable and moved the code around), a third trained the
same architecture written their own way. The instructor runs the check from the page, follows its
progress, and finds the copied pair ranked first, with the matching fragments marked side by side."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from support.browsing import ARTIFACTS, watched_page
from support.similarity import CLASS
from support.stack import Stack, postgres_stack

from grader.accounts.models import Role
from grader.accounts.services import create_user, issue_token
from grader.courses.models import Course, Enrollment
from grader.extensions import db

pytestmark = [pytest.mark.slow, pytest.mark.long]
pytest.importorskip("playwright.sync_api")

STUDENTS = {"original.py": "Ada Original", "renamed.py": "Ben Renamed", "independent.py": "Cy Independent"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with postgres_stack(tmp_path_factory.mktemp("similarity"), redis_db=9, lease_seconds=10) as stack:
        yield stack


def _graded_class(stack: Stack) -> dict[str, int]:
    """Each student uploads their script through the API; all three graded for real. Their ids."""
    tokens: dict[str, str] = {}
    with stack.app.app_context():
        course = db.session.scalar(select(Course).where(Course.code == "E2E-1"))
        assert course is not None
        teacher = create_user("sim-teacher@example.edu", "Grace Teacher", Role.INSTRUCTOR, "pw")
        db.session.add(Enrollment(course_id=course.id, user_id=teacher.id, role=Role.INSTRUCTOR))
        for filename, name in STUDENTS.items():
            student = create_user(f"{filename[:-3]}@example.edu", name, Role.STUDENT, "pw")
            db.session.add(Enrollment(course_id=course.id, user_id=student.id, role=Role.STUDENT))
            db.session.commit()
            tokens[filename] = issue_token(student, "similarity", ["read", "submit"])
    client = stack.app.test_client()
    submitted = {}
    for filename, token in tokens.items():
        response = client.post(
            f"/api/v1/assignments/{stack.assignment_id}/submissions",
            data={"file": (io.BytesIO(CLASS[filename].encode()), filename)},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 202, response.get_data(as_text=True)
        submitted[filename] = int(response.get_json()["id"])
    deadline = time.monotonic() + 240
    for filename, submission_id in submitted.items():
        while True:
            body = client.get(
                f"/api/v1/submissions/{submission_id}",
                headers={"Authorization": f"Bearer {tokens[filename]}"},
            ).get_json()
            if body["state"] in ("scored", "failed", "error"):
                assert body["state"] == "scored", (filename, body)
                break
            assert time.monotonic() < deadline, (filename, body["state"], stack.workdir)
            time.sleep(0.5)
    return submitted


def test_an_instructor_finds_the_copied_pair_first(stack, base_url, browser):  # type: ignore[no-untyped-def]
    stack.start_worker()
    stack.start_worker()
    submitted = _graded_class(stack)
    context, page, errors = watched_page(browser, 1200, 900)
    try:
        page.goto(base_url + "/login")
        page.get_by_label("Email").fill("sim-teacher@example.edu")
        page.get_by_label("Password").fill("pw")
        page.get_by_role("button", name="Log in").click()
        page.locator(".card", has_text="paraboloid").get_by_role("link", name="Scoreboard").click()
        page.get_by_role("link", name="Similarity").click()
        assert "a lead for a human, not a verdict" in page.inner_text("#lead-not-verdict")
        page.get_by_role("button", name="Run a similarity check").click()
        page.wait_for_selector("#pairs", timeout=60_000)  # the page follows the job and shows its pairs
        assert "Finished: 3 students compared" in page.inner_text("#check-state")
        page.screenshot(path=str(ARTIFACTS / "similarity.png"), full_page=True)
        rows = page.eval_on_selector_all(
            "#pairs tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText))"
        )
        assert len(rows) == 3, rows
        first = set(rows[0][1].split(" · "))
        assert first == {"Ada Original", "Ben Renamed"}, rows  # the copy ranks first...
        assert all("Cy Independent" in row[1] for row in rows[1:]), rows  # ...the independent one does not
        copied, independent = (float(rows[i][4].rstrip("%")) for i in (0, 1))
        assert copied >= 90 and independent < 60, rows
        assert rows[0][3] == "100%", rows  # the same seed copied: the same errors, the same loss curve

        page.locator("#pairs tbody tr").first.get_by_role("link", name="Compare").click()
        page.wait_for_selector("#left-code")
        assert page.locator("#left-code mark").count() > 0 and page.locator("#right-code mark").count() > 0
        marked = " ".join(page.eval_on_selector_all("#right-code mark", "ms => ms.map(m => m.innerText)"))
        assert "nn.Linear(in_features=25, out_features=10)" in marked
        page.screenshot(path=str(ARTIFACTS / "similarity-pair.png"), full_page=True)
        assert errors == [], errors
    finally:
        context.close()

    # Never shown to students: the page and the API are not there for them.
    with stack.app.app_context():
        student_token = stack.token
    client = stack.app.test_client()
    with client.session_transaction() as session:
        session["user_id"] = _user_id(stack, "original@example.edu")
    assert client.get(f"/assignments/{stack.assignment_id}/similarity").status_code == 404
    response = client.post(
        f"/api/v1/assignments/{stack.assignment_id}/similarity-checks",
        headers={"Authorization": f"Bearer {student_token}"},
    )
    assert response.status_code in (403, 404), response.get_data(as_text=True)
    assert submitted  # all three were graded for real


def _user_id(stack: Stack, email: str) -> int:
    from grader.accounts.models import User

    with stack.app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        assert user is not None
        return int(user.id)
