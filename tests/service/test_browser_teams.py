"""A team of two in a real browser, opened from an LMS: both students launch from the test LMS
(lti1p3platform), one forms a team and the other joins it with its code, one uploads, a real worker
grades it in the sandbox, both see it, and both get the grade in the gradebook CSV and in the LMS's
gradebook (each member's own score on the assignment's column)."""

from __future__ import annotations

import csv
import io
import os
import re
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from support.assignments import FIXED_SCRIPT
from support.browsing import ARTIFACTS, watched_page
from support.stack import Stack, postgres_stack

from grader.accounts.services import issue_token
from grader.assignments.models import Assignment
from grader.assignments.services import publish
from grader.extensions import db
from grader.lti import platforms
from grader.lti.models import LtiGradePassback
from grader.teams.services import set_limits

from . import lti_browser
from .lti_platform import INSTRUCTOR, LEARNER, LaunchSpec, TestLms

pytestmark = [pytest.mark.slow, pytest.mark.long]
expect = pytest.importorskip("playwright.sync_api").expect

REDIS_DB = int(os.environ.get("GRADER_TEST_TEAMS_REDIS_DB", "15"))
DROP = """([name, text]) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([text], name, { type: "text/plain" }));
  const zone = document.getElementById("dropzone");
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }
}"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with postgres_stack(tmp_path_factory.mktemp("teams"), redis_db=REDIS_DB, lease_seconds=10) as stack:
        yield stack


@pytest.fixture(scope="module")
def lms(stack: Stack, base_url: str) -> Iterator[TestLms]:
    lms = TestLms()
    lms.tool = {
        "login": f"{base_url}/lti/login",
        "launch": f"{base_url}/lti/launch",
        "jwks": f"{base_url}/lti/jwks",
    }
    with stack.app.app_context():
        platforms.register(
            platforms.PlatformForm(
                issuer=lms.issuer, client_id=lms.client_id, auth_login_url=f"{lms.url}/auth",
                auth_token_url=f"{lms.url}/token", key_set_url=f"{lms.url}/jwks",
                deployment_ids=[lms.deployment_id], name="Test LMS",
            )
        )  # fmt: skip
    try:
        yield lms
    finally:
        lms.stop()


def _launched(browser, lms: TestLms, spec: LaunchSpec, landing: str):  # type: ignore[no-untyped-def]
    """A browser context opened from the LMS as ``spec`` says, on the tool's page ``landing``."""
    context, page, errors = watched_page(browser, 1000, 800)
    page.goto(lms.start_url(spec))  # the LMS's signed form posts itself, as a real LMS's does
    page.wait_for_url(landing)
    errors.clear()  # the LMS's own page asked it for a favicon it has not got: not the tool's error
    return context, page, errors


def test_a_team_of_two_submits_both_see_it_and_both_get_the_grade(stack, lms, base_url, browser):
    tool = lti_browser.Stack(stack.app, base_url, lms)
    lti_browser.launch(
        tool, LaunchSpec(sub="teacher", roles=[INSTRUCTOR], email="ines@example.edu", name="Ines")
    )
    course = lti_browser.course_of(tool)
    teacher = lti_browser.user_of(tool, "teacher")
    with stack.app.app_context():
        assignment = publish(db.session.merge(course), "paraboloid", daily_limit=5)
        set_limits(db.session.merge(teacher), assignment, 2, 2)
        assignment_id = assignment.id
        token = issue_token(db.session.merge(teacher), "export", ["read"])
    stack.start_worker()
    landing = f"{base_url}/assignments/{assignment_id}"
    people = {
        sub: _launched(browser, lms, LaunchSpec(sub=sub, roles=[LEARNER], email=f"{sub}@example.edu",
                                                 name=f"{sub.title()} Student",
                                                 custom={"assignment_id": str(assignment_id)}), landing)
        for sub in ("ada", "bob")
    }  # fmt: skip
    (ada_context, ada, ada_errors), (bob_context, bob, bob_errors) = people["ada"], people["bob"]
    try:
        # One forms the team on its page, the other joins it with the code shown there.
        ada.get_by_role("link", name="Your team").click()
        ada.get_by_label("Team name").fill("Gradient Pair")
        ada.get_by_role("button", name="Form a team").click()
        code = ada.inner_text("#join-code")
        bob.goto(f"{base_url}/assignments/{assignment_id}/team")
        bob.get_by_label("Join code").fill(code)
        bob.get_by_role("button", name="Join the team").click()
        expect(bob.locator("#members li")).to_have_text(["Ada Student", "Bob Student"])
        bob.screenshot(path=str(ARTIFACTS / "team.png"), full_page=True)

        ada.goto(landing)
        ada.evaluate(DROP, ["paraboloid_fixed.py", FIXED_SCRIPT.read_text()])
        ada.get_by_role("button", name="Submit for grading").click()
        ada.wait_for_url(re.compile(r"/submissions/\d+$"))
        submission_id = int(ada.url.rsplit("/", 1)[1])
        ada.wait_for_url(re.compile(r"/result$"), timeout=240_000)
        assert ada.inner_text("#verdict") == "Scored"
        score = ada.inner_text(".score")

        # The other member sees it among the team's submissions, and its result.
        bob.goto(f"{base_url}/assignments/{assignment_id}/team")
        bob.get_by_role("link", name=re.compile(f"#{submission_id} paraboloid_fixed.py")).click()
        bob.wait_for_url(re.compile(r"/result$"))
        assert bob.inner_text("#verdict") == "Scored" and bob.inner_text(".score") == score
        expect(bob.get_by_text("by Ada Student for team Gradient Pair")).to_be_visible()
        bob.screenshot(path=str(ARTIFACTS / "team-result.png"), full_page=True)
        assert not ada_errors and not bob_errors, (ada_errors, bob_errors)
    finally:
        ada_context.close()
        bob_context.close()

    # The gradebook CSV (Moodle's) has both members, with the same grade.
    client = stack.app.test_client()
    exported = client.get(
        f"/api/v1/assignments/{assignment_id}/grades.csv?format=moodle",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert exported.status_code == 200, exported.get_data(as_text=True)
    rows = {row[0]: row[2] for row in csv.reader(io.StringIO(exported.get_data(as_text=True)))}
    assert rows["ada@example.edu"] == rows["bob@example.edu"] != ""
    graded = float(rows["ada@example.edu"])

    # The LMS gets each member's score on the assignment's column (the worker recorded both).
    with stack.app.app_context():
        pending = db.session.scalars(select(LtiGradePassback)).all()
        assert len(pending) == 2 and {p.submission_id for p in pending} == {submission_id}
        assert db.session.get(Assignment, assignment_id).team_max == 2
    before = len(lms.scores)
    deadline = time.monotonic() + 30
    while sorted(lti_browser.send_pending(tool)) != ["sent", "sent"] and time.monotonic() < deadline:
        time.sleep(0.5)
    posted = {score["userId"]: score for _, score in lms.scores[before:]}
    assert set(posted) == {"ada", "bob"}
    assert posted["ada"]["scoreGiven"] == posted["bob"]["scoreGiven"] == pytest.approx(graded, abs=0.01)
    assert len({item for item, _ in lms.scores[before:]}) == 1  # one column: the assignment's
