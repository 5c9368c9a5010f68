"""LTI 1.3 end to end against an LMS nobody here wrote (lti1p3platform, tests/service/lti_platform.py).

Two real HTTP servers on 127.0.0.1: the grader (its own PostgreSQL database, Redis db 6 as the
broker) and the LMS. A requests session is the browser: it follows the redirects and submits the
forms the pages hand it. Launches, deep linking, grade passback (the HTTP calls to the LMS are real;
the grading itself is tested elsewhere, so results are written directly and the passback task's
function runs here), roster sync, and the refusals (each with nothing created).
"""

from __future__ import annotations

import html
import os
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import jwt
import pytest
import redis
import requests
from sqlalchemy import func, select, update

from grader.accounts.models import Role
from grader.accounts.services import create_user
from grader.assignments.models import Assignment
from grader.assignments.services import publish
from grader.audit.models import Action, AuditEntry
from grader.courses.models import Course, Enrollment
from grader.extensions import db, utcnow
from grader.lti import linking, passback, roster
from grader.lti.models import (
    LtiContext,
    LtiGradePassback,
    LtiLineItem,
    LtiPlatform,
    PassbackState,
)
from grader.submissions import adjustments
from grader.submissions.models import Submission

from .lti_browser import (
    Stack,
    course_of,
    form_of,
    graded,
    launch,
    lti_stack,
    regraded,
    send_pending,
    snapshot,
    user_of,
)
from .lti_platform import INSTRUCTOR, LEARNER, MENTOR, LaunchSpec

REDIS_URL = os.environ.get("GRADER_TEST_LTI_REDIS", "redis://127.0.0.1:6379/6")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with lti_stack(tmp_path_factory.mktemp("lti-storage"), REDIS_URL) as running:
        yield running


def test_first_launches_make_the_course_the_users_and_enrollments_and_land_on_the_right_page(stack):
    teacher = launch(
        stack, LaunchSpec(sub="teacher-1", roles=[INSTRUCTOR], email="grace@example.edu", name="Grace")
    )
    course = course_of(stack)
    assert teacher.status_code == 200 and teacher.url == f"{stack.tool}/courses/{course.id}"
    assert "This LMS link opens no assignment yet" in html.unescape(teacher.text)
    user = user_of(stack, "teacher-1")
    assert user is not None and user.email == "grace@example.edu" and user.password_hash is None
    assert course.title == "Neural networks" and course.code.startswith("NN-101")
    with stack.app.app_context():
        enrollment = db.session.scalar(select(Enrollment).where(Enrollment.user_id == user.id))
        assert enrollment.course_id == course.id and enrollment.role is Role.INSTRUCTOR
        placed = publish(db.session.get(Course, course.id), "paraboloid", daily_limit=5)
        assignment_id, title = placed.id, placed.title
    # A student opening a link that names the assignment lands on it, logged in.
    student = launch(
        stack,
        LaunchSpec(
            sub="student-1",
            roles=[LEARNER],
            email="ada@example.edu",
            custom={"assignment_id": str(assignment_id)},
        ),
    )
    assert student.status_code == 200 and student.url == f"{stack.tool}/assignments/{assignment_id}"
    assert title in html.unescape(student.text)
    ada = user_of(stack, "student-1")
    with stack.app.app_context():
        assert db.session.scalar(select(Enrollment.role).where(Enrollment.user_id == ada.id)) is Role.STUDENT
    # A student on a link without an assignment lands on their home page.
    home = launch(stack, LaunchSpec(sub="student-1", roles=[LEARNER], resource_link_id="link-9"))
    assert home.url == f"{stack.tool}/"


