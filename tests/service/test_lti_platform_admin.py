"""LMS platforms managed by the grader's administrators, against the test LMS (lti1p3platform): a
disabled platform's launches are refused and nothing is sent to it until it is enabled again; the
tool's signing key is rotated (the LMS accepts what the new key signs, the old key stays in the JWKS
until its date and then leaves it); deleting a registration removes its LMS links and keeps the
courses, accounts and grades. Each change is in the audit trail. Pages, CLI and services alike."""

from __future__ import annotations

import argparse
import html
import os
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from sqlalchemy import delete, select, update

from grader.accounts.models import Role, User
from grader.accounts.services import create_user
from grader.assignments.services import publish
from grader.audit.models import Action, AuditEntry
from grader.courses.models import Course, Enrollment
from grader.extensions import db, utcnow
from grader.lti import cli as lti_cli
from grader.lti import keys, passback
from grader.lti.models import (
    LtiAccessToken,
    LtiContext,
    LtiDeployment,
    LtiGradePassback,
    LtiLineItem,
    LtiPlatform,
    LtiToolKey,
    LtiUser,
)
from grader.submissions.models import Submission

from .lti_browser import Stack, course_of, graded, launch, lti_stack, send_pending, snapshot
from .lti_platform import INSTRUCTOR, LEARNER, LaunchSpec

REDIS_URL = os.environ.get("GRADER_TEST_LTI_ADMIN_REDIS", "redis://127.0.0.1:6379/4")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with lti_stack(tmp_path_factory.mktemp("lti-admin-storage"), REDIS_URL) as running:
        with running.app.app_context():
            create_user("root@example.edu", "Root Admin", Role.ADMIN, "pw")
            create_user("staff@example.edu", "Plain Instructor", Role.INSTRUCTOR, "pw")
        yield running


def _browser(stack: Stack, email: str) -> tuple[requests.Session, str]:
    """A logged-in browser and its CSRF token."""
    browser = requests.Session()
    page = browser.get(f"{stack.tool}/login", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]  # type: ignore[index]
    done = browser.post(
        f"{stack.tool}/login", data={"csrf_token": token, "email": email, "password": "pw"}, timeout=30
    )
    assert done.status_code == 200, done.text[:300]
    home = browser.get(f"{stack.tool}/", timeout=30).text  # the session's token, made at login
    return browser, re.search(r'name="csrf_token" value="([^"]+)"', home)[1]  # type: ignore[index]


def _assignment_in_lms_course(stack: Stack) -> int:
    launch(stack, LaunchSpec(sub="teacher-1", roles=[INSTRUCTOR], email="grace@example.edu", name="Grace"))
    with stack.app.app_context():
        return publish(db.session.get(Course, course_of(stack).id), "paraboloid", daily_limit=50).id


