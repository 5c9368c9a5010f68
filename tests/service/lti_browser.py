"""The LTI tests' browser and shortcuts: forms as a browser submits them, a launch from the test LMS,
results written directly (grading is tested elsewhere) and the passback task's function run here."""

from __future__ import annotations

import contextlib
import html
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import requests
from flask import Flask, request
from flask_migrate import upgrade
from sqlalchemy import func, select, update
from support.databases import temporary_database
from werkzeug.serving import make_server

from grader.accounts.models import User
from grader.app import create_app
from grader.assignments.models import Assignment
from grader.courses.models import Course, Enrollment
from grader.domain_events import ResultCommitted, announce
from grader.extensions import db
from grader.lti import passback, platforms
from grader.lti.models import LtiContext, LtiGradePassback, LtiUsedNonce, LtiUser, PassbackState
from grader.submissions.models import Result, State, StoredFile, Submission

from .lti_platform import LaunchSpec, TestLms


@dataclass
class Stack:
    app: Flask
    tool: str  # the grader's base URL
    lms: TestLms

    def q(self, statement: Any) -> Any:
        with self.app.app_context():
            return db.session.execute(statement).all()

    def count(self, model: Any) -> int:
        with self.app.app_context():
            return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def form_of(page: str, form_id: str | None = None) -> tuple[str, dict[str, str]]:
    """A form's action and its hidden and checked fields (what a browser would post): the page's first
    form, or the one with this id."""
    if form_id is not None:
        page = page[page.rindex("<form", 0, page.index(f'id="{form_id}"')) :]
        page = page[: page.index("</form>")]
    action = html.unescape(re.search(r'<form[^>]*action="([^"]*)"', page)[1])  # type: ignore[index]
    fields = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name, value = re.search(r'name="([^"]*)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and ('type="hidden"' in tag or "checked" in tag):
            fields[name[1]] = html.unescape(value[1]) if value else ""
    return action, fields


def launch(stack: Stack, spec: LaunchSpec, browser: requests.Session | None = None) -> requests.Response:
    """Open the tool from the LMS: start, OIDC login, the LMS's signed form, its POST to the tool."""
    browser = browser or requests.Session()
    page = browser.get(stack.lms.start_url(spec), timeout=30)
    assert page.status_code == 200 and "id_token" in page.text, page.text[:500]
    action, fields = form_of(page.text)
    response = browser.post(action, data=fields, timeout=30)
    response.launch_form = (action, fields)  # type: ignore[attr-defined]
    return response


def user_of(stack: Stack, sub: str) -> User | None:
    with stack.app.app_context():
        return db.session.scalar(
            select(User).join(LtiUser, LtiUser.user_id == User.id).where(LtiUser.sub == sub)
        )


def course_of(stack: Stack) -> Course:
    with stack.app.app_context():
        context = db.session.scalar(select(LtiContext).where(LtiContext.context_id == "course-1"))
        assert context is not None
        return db.session.get(Course, context.course_id)


def graded(
    stack: Stack, sub: str, assignment_id: int, score: float | None, state: State = State.SCORED
) -> int:
    """A finished submission with its result written directly (grading is tested elsewhere), then its announcement."""
    with stack.app.app_context():
        user = user_of(stack, sub)
        assignment = db.session.get(Assignment, assignment_id)
        digest = uuid.uuid4().hex * 2
        db.session.add(StoredFile(sha256=digest, size=1))
        submission = Submission(
            user_id=user.id, assignment_version_id=assignment.current.id, filename="model.py",
            file_sha256=digest, kind="script", state=state,
        )  # fmt: skip
        db.session.add(submission)
        db.session.flush()
        db.session.add(_result(submission.id, score))
        db.session.commit()
        announce(ResultCommitted(submission.id, None))
        return submission.id


def _result(submission_id: int, score: float | None) -> Result:
    return Result(
        submission_id=submission_id, attempt_number=1, verdict="scored" if score is not None else "runtime_error",
        metric_name="rmse", metric_value=0.1, score=score, max_score=100.0, passed=bool(score and score >= 50), seed=0,
    )  # fmt: skip


def regraded(stack: Stack, submission_id: int, score: float) -> None:
    with stack.app.app_context():
        db.session.execute(update(Result).where(Result.submission_id == submission_id).values(score=score))
        db.session.commit()
        announce(ResultCommitted(submission_id, None))


def send_pending(stack: Stack) -> list[str]:
    with stack.app.app_context():
        ids = db.session.scalars(
            select(LtiGradePassback.id).where(LtiGradePassback.state == PassbackState.PENDING)
        ).all()
        return [passback.send(i) for i in ids]


def snapshot(stack: Stack) -> tuple[int, ...]:
    return tuple(stack.count(m) for m in (User, Course, Enrollment, LtiUser, LtiContext, LtiUsedNonce))


@contextlib.contextmanager
def lti_stack(storage: Path, redis_url: str, lms_host: str = "127.0.0.1") -> Iterator[Stack]:
    """The grader on a real threaded server (its own PostgreSQL database, ``redis_url`` as the broker)
    and the test LMS, registered with each other (the LMS on ``lms_host``: "localhost" makes it
    another site than the tool, as for a browser in the LMS's frame)."""
    redis.Redis.from_url(redis_url).flushdb()
    with temporary_database("grader_lti") as url:
        app = create_app(
            {"GRADER_ENV": "test", "GRADER_DATABASE_URL": url, "GRADER_REDIS_URL": redis_url,
             "GRADER_STORAGE_DIR": str(storage)}
        )  # fmt: skip
        with app.app_context():
            upgrade()
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        tool = f"http://127.0.0.1:{server.server_port}"
        lms = TestLms(host=lms_host)
        lms.tool = {"login": f"{tool}/lti/login", "launch": f"{tool}/lti/launch", "jwks": f"{tool}/lti/jwks"}
        with app.app_context():
            platforms.register(
                platforms.PlatformForm(
                    issuer=lms.issuer, client_id=lms.client_id, auth_login_url=f"{lms.url}/auth",
                    auth_token_url=f"{lms.url}/token", key_set_url=f"{lms.url}/jwks",
                    deployment_ids=[lms.deployment_id], name="Test LMS",
                )
            )  # fmt: skip
        try:
            yield Stack(app, tool, lms)
        finally:
            lms.stop()
            server.shutdown()
            with app.app_context():
                db.engine.dispose()


@contextlib.contextmanager
def another_site() -> Iterator[str]:
    """A tiny server that is neither the tool nor a registered LMS (another port: another origin).
    ``/framer?src=`` frames any URL (an unregistered site embedding the tool); ``/set-cookies`` sets a
    plain SameSite=None cookie and a partitioned one, ``/cookies`` lists the names it was sent (to
    check what a browser keeps in a third-party frame)."""
    app = Flask("another-site")

    @app.get("/framer")
    def framer() -> str:
        src = html.escape(request.args["src"])
        return f'<!doctype html><title>Not an LMS</title><iframe id="tool" name="tool" src="{src}"></iframe>'

    @app.get("/set-cookies")
    def set_cookies() -> Any:
        response = app.response_class("set")
        response.set_cookie("plain", "1", secure=True, samesite="None")
        response.set_cookie("partitioned", "1", secure=True, samesite="None", partitioned=True)
        return response

    @app.get("/cookies")
    def cookies() -> str:
        return "cookies: " + " ".join(sorted(request.cookies))

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