def test_deep_linking_returns_a_signed_link_with_its_line_item(stack):
    course = course_of(stack)
    with stack.app.app_context():
        assignment = db.session.scalar(select(Assignment).where(Assignment.course_id == course.id))
        points = assignment.current.spec().points
        title = assignment.title
    browser = requests.Session()
    picker = launch(stack, LaunchSpec(sub="teacher-1", roles=[INSTRUCTOR], deep_link=True), browser)
    assert picker.status_code == 200 and picker.url == f"{stack.tool}/lti/deep-link"
    action, fields = form_of(picker.text, "deep-link-form")
    back = browser.post(stack.tool + action, data={**fields, "assignment_id": str(assignment.id)}, timeout=30)
    assert back.status_code == 200
    assert f"form-action 'self' {stack.lms.url}" in back.headers["Content-Security-Policy"]
    return_url, returned = form_of(back.text, "lti-auto-submit")
    assert return_url == f"{stack.lms.url}/deep_link_return" and set(returned) >= {"JWT"}
    # Verified with the tool's published JWKS, as the LMS does.
    token = returned["JWT"]
    keys = requests.get(f"{stack.tool}/lti/jwks", timeout=10).json()["keys"]
    key = next(k for k in keys if k["kid"] == jwt.get_unverified_header(token)["kid"])
    claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["RS256"], audience=stack.lms.issuer)
    assert claims["iss"] == stack.lms.client_id
    assert claims["https://purl.imsglobal.org/spec/lti/claim/message_type"] == "LtiDeepLinkingResponse"
    [item] = claims["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
    assert item["type"] == "ltiResourceLink" and item["url"] == f"{stack.tool}/lti/launch"
    assert item["custom"] == {"assignment_id": str(assignment.id)}
    assert item["lineItem"] == {
        "scoreMaximum": points, "label": title,
        "resourceId": f"grader-assignment-{assignment.id}", "tag": "grader",
    }  # fmt: skip
    # The LMS accepts it (lti1p3platform checks the signature against the tool's JWKS).
    accepted = browser.post(return_url, data=returned, timeout=30)
    assert accepted.status_code == 200 and accepted.json()[0]["custom"] == item["custom"]


def test_grade_passback_after_grading_and_after_a_regrade(stack):
    lms = stack.lms
    [placed] = [i for i in lms.line_items.values() if i["tag"] == "grader"]  # made by the deep linking
    assignment_id = int(placed["resourceId"].rsplit("-", 1)[1])
    # The student opens the placed link: the LMS tells the tool its column (AGS lineitem claim).
    opened = launch(
        stack,
        LaunchSpec(sub="student-1", roles=[LEARNER], resource_link_id="link-dl",
                   custom={"assignment_id": str(assignment_id)}, lineitem=placed["id"]),
    )  # fmt: skip
    assert opened.url == f"{stack.tool}/assignments/{assignment_id}"
    before = len(lms.scores)
    broker = redis.Redis.from_url(REDIS_URL)
    broker.delete("outbound")
    submission_id = graded(stack, "student-1", assignment_id, 72.5)
    # The passback task, queued after the commit, for the one worker with a route out.
    assert broker.llen("outbound") == 1
    assert send_pending(stack) == ["sent"]
    regraded(stack, submission_id, 41.0)  # the regrade lowers the only result: the gradebook follows
    assert send_pending(stack) == ["sent"]
    posted = lms.scores[before:]
    assert [item for item, _ in posted] == [placed["id"], placed["id"]]
    assert [s["scoreGiven"] for _, s in posted] == [72.5, 41.0]
    for _, score in posted:
        assert score["scoreMaximum"] == 100.0 and score["userId"] == "student-1"
        assert score["activityProgress"] == "Completed" and score["gradingProgress"] == "FullyGraded"
        assert datetime.fromisoformat(score["timestamp"]).utcoffset() == timedelta(0)
    assert datetime.fromisoformat(posted[1][1]["timestamp"]) > datetime.fromisoformat(
        posted[0][1]["timestamp"]
    )
    assert lms.created_line_items == []  # the deep-linked column was used: no second one
    tokens = lms.token_requests
    # A better submission later: the best counts, whichever submission triggered it.
    graded(stack, "student-1", assignment_id, 90.0)
    send_pending(stack)
    graded(stack, "student-1", assignment_id, 60.0)
    send_pending(stack)
    assert [s["scoreGiven"] for _, s in lms.scores[before + 2 :]] == [90.0, 90.0]
    assert tokens == 1 and lms.token_requests == 1  # one access token, cached, for every passback
    # The instructor sees them.
    browser = requests.Session()
    launch(stack, LaunchSpec(sub="teacher-1", roles=[INSTRUCTOR]), browser)
    page = browser.get(f"{stack.tool}/courses/{course_of(stack).id}/lti", timeout=30)
    assert page.status_code == 200 and 'id="lti-passbacks"' in page.text and "sent" in page.text


def test_scores_carry_a_comment_and_staff_see_each_assignments_passbacks_and_send_one_again(stack):
    lms = stack.lms
    [placed] = [i for i in lms.line_items.values() if i["tag"] == "grader"]
    assignment_id = int(placed["resourceId"].rsplit("-", 1)[1])
    submission_id = graded(stack, "student-1", assignment_id, 93.0)
    assert send_pending(stack) == ["sent"]
    comment = lms.scores[-1][1]["comment"]
    assert comment.startswith("93 / 100 points · rmse 0.1 on the hidden set · ")
    assert comment.endswith(f"/submissions/{submission_id}/result")
    browser = requests.Session()
    launch(stack, LaunchSpec(sub="teacher-1", roles=[INSTRUCTOR]), browser)
    course_id = course_of(stack).id
    page = html.unescape(
        browser.get(f"{stack.tool}/courses/{course_id}/lti?assignment={assignment_id}", timeout=30).text
    )
    assert 'id="passbacks-by-assignment"' in page and 'id="passbacks-filter"' in page
    with stack.app.app_context():
        row = db.session.scalars(
            select(LtiGradePassback).where(LtiGradePassback.submission_id == submission_id)
        ).one()
        passback_id, before = row.id, len(lms.scores)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    again = browser.post(
        f"{stack.tool}/courses/{course_id}/lti/passbacks/{passback_id}/send-again",
        data={"csrf_token": token},
        timeout=30,
    )
    assert again.status_code == 200 and "being sent to the LMS again" in html.unescape(again.text)
    assert send_pending(stack) == ["sent"] and len(lms.scores) == before + 1
    other = browser.post(
        f"{stack.tool}/courses/{course_id}/lti/passbacks/999999/send-again",
        data={"csrf_token": token},
        timeout=30,
    )
    assert other.status_code == 404


def test_a_score_set_by_hand_goes_to_the_lms_gradebook_and_giving_it_back_too(stack):
    lms = stack.lms
    [placed] = [i for i in lms.line_items.values() if i["tag"] == "grader"]
    assignment_id = int(placed["resourceId"].rsplit("-", 1)[1])
    submission_id = graded(stack, "student-1", assignment_id, 96.0)  # the best so far
    send_pending(stack)
    before = len(lms.scores)
    with stack.app.app_context():
        teacher, submission = user_of(stack, "teacher-1"), db.session.get(Submission, submission_id)
        adjustments.adjust_score(submission, 98.5, "Bonus for the write-up", teacher)
    assert send_pending(stack) == ["sent"]
    with stack.app.app_context():
        teacher, submission = user_of(stack, "teacher-1"), db.session.get(Submission, submission_id)
        adjustments.remove_adjustment(submission, teacher)
    assert send_pending(stack) == ["sent"]
    assert [(item, s["scoreGiven"]) for item, s in lms.scores[before:]] == [
        (placed["id"], 98.5),
        (placed["id"], 96.0),
    ]


def test_a_column_is_made_once_even_when_its_answer_was_lost_and_failures_retry_visibly(stack):
    lms = stack.lms
    course = course_of(stack)
    with stack.app.app_context():
        other = publish(db.session.get(Course, course.id), "linear", daily_limit=5)
        other_id, points = other.id, other.current.spec().points
    resource_id = f"grader-assignment-{other_id}"
    submission_id = graded(stack, "student-1", other_id, 50.0)
    assert send_pending(stack) == ["sent"]
    made = [i for i in lms.created_line_items if i["resourceId"] == resource_id]
    assert len(made) == 1 and made[0]["scoreMaximum"] == points
    # The tool lost the LMS's answer (its row has no URL): the retry finds the column, makes none.
    with stack.app.app_context():
        db.session.execute(update(LtiLineItem).where(LtiLineItem.resource_id == resource_id).values(url=None))
        db.session.commit()
    lms.fail_scores = 1  # and the LMS fails once: the row stays pending with the error, then succeeds
    regraded(stack, submission_id, 55.0)
    assert send_pending(stack) == ["will retry"]
    with stack.app.app_context():
        row = db.session.scalar(select(LtiGradePassback).order_by(LtiGradePassback.id.desc()).limit(1))
        assert row.state is PassbackState.PENDING and row.attempts == 1 and "HTTP 500" in row.last_error
        assert row.next_attempt_at > utcnow()
        assert passback.send(row.id) == "not due"  # back-off: the sweep sends it when its time comes
        db.session.execute(
            update(LtiGradePassback).where(LtiGradePassback.id == row.id).values(next_attempt_at=utcnow())
        )
        db.session.commit()
        assert passback.sweep()["queued"] >= 1
        assert passback.send(row.id) == "sent"
    assert len([i for i in lms.line_items.values() if i.get("resourceId") == resource_id]) == 1
    assert lms.scores[-1][1]["scoreGiven"] == 55.0


def test_roster_sync_follows_both_pages(stack):
    stack.lms.members = [
        {"user_id": "teacher-1", "roles": [INSTRUCTOR], "name": "Grace", "status": "Active"},
        {"user_id": "student-1", "roles": [LEARNER], "name": "Ada Lovelace", "status": "Active"},
        {"user_id": "student-2", "roles": [LEARNER], "name": "Alan Turing", "email": "alan@example.edu", "status": "Active"},
        {"user_id": "parent-1", "roles": [MENTOR], "name": "A Parent", "status": "Active"},
    ]  # fmt: skip
    course = course_of(stack)
    browser = requests.Session()
    launch(stack, LaunchSpec(sub="teacher-1", roles=[INSTRUCTOR]), browser)
    page = browser.get(f"{stack.tool}/courses/{course.id}/lti", timeout=30)
    action = re.search(r'action="([^"]*/roster)"', page.text)[1]  # type: ignore[index]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    queued = browser.post(stack.tool + action, data={"csrf_token": token}, timeout=30)
    assert queued.status_code == 200 and "being fetched from the LMS" in html.unescape(queued.text)
    served = stack.lms.member_pages_served
    with stack.app.app_context():
        context = db.session.scalar(select(LtiContext).where(LtiContext.course_id == course.id))
        report = roster.sync(context.id)
    assert report.pages == 2 and stack.lms.member_pages_served - served == 2
    assert (report.members, report.new_users, report.skipped) == (4, 1, 1)
    alan = user_of(stack, "student-2")
    assert alan is not None and alan.email == "alan@example.edu" and user_of(stack, "parent-1") is None
    with stack.app.app_context():
        assert (
            db.session.scalar(
                select(Enrollment.role).where(
                    Enrollment.user_id == alan.id, Enrollment.course_id == course.id
                )
            )
            is Role.STUDENT
        )


def test_members_who_leave_the_lms_course_lose_access_keep_their_work_and_come_back(stack):
    course = course_of(stack)
    with stack.app.app_context():
        assignment_id = db.session.scalar(select(Assignment.id).where(Assignment.course_id == course.id))
        context_id = db.session.scalar(select(LtiContext.id).where(LtiContext.course_id == course.id))
    ada = requests.Session()  # student-1, in the course, with graded work
    launch(stack, LaunchSpec(sub="student-1", roles=[LEARNER]), ada)
    assert ada.get(f"{stack.tool}/assignments/{assignment_id}", timeout=30).status_code == 200
    everyone = list(stack.lms.members)
    stack.lms.members = []  # an LMS answering with nobody: nobody is removed
    with stack.app.app_context():
        assert roster.sync(context_id).left == 0
    stack.lms.members = [m for m in everyone if m["user_id"] != "student-1"]
    with stack.app.app_context():
        report = roster.sync(context_id)
        assert (report.left, report.returned) == (1, 0)
        ada_id = user_of(stack, "student-1").id
        left_at = db.session.scalar(
            select(Enrollment.left_at).where(Enrollment.user_id == ada_id, Enrollment.course_id == course.id)
        )
        submissions = db.session.scalar(select(func.count(Submission.id)).where(Submission.user_id == ada_id))
        context = db.session.get(LtiContext, context_id)
        assert context.roster_started_at is None and context.roster_report["left"] == 1
    assert left_at is not None and submissions > 0  # marked, not deleted; the work stays
    assert ada.get(f"{stack.tool}/assignments/{assignment_id}", timeout=30).status_code == 404
    teacher = requests.Session()
    launch(stack, LaunchSpec(sub="teacher-1", roles=[INSTRUCTOR]), teacher)
    page = html.unescape(teacher.get(f"{stack.tool}/courses/{course.id}/lti", timeout=30).text)
    assert 'id="lti-left-members"' in page and "1 left, 0 back" in page
    board = html.unescape(
        teacher.get(f"{stack.tool}/assignments/{assignment_id}/scoreboard", timeout=30).text
    )
    assert 'class="badge left"' in board  # still on the scoreboard, marked
    stack.lms.members = everyone  # back in the LMS course
    with stack.app.app_context():
        assert roster.sync(context_id).returned == 1
    assert ada.get(f"{stack.tool}/assignments/{assignment_id}", timeout=30).status_code == 200
    broker = redis.Redis.from_url(REDIS_URL)
    broker.delete("outbound")
    with stack.app.app_context():
        assert roster.sync_all() == 1  # beat's: every linked course whose LMS offers its roster
    assert broker.llen("outbound") == 1


def test_an_instructor_links_a_new_lms_course_to_the_course_they_already_teach(stack):
    first = course_of(stack)  # made by course-1's first launch; it has assignments
    teacher = requests.Session()
    landed = launch(stack, LaunchSpec(sub="teacher-1", roles=[INSTRUCTOR], context_id="course-2"), teacher)
    assert "A course was made here for this LMS course" in html.unescape(landed.text)
    with stack.app.app_context():
        context = db.session.scalar(select(LtiContext).where(LtiContext.context_id == "course-2"))
        made, context_id = context.course_id, context.id
    assert made != first.id
    page = html.unescape(teacher.get(f"{stack.tool}/courses/{made}/lti", timeout=30).text)
    assert "Link to another of your courses" in page and f'<option value="{first.id}">' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    linked = teacher.post(
        f"{stack.tool}/courses/{made}/lti/contexts/{context_id}/link", data={"csrf_token": token, "course_id": first.id},
        timeout=30,
    )  # fmt: skip
    assert linked.status_code == 200 and linked.url == f"{stack.tool}/courses/{first.id}/lti"
    assert "now opens" in html.unescape(linked.text)
    with stack.app.app_context():
        assert db.session.get(LtiContext, context_id).course_id == first.id
        assert db.session.get(Course, made) is None  # made for the link, empty, used by nothing: gone
        entry = db.session.scalars(
            select(AuditEntry).where(
                AuditEntry.course_id == first.id, AuditEntry.action == Action.LMS_COURSE_LINKED
            )
        ).one()
        assert entry.details["to"] == first.code and "<grace@example.edu>" in entry.actor_label
    # A student of the second LMS course now lands in the first grader course.
    bo = launch(
        stack, LaunchSpec(sub="student-7", roles=[LEARNER], context_id="course-2", email="bo7@example.edu")
    )
    assert bo.status_code == 200
    with stack.app.app_context():
        bo_id = user_of(stack, "student-7").id
        assert db.session.scalar(select(Enrollment.course_id).where(Enrollment.user_id == bo_id)) == first.id
        # A course with assignments keeps its LMS link: work would be split between two courses.
        other = Course(code="ELSEWHERE-LTI", title="Another class")
        db.session.add(other)
        db.session.flush()
        grace = user_of(stack, "teacher-1")
        db.session.add(Enrollment(course_id=other.id, user_id=grace.id, role=Role.INSTRUCTOR))
        db.session.commit()
        with pytest.raises(linking.LinkRefused, match="already has assignments"):
            linking.link(db.session.get(LtiContext, context_id), other, grace)


REFUSALS = {
    "bad signature": (dict(foreign_key=True), 400, "signature does not verify"),
    "wrong audience": (dict(extra={"aud": "someone-else", "azp": "someone-else"}), 403, "addressed to someone-else"),
    "expired": (dict(expires_in=-120), 400, "The launch expired at"),
    "unknown deployment": (
        dict(extra={"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "deployment-9"}), 403,
        "deployment 'deployment-9'",
    ),
    "foreign authorized party": (dict(extra={"azp": "someone-else"}), 403, "authorized party (azp) 'someone-else'"),
    "another LTI version": (
        dict(extra={"https://purl.imsglobal.org/spec/lti/claim/version": "1.1"}), 400, "LTI version '1.1'",
    ),
    "an unknown message type": (
        dict(extra={"https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiSubmissionReviewRequest"}),
        400, "LtiSubmissionReviewRequest",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_bad_launches_are_refused_with_a_reason_and_create_nothing(stack, case):
    changes, status, message = REFUSALS[case]
    before = snapshot(stack)
    response = launch(
        stack,
        LaunchSpec(
            sub=f"intruder-{uuid.uuid4().hex[:6]}", roles=[INSTRUCTOR], context_id="course-x", **changes
        ),
    )
    assert response.status_code == status
    assert message in html.unescape(response.text) and "Nothing was created" in response.text
    assert snapshot(stack) == before


def test_a_replayed_launch_is_refused_and_creates_nothing(stack):
    browser = requests.Session()
    first = launch(stack, LaunchSpec(sub="student-3", roles=[LEARNER]), browser)
    assert first.status_code == 200
    before = snapshot(stack)
    action, fields = first.launch_form  # type: ignore[attr-defined]
    again = browser.post(action, data=fields, timeout=30)
    assert again.status_code == 403 and "already used (its nonce was seen before)" in html.unescape(
        again.text
    )
    assert snapshot(stack) == before


def test_a_launch_posted_into_another_browser_is_refused(stack):
    """Login CSRF: a launch captured in one browser and posted from another page into a victim's
    browser must not sign the victim in as its owner."""
    browser = requests.Session()
    page = browser.get(stack.lms.start_url(LaunchSpec(sub="student-4", roles=[LEARNER])), timeout=30)
    action, fields = form_of(page.text)  # the attacker's own, fresh launch, never posted by them
    before = snapshot(stack)
    victim = requests.post(action, data=fields, timeout=30)  # no cookie from the login: another browser
    assert victim.status_code == 403 and "This browser did not start this launch" in html.unescape(
        victim.text
    )
    assert snapshot(stack) == before
    assert browser.post(action, data=fields, timeout=30).status_code == 200  # its own browser: fine


def test_a_rotated_platform_key_is_fetched_again(stack):
    stack.lms.rotate_key()
    with stack.app.app_context():  # the cache is old enough to be refreshed on an unknown kid
        db.session.execute(update(LtiPlatform).values(key_set_fetched_at=utcnow() - timedelta(minutes=5)))
        db.session.commit()
    assert launch(stack, LaunchSpec(sub="student-1", roles=[LEARNER])).status_code == 200


def test_login_without_a_known_platform_and_launch_by_get_are_explained(stack):
    unknown = requests.get(
        f"{stack.tool}/lti/login", params={"iss": "https://lms.example", "login_hint": "x"}, timeout=10
    )
    assert unknown.status_code == 400 and "No LMS with issuer 'https://lms.example'" in html.unescape(
        unknown.text
    )
    assert requests.get(f"{stack.tool}/lti/launch", timeout=10).status_code == 405
    # Only the login and the launch come from the LMS without our CSRF token; the picker's POST needs it.
    forged = requests.post(f"{stack.tool}/lti/deep-link", data={"assignment_id": "1"}, timeout=10)
    assert forged.status_code == 400 and "did not come from this site" in html.unescape(forged.text)
    # Login initiation by POST (as Canvas does) is checked the same way; a wrong client id is named.
    posted = requests.post(
        f"{stack.tool}/lti/login",
        data={"iss": stack.lms.issuer, "login_hint": "x", "client_id": "nope"},
        timeout=10,
    )
    assert posted.status_code == 400 and "not 'nope'" in html.unescape(posted.text)
    # A role that gives no access (a mentor) is refused, with the role named, and nothing is made.
    before = snapshot(stack)
    mentor = launch(stack, LaunchSpec(sub="parent-2", roles=[MENTOR]))
    assert mentor.status_code == 403 and "(Mentor) gives no access" in html.unescape(mentor.text)
    assert snapshot(stack) == before


def test_only_admins_see_the_platforms_page_and_the_cli_prints_the_tool_config(stack, monkeypatch, capsys):
    browser = requests.Session()
    launch(stack, LaunchSpec(sub="teacher-1", roles=[INSTRUCTOR]), browser)
    assert browser.get(f"{stack.tool}/admin/lti/platforms", timeout=10).status_code == 403
    with stack.app.app_context():
        create_user("root@example.edu", "Root", Role.ADMIN, "pw")
    admin = requests.Session()
    login_page = admin.get(f"{stack.tool}/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page.text)[1]  # type: ignore[index]
    admin.post(
        f"{stack.tool}/login",
        data={"email": "root@example.edu", "password": "pw", "csrf_token": token},
        timeout=10,
    )
    page = admin.get(f"{stack.tool}/admin/lti/platforms", timeout=10)
    assert page.status_code == 200 and stack.lms.issuer in page.text and f"{stack.tool}/lti/jwks" in page.text
    from grader.cli import main

    with stack.app.app_context():
        monkeypatch.setenv("GRADER_DATABASE_URL", str(db.engine.url.render_as_string(hide_password=False)))
    monkeypatch.setenv("GRADER_PUBLIC_URL", "https://grader.example.edu")
    assert main(["lti", "show-config"]) == 0
    assert "https://grader.example.edu/lti/login" in capsys.readouterr().out
    code = main(["lti", "register-platform", "--issuer", "https://canvas.instructure.com", "--client-id", "1000",
                 "--login-url", "https://sso.canvaslms.com/api/lti/authorize_redirect",
                 "--token-url", "https://sso.canvaslms.com/login/oauth2/token",
                 "--keyset-url", "https://sso.canvaslms.com/api/lti/security/jwks", "--deployment", "1:abc"])  # fmt: skip
    assert code == 0 and "deployments 1:abc" in capsys.readouterr().out


@pytest.mark.parametrize(
    "value, message",
    [
        ("grader.example.edu", "expected the service's base address"),
        ("http://grader.example.edu", "must be https"),
    ],
)
def test_the_public_url_setting_is_checked(tmp_path, value, message):
    from grader.config import ConfigError, ServiceConfig

    settings = {"GRADER_ENV": "production", "GRADER_SECRET_KEY": "k" * 40, "GRADER_PUBLIC_URL": value}
    with pytest.raises(ConfigError, match=message):
        ServiceConfig.from_env(tmp_path, settings)
    settings["GRADER_PUBLIC_URL"] = "https://grader.example.edu/"
    assert ServiceConfig.from_env(tmp_path, settings).public_url == "https://grader.example.edu"
