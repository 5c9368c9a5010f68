"""A few users cannot hold the web tier: live streams are capped, failed logins are limited.

Each open status stream holds a server thread for up to five minutes, so a user gets a few and a
process a few more; a refused stream is a 204, which tells the browser to stop reconnecting and
poll the JSON snapshot instead. Failed logins are counted per account and per address (the
``limits`` library, Flask-Limiter's core, in the Redis the service already has): guessing stops
quickly, and a correct password is refused too while the account is locked.
"""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from support.assignments import FIXED
from support.courses import enroll
from support.pages import csrf_token, log_in, page_text, upload_through_form

from grader.accounts.models import Role
from grader.accounts.services import create_user


@pytest.fixture
def limits(app, monkeypatch):  # type: ignore[no-untyped-def]
    """The app's settings with these caps (and a key prefix of this test's own)."""

    def apply(**changes: object) -> None:
        monkeypatch.delitem(app.extensions, "grader.stream_slots", raising=False)  # other tests' streams
        config = app.extensions["grader.config"]
        changes.setdefault("rate_limit_prefix", f"test-{uuid.uuid4().hex}")
        monkeypatch.setitem(app.extensions, "grader.config", dataclasses.replace(config, **changes))

    return apply


def _submission(client, student, paraboloid) -> int:  # type: ignore[no-untyped-def]
    token = log_in(client, student)
    response = upload_through_form(client, paraboloid.id, token, "fixed.py", FIXED)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def test_live_streams_are_capped_per_user_and_per_process(app, client, course, student, paraboloid, limits):
    limits(streams_per_user=2, streams_per_process=3)
    submission_id = _submission(client, student, paraboloid)
    url = f"/submissions/{submission_id}/events"
    held = [client.get(url, buffered=False) for _ in range(2)]
    assert [r.status_code for r in held] == [200, 200]
    refused = client.get(url, buffered=False)
    assert refused.status_code == 204 and refused.get_data() == b""  # EventSource stops; the page polls
    assert client.get(f"/submissions/{submission_id}/status.json").status_code == 200
    held.pop().close()  # a stream that ends frees its place
    again = client.get(url, buffered=False)
    assert again.status_code == 200

    other = create_user(f"s-{uuid.uuid4().hex[:6]}@example.edu", "Grace", Role.STUDENT, "pw")
    enroll(course, other)
    second = app.test_client()
    theirs = _submission(second, other, paraboloid)
    third = second.get(f"/submissions/{theirs}/events", buffered=False)
    assert third.status_code == 200  # the process's third stream
    assert second.get(f"/submissions/{theirs}/events", buffered=False).status_code == 204  # its cap
    for response in [third, again, *held]:  # last opened first: the test client nests their contexts
        response.close()
    assert second.get(f"/submissions/{theirs}/events", buffered=False).status_code == 200


def _attempt(client, email: str, password: str):  # type: ignore[no-untyped-def]
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def test_failed_logins_are_limited_per_account(app, client, student, limits):
    limits(login_limit_account="3 per minute", login_limit_address="100 per minute")
    assert [_attempt(client, student.email, "wrong").status_code for _ in range(3)] == [401, 401, 401]
    locked = _attempt(client, student.email, "pw")  # even the right password, while locked
    assert locked.headers["Retry-After"] == "60"
    page = page_text(locked, 429)
    assert "Too many failed logins" in page and "ask your instructor" in page
    assert _attempt(client, student.email.upper(), "wrong").status_code == 429  # the same account
    other = create_user(f"t-{uuid.uuid4().hex[:6]}@example.edu", "Alan", Role.STUDENT, "pw")
    assert _attempt(app.test_client(), other.email, "pw").status_code == 303  # others are not locked out


def test_failed_logins_are_limited_per_address(app, client, limits):
    limits(login_limit_account="100 per minute", login_limit_address="4 per minute")
    client.environ_base["REMOTE_ADDR"] = f"10.{uuid.uuid4().int % 250}.7.9"  # not the other tests' address
    emails = [f"guess-{i}@example.edu" for i in range(4)]
    assert [_attempt(client, e, "x").status_code for e in emails] == [401] * 4
    assert _attempt(client, "guess-5@example.edu", "x").status_code == 429


def test_successful_logins_do_not_count(app, client, student, limits):
    limits(login_limit_account="2 per minute", login_limit_address="2 per minute")
    address = f"10.{uuid.uuid4().int % 250}.8.9"
    for _ in range(4):
        fresh = app.test_client()
        fresh.environ_base["REMOTE_ADDR"] = address
        assert _attempt(fresh, student.email, "pw").status_code == 303