def test_a_disabled_platform_is_refused_and_sent_nothing_until_enabled(stack):
    assignment_id = _assignment_in_lms_course(stack)
    launch(stack, LaunchSpec(sub="student-1", roles=[LEARNER], email="ada@example.edu"))
    graded(stack, "student-1", assignment_id, 70.0)
    admin, token = _browser(stack, "root@example.edu")
    with stack.app.app_context():
        platform_id = db.session.scalar(select(LtiPlatform.id))
    off = admin.post(
        f"{stack.tool}/admin/lti/platforms/{platform_id}/disable", data={"csrf_token": token}, timeout=30
    )
    assert off.status_code == 200 and "is disabled: its launches are refused" in html.unescape(off.text)
    before = snapshot(stack)
    # The LMS's login request is refused at once: no state, no redirect to the LMS.
    refused = requests.get(stack.lms.start_url(LaunchSpec(sub="student-2", roles=[LEARNER])), timeout=30)
    text = html.unescape(refused.text)
    assert (
        refused.status_code == 403
        and "registration of 'Test LMS' was disabled by the grader's administrators" in text
    )
    assert snapshot(stack) == before  # nobody made, nothing enrolled
    assert send_pending(stack) == ["failed"]
    with stack.app.app_context():
        row = db.session.scalars(select(LtiGradePassback)).one()
        assert "registration is disabled on this tool" in (row.last_error or "")
    admin.post(
        f"{stack.tool}/admin/lti/platforms/{platform_id}/enable", data={"csrf_token": token}, timeout=30
    )
    assert (
        launch(stack, LaunchSpec(sub="student-2", roles=[LEARNER], email="bo@example.edu")).status_code == 200
    )
    with stack.app.app_context():
        assert passback.retry_failed(course_of(stack).id) == 1
    assert send_pending(stack) == ["sent"] and stack.lms.scores[-1][1]["scoreGiven"] == 70.0
    with stack.app.app_context():
        course_id = course_of(stack).id
        actions = db.session.scalars(
            select(AuditEntry.action).where(AuditEntry.course_id == course_id).order_by(AuditEntry.id)
        ).all()
        assert actions[-2:] == [Action.PLATFORM_DISABLED, Action.PLATFORM_ENABLED]
        assert db.session.scalar(
            select(AuditEntry.actor_label).where(AuditEntry.course_id.is_(None))
        ).startswith("Root Admin")


