"""LTI launches inside the LMS's iframe, as Canvas and Moodle show tools, in a browser that blocks
third-party cookies (Chromium with ``--test-third-party-cookie-phaseout``).

The test LMS (tests/service/lti_platform.py) serves a course page with the tool in an iframe, on
http://localhost while the tool is on http://127.0.0.1: two sites, so the tool in the frame is
third-party. Its page answers the platform storage messages (lti_platform_storage.js) or, as some
LMSs, offers none or never answers. The student's whole path runs inside the frame: launch,
assignment page, upload, live status (Server-Sent Events, or polling without them), result. The
grading itself is written as a worker would (tests/support/grading.py).

How a launch finds its way (grader/lti/framing.py): platform storage where the LMS answers; else the
partitioned cookie (CHIPS) that such browsers keep; else a refusal whose button opens a new window.
Framing is allowed only to the registered, enabled LMS's origins, for sessions launched from it.
"""

from __future__ import annotations

import dataclasses
import html
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from support.assignments import FIXED_SCRIPT
from support.browsing import ARTIFACTS, chromium, watched_page
from support.grading import graded_as_worker

from grader.assignments.services import publish
from grader.courses.models import Course
from grader.extensions import db, utcnow
from grader.lti import platforms
from grader.lti.models import LtiPlatform

from .lti_browser import Stack, another_site, course_of, form_of, launch, lti_stack
from .lti_platform import INSTRUCTOR, LEARNER, LaunchSpec

pytestmark = [pytest.mark.slow, pytest.mark.long]
expect = pytest.importorskip("playwright.sync_api").expect
REDIS_URL = os.environ.get("GRADER_TEST_LTI_FRAME_REDIS", "redis://127.0.0.1:6379/15")
BLOCKING_THIRD_PARTY_COOKIES = ("--test-third-party-cookie-phaseout",)
PHONE = (390, 844)
DESKTOP = (1280, 900)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with lti_stack(tmp_path_factory.mktemp("lti-frame"), REDIS_URL, lms_host="localhost") as running:
        yield running


@pytest.fixture(scope="module")
def assignment_id(stack: Stack) -> int:
    """The course the instructor's first launch made, with the paraboloid assignment published."""
    assert launch(stack, LaunchSpec(sub="teacher-1", roles=[INSTRUCTOR])).status_code == 200
    with stack.app.app_context():
        placed = publish(db.session.get(Course, course_of(stack).id), "paraboloid", daily_limit=50)
        return int(placed.id)


@pytest.fixture(scope="module")
def blocking_browser() -> Iterator[Any]:
    with chromium(BLOCKING_THIRD_PARTY_COOKIES) as launched:
        yield launched


def student(sub: str, assignment_id: int) -> LaunchSpec:
    return LaunchSpec(sub=sub, roles=[LEARNER], custom={"assignment_id": str(assignment_id)})


def keeping_no_cookie_of_the_tool(context: Any) -> Any:
    """A route handler for the LMS's auth endpoint that first forgets every cookie the tool's login
    set: the browser then acts as one that keeps no cookie in the frame, partitioned or not."""

    def forget(route: Any) -> None:
        context.clear_cookies(domain="127.0.0.1")
        route.continue_()

    return forget


def submit_and_see_the_result(stack: Stack, page: Any, screenshot: str) -> None:
    """In the frame: upload the script, see the live status, the result once graded."""
    frame = page.frame_locator("#tool")
    frame.get_by_label(re.compile("Your code")).set_input_files(str(FIXED_SCRIPT))
    frame.get_by_role("button", name="Submit for grading").click()
    tool = page.frame(name="tool")
    for _ in range(100):
        if re.search(r"/submissions/\d+$", tool.url):
            break
        page.wait_for_timeout(100)
    submission_id = int(re.search(r"/submissions/(\d+)$", tool.url)[1])  # type: ignore[index]
    expect(frame.locator("main")).to_contain_text(re.compile("queue|Queued|waiting", re.IGNORECASE))
    with stack.app.app_context():
        graded_as_worker(submission_id, score=100.0)
    expect(frame.locator("#verdict")).to_have_text("Scored", timeout=30_000)
    assert re.search(rf"/submissions/{submission_id}/result$", tool.url)
    page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)


def test_the_browser_really_blocks_third_party_cookies_but_keeps_partitioned_ones(stack, blocking_browser):
    """What the other tests stand on: in a frame of another site, a plain SameSite=None cookie is
    dropped, a partitioned one kept."""
    with another_site() as other:
        context, page, _ = watched_page(blocking_browser, *DESKTOP)
        try:
            page.goto(stack.lms.embed_url(f"{other}/set-cookies"))
            expect(page.frame_locator("#tool").locator("body")).to_have_text("set")
            page.frame(name="tool").goto(f"{other}/cookies")
            expect(page.frame_locator("#tool").locator("body")).to_have_text("cookies: partitioned")
        finally:
            context.close()