def test_a_rotated_key_signs_at_once_and_the_old_one_leaves_the_jwks_after_its_date(stack):
    with stack.app.app_context():
        old = keys.signing_key().kid
    assert [k["kid"] for k in requests.get(f"{stack.tool}/lti/jwks", timeout=30).json()["keys"]] == [old]
    admin, token = _browser(stack, "root@example.edu")
    bad = admin.post(
        f"{stack.tool}/admin/lti/keys/rotate", data={"csrf_token": token, "keep_days": "soon"}, timeout=30
    )
    assert bad.status_code == 400 and "a whole number of days from 0 to 365" in html.unescape(bad.text)
    done = admin.post(
        f"{stack.tool}/admin/lti/keys/rotate", data={"csrf_token": token, "keep_days": "3"}, timeout=30
    )
    assert done.status_code == 200 and "The tool now signs with key" in html.unescape(done.text)
    with stack.app.app_context():
        new = keys.signing_key().kid
        db.session.execute(delete(LtiAccessToken))  # the next passback asks the LMS for a token anew
        db.session.commit()
    assert new != old
    assert [k["kid"] for k in requests.get(f"{stack.tool}/lti/jwks", timeout=30).json()["keys"]] == [old, new]
    # The LMS checks the client assertion, signed with the new key, against the tool's JWKS.
    tokens = stack.lms.token_requests
    with stack.app.app_context():
        assignment_id = db.session.scalar(select(LtiLineItem.assignment_id))
    graded(stack, "student-1", assignment_id, 91.0)
    assert send_pending(stack) == ["sent"] and stack.lms.token_requests == tokens + 1
    assert stack.lms.scores[-1][1]["scoreGiven"] == 91.0
    with stack.app.app_context():
        assert keys.prune() == 0  # its date has not come
        # Three days later:
        db.session.execute(
            update(LtiToolKey)
            .where(LtiToolKey.kid == old)
            .values(retire_after=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    assert [k["kid"] for k in requests.get(f"{stack.tool}/lti/jwks", timeout=30).json()["keys"]] == [new]
    with stack.app.app_context():
        assert keys.prune() == 1 and [k.kid for k in keys.all_keys()] == [new]
        keys.rotate(0, None)  # retired at once: only the newest is published
        assert len(keys.published()) == 1 and keys.prune() == 1
        assert keys.prune() == 0  # the newest, which signs, is never pruned
    page = admin.get(f"{stack.tool}/admin/lti/platforms", timeout=30).text
    assert "rotated the tool&#39;s LTI signing key" in page and 'id="tool-keys"' in page


def test_the_command_line_lists_disables_and_will_not_delete_without_yes(stack, monkeypatch, capsys):
    monkeypatch.setattr(lti_cli, "_app", lambda: stack.app)
    assert lti_cli.cmd_list(argparse.Namespace()) == 0
    out = capsys.readouterr().out
    assert re.search(r"platform \d+: Test LMS \(.*\), enabled", out) and "signs" in out
    with stack.app.app_context():
        platform_id = db.session.scalar(select(LtiPlatform.id))
    args = argparse.Namespace(platform_id=platform_id, lti_command="disable-platform", yes=False)
    assert lti_cli._platform_command(args) == 0 and "Test LMS is disabled" in capsys.readouterr().out
    args.lti_command = "enable-platform"
    assert lti_cli._platform_command(args) == 0 and "Test LMS is enabled" in capsys.readouterr().out
    args.lti_command = "delete-platform"
    assert lti_cli._platform_command(args) == 2 and "Add --yes" in capsys.readouterr().err
    assert (
        lti_cli._platform_command(
            argparse.Namespace(platform_id=999, lti_command="enable-platform", yes=False)
        )
        == 2
    )
    assert lti_cli.cmd_rotate_key(argparse.Namespace(keep_days=400)) == 2
    assert stack.count(LtiPlatform) == 1


def test_deleting_a_registration_removes_its_lms_links_and_keeps_courses_and_grades(stack):
    kept = {m.__name__: stack.count(m) for m in (Course, User, Enrollment, Submission)}
    linked = {
        m.__name__: stack.count(m)
        for m in (LtiDeployment, LtiContext, LtiUser, LtiLineItem, LtiGradePassback)
    }
    assert all(linked.values()), linked
    with stack.app.app_context():
        platform_id = db.session.scalar(select(LtiPlatform.id))
        course_id = course_of(stack).id
    instructor, instructor_token = _browser(stack, "staff@example.edu")
    for path in ("delete", "disable"):
        refused = instructor.post(
            f"{stack.tool}/admin/lti/platforms/{platform_id}/{path}",
            data={"csrf_token": instructor_token, "confirm": "Test LMS"}, timeout=30,
        )  # fmt: skip
        assert refused.status_code == 403 and "Only administrators" in refused.text
    admin, token = _browser(stack, "root@example.edu")
    wrong = admin.post(
        f"{stack.tool}/admin/lti/platforms/{platform_id}/delete",
        data={"csrf_token": token, "confirm": "yes"},
        timeout=30,
    )
    assert wrong.status_code == 400 and "Type the platform's name, 'Test LMS'" in html.unescape(wrong.text)
    assert stack.count(LtiPlatform) == 1
    done = admin.post(
        f"{stack.tool}/admin/lti/platforms/{platform_id}/delete",
        data={"csrf_token": token, "confirm": "Test LMS"},
        timeout=30,
    )
    said = html.unescape(done.text)
    assert (
        done.status_code == 200
        and "Test LMS is deleted with its 1 deployment; the 1 linked course(s) stay" in said
    )
    assert "deleted an LMS platform's registration" in said  # the page's recent changes
    assert {
        m.__name__: stack.count(m)
        for m in (LtiPlatform, LtiDeployment, LtiContext, LtiUser, LtiLineItem, LtiGradePassback)
    } == dict.fromkeys(
        ("LtiPlatform", "LtiDeployment", "LtiContext", "LtiUser", "LtiLineItem", "LtiGradePassback"), 0
    )
    assert {m.__name__: stack.count(m) for m in (Course, User, Enrollment, Submission)} == kept
    with stack.app.app_context():
        entries = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == Action.PLATFORM_DELETED)
        ).all()
        assert sorted((e.course_id or 0) for e in entries) == [0, course_id]
        assert entries[0].details == {"deployments": 1, "courses": 1}
    refused = requests.get(stack.lms.start_url(LaunchSpec(sub="student-1", roles=[LEARNER])), timeout=30)
    assert refused.status_code in (400, 403) and "No LMS with issuer" in html.unescape(refused.text)