def test_a_student_launches_uploads_and_sees_the_result_in_the_lms_frame_through_platform_storage(
    stack, assignment_id, blocking_browser
):
    """On a phone-sized page, in a browser that keeps no cookie at all from the tool's login: the
    launch is bound to this browser by the value kept in the LMS's page."""
    context, page, errors = watched_page(blocking_browser, *PHONE)
    policies: list[tuple[str, str]] = []
    page.on("response", lambda r: policies.append((r.url, r.headers.get("content-security-policy", ""))))
    page.route(f"{stack.lms.url}/auth*", keeping_no_cookie_of_the_tool(context))
    try:
        page.goto(stack.lms.frame_url(student("student-storage", assignment_id), storage="answer"))
        frame = page.frame_locator("#tool")
        expect(frame.get_by_role("heading", level=1)).to_contain_text("paraboloid", timeout=15_000)
        assert page.evaluate("window.ltiMessages") == [
            "lti.capabilities", "lti.put_data", "lti.capabilities", "lti.get_data"
        ]  # fmt: skip
        # The pages of this session may be framed by the LMS, and only by it.
        page_policy = next(p for url, p in policies if url == f"{stack.tool}/assignments/{assignment_id}")
        assert f"frame-ancestors {stack.lms.url};" in page_policy
        submit_and_see_the_result(stack, page, "lti-frame-phone.png")
        assert page.evaluate("document.querySelector('#tool').getBoundingClientRect().width") <= PHONE[0]
        assert errors == []
    finally:
        context.close()


@pytest.mark.parametrize("storage", ["none", "silent"])
def test_without_platform_storage_the_partitioned_cookie_carries_the_launch(
    stack, assignment_id, blocking_browser, storage
):
    """An LMS that offers no storage, or offers it and never answers (the login and launch pages
    wait a moment, then go on): the partitioned state cookie binds the launch, and the session's
    partitioned cookie carries the upload and the status page (polling here: no EventSource)."""
    context, page, errors = watched_page(blocking_browser, *DESKTOP)
    context.add_init_script("delete window.EventSource;")
    try:
        page.goto(stack.lms.frame_url(student(f"student-{storage}", assignment_id), storage=storage))
        frame = page.frame_locator("#tool")
        expect(frame.get_by_role("heading", level=1)).to_contain_text("paraboloid", timeout=15_000)
        session = next(c for c in context.cookies(stack.tool) if c["name"] == "session")
        assert session["sameSite"] == "None" and session["secure"]
        submit_and_see_the_result(stack, page, f"lti-frame-{storage}.png")
        assert errors == []
    finally:
        context.close()


def test_when_neither_storage_nor_cookies_work_the_refusal_opens_a_new_window(
    stack, assignment_id, blocking_browser
):
    context, page, _ = watched_page(blocking_browser, *DESKTOP)
    page.route(f"{stack.lms.url}/auth*", keeping_no_cookie_of_the_tool(context))
    try:
        page.goto(stack.lms.frame_url(student("student-window", assignment_id), storage="silent"))
        frame = page.frame_locator("#tool")
        expect(frame.locator("#lti-refused")).to_contain_text("This browser did not start this launch")
        with context.expect_page() as opened:
            frame.get_by_role("link", name="Open in a new window").click()
        window = opened.value
        expect(window.get_by_role("heading", level=1)).to_contain_text("paraboloid", timeout=15_000)
        assert window.url == f"{stack.tool}/assignments/{assignment_id}"
    finally:
        context.close()


def test_a_frame_from_an_unregistered_origin_is_refused_by_the_browser(
    stack, assignment_id, blocking_browser
):
    """Neither the launch's pages nor any other page of the tool may be framed by a site that is no
    registered LMS."""
    start = stack.lms.frame_url(student("student-elsewhere", assignment_id))
    with another_site() as other:
        context, page, errors = watched_page(blocking_browser, *DESKTOP)
        try:
            login = requests.get(start, timeout=10).text  # the LMS's course page names the login URL
            src = html.unescape(re.search(r'<iframe[^>]*src="([^"]*)"', login)[1])  # type: ignore[index]
            for framed in (src, f"{stack.tool}/login"):
                page.goto(f"{other}/framer?{requests.compat.urlencode({'src': framed})}")
                page.wait_for_timeout(500)
                inside = page.frame(name="tool")
                assert inside is None or "Grader" not in inside.content()
            assert any("frame-ancestors" in e for e in errors), errors
        finally:
            context.close()


def test_a_captured_launch_cannot_use_platform_storage_in_another_browser(stack, assignment_id):
    """Login CSRF stays refused with platform storage: the victim's browser has neither the cookie
    nor the value in its LMS's page, and a value posted from another site is not taken."""
    attacker = requests.Session()
    start = requests.get(stack.lms.frame_url(student("attacker", assignment_id)), timeout=10).text
    src = html.unescape(re.search(r'<iframe[^>]*src="([^"]*)"', start)[1])  # type: ignore[index]
    stored = attacker.get(src, timeout=10).text  # the login page, with the value it would keep
    secret = html.unescape(re.search(r'data-value="([^"]*)"', stored)[1])  # type: ignore[index]
    auth = html.unescape(re.search(r'data-next="([^"]*)"', stored)[1])  # type: ignore[index]
    action, fields = form_of(attacker.get(auth, timeout=10).text)
    victim = requests.Session()
    page = victim.post(action, data=fields, timeout=10)
    assert page.status_code == 200 and 'data-action="get"' in page.text  # asks the victim's LMS page
    forged = {**fields, "lti_storage_checked": "1", "lti_storage_value": secret}
    for origin in ("http://evil.example", None):
        refused = victim.post(action, data=forged, headers={"Origin": origin} if origin else {}, timeout=10)
        assert refused.status_code == 403 and "did not start this launch" in html.unescape(refused.text)
        assert "Open in a new window" in refused.text
    assert "session" not in victim.cookies
    # The refusal's new window starts the login again at the top level, without storage.
    again = html.unescape(re.search(r'id="lti-new-window" href="([^"]*)"', refused.text)[1])  # type: ignore[index]
    assert again.startswith(f"{stack.tool}/lti/login?") and "login_hint=attacker" in again
    assert "lti_storage_target" not in again


def test_framing_follows_the_platforms_registration(stack, assignment_id):
    """A session launched inside the frame is framed by its LMS's registered origins only while its
    registration is enabled; a session launched at the top level is never framed."""
    top_level = launch(stack, student("student-disabled", assignment_id))
    assert (
        top_level.status_code == 200
        and "frame-ancestors 'none'" in top_level.headers["Content-Security-Policy"]
    )
    framed = requests.Session()  # as a browser in a frame says of each request
    framed.headers["Sec-Fetch-Dest"] = "iframe"
    page = framed.get(stack.lms.start_url(student("student-disabled", assignment_id)), timeout=10)
    action, fields = form_of(page.text)
    landed = framed.post(action, data=fields, allow_redirects=False, timeout=10)
    assert landed.status_code == 303
    cookie = landed.headers["Set-Cookie"]
    assert "SameSite=None" in cookie and "Secure" in cookie and "Partitioned" in cookie
    session = {"Cookie": cookie.split(";")[0]}  # requests sends no Secure cookie over http: by hand
    url = f"{stack.tool}/assignments/{assignment_id}"
    policy = requests.get(url, headers=session, allow_redirects=False, timeout=10).headers[
        "Content-Security-Policy"
    ]
    assert f"frame-ancestors {stack.lms.url}" in policy
    # A hosted Canvas shows its pages on the school's address: its administrator registers that too.
    canvas_page = "https://school.instructure.com"
    with stack.app.app_context():
        form = platforms.PlatformForm(
            issuer=stack.lms.issuer, client_id=stack.lms.client_id, auth_login_url=f"{stack.lms.url}/auth",
            auth_token_url=f"{stack.lms.url}/token", key_set_url=f"{stack.lms.url}/jwks", deployment_ids=[],
            name="Test LMS", frame_origins=[f"{canvas_page}/courses/1"],
        )  # fmt: skip
        with pytest.raises(platforms.RegistrationRefused, match="must be an origin only"):
            platforms.register(form)
        platforms.register(dataclasses.replace(form, frame_origins=[canvas_page]))
    policy = requests.get(url, headers=session, timeout=10).headers["Content-Security-Policy"]
    assert f"frame-ancestors {stack.lms.url} {canvas_page};" in policy
    with stack.app.app_context():
        db.session.query(LtiPlatform).update({"disabled_at": utcnow()})
        db.session.commit()
    try:
        page = requests.get(url, headers=session, timeout=10)
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    finally:
        with stack.app.app_context():
            db.session.query(LtiPlatform).update({"disabled_at": None})
            db.session.commit()
    # Logging out in the frame deletes the partitioned cookie (a cookie of other attributes would not).
    token = re.search(r'name="csrf_token" value="([^"]*)"', page.text)[1]  # type: ignore[index]
    session = {"Cookie": page.headers["Set-Cookie"].split(";")[0]}  # the token is in the session now
    out = requests.post(
        f"{stack.tool}/logout", data={"csrf_token": token}, headers=session, allow_redirects=False, timeout=10
    )
    deleted = out.headers["Set-Cookie"]
    assert deleted.startswith("session=;") and "Partitioned" in deleted and "SameSite=None" in deleted
