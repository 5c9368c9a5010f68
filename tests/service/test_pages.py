"""The web pages: login, CSRF, upload through the form, live status (JSON and SSE), result, scoreboard."""

from __future__ import annotations

import ast
import html
import json
import re
import threading
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.engine import Engine
from support.assignments import FIXED
from support.courses import enroll
from support.pages import csrf_token, log_in, log_out, page_text, upload_through_form
from support.uploads import make_zip

from grader.accounts.models import Role
from grader.accounts.services import create_user
from grader.assignments.services import publish
from grader.courses.models import Course
from grader.extensions import db, utcnow
from grader.storage import StorageError, current_store
from grader.submissions import notify
from grader.submissions.models import Curve, Result, ResultDiagnosis, ResultFit, State, StoredFile, Submission
from grader.submissions.reference import REFERENCE_EMAIL, reference_run_of
from grader.web import events
from grader.web.fits import fit_caption
from grader.web.kept import Kept
from grader.workers import grading


@pytest.fixture
def storage(app):  # type: ignore[no-untyped-def]
    return app.extensions["grader.config"].storage_dir


def _counts(storage) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    return (
        db.session.scalar(select(func.count(Submission.id))) or 0,
        db.session.scalar(select(func.count()).select_from(StoredFile)) or 0,
        sum(1 for p in storage.rglob("*") if p.is_file()),
    )


def test_pages_need_a_login(client, paraboloid):
    for path in (
        "/",
        f"/assignments/{paraboloid.id}",
        "/submissions/1",
        f"/assignments/{paraboloid.id}/scoreboard",
    ):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next="), response.headers["Location"]
    events_response = client.get("/submissions/1/events", headers={"Accept": "text/event-stream"})
    assert events_response.status_code == 401
    assert client.get("/submissions/1/status.json", headers={"Accept": "application/json"}).status_code == 401


def test_login_and_logout(client, student):
    page = client.get("/login?next=/assignments/7")
    assert 'for="email"' in page_text(page) and 'for="password"' in page_text(page)
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    token = csrf_token(page.get_data(as_text=True))
    wrong = client.post("/login", data={"email": student.email, "password": "nope", "csrf_token": token})
    assert "do not match" in page_text(wrong, 401)
    good = client.post(
        "/login",
        data={
            "email": student.email.upper(),
            "password": "pw",
            "csrf_token": token,
            "next": "/assignments/7",
        },
    )
    assert good.status_code == 303 and good.headers["Location"] == "/assignments/7"
    cookie = good.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    home = client.get("/")
    assert "Ada Student" in page_text(home)
    assert client.post("/logout").status_code == 400  # no CSRF token
    new_token = csrf_token(home.get_data(as_text=True))
    assert new_token != token  # a fresh session on login
    assert client.post("/logout", data={"csrf_token": new_token}).status_code == 303
    assert client.get("/").status_code == 302


def test_login_needs_the_csrf_token_and_refuses_foreign_redirects(client, student):
    client.get("/login")
    refused = client.post("/login", data={"email": student.email, "password": "pw"})
    assert "expired" in page_text(refused, 400)
    token = csrf_token(client.get("/login").get_data(as_text=True))
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = client.post(
            "/login", data={"email": student.email, "password": "pw", "csrf_token": token, "next": target}
        )
        assert response.headers["Location"] == "/", target
        log_out(client)
        token = csrf_token(client.get("/login").get_data(as_text=True))


def test_the_student_sees_their_assignments(client, student, paraboloid, course):
    other = Course(code="OTHER-1", title="Not mine")
    db.session.add(other)
    db.session.commit()
    hidden = publish(other, "paraboloid")
    log_in(client, student)
    page = page_text(client.get("/"))
    assert paraboloid.title in page and "0 of 3" in page and "none yet" in page
    assert f"/assignments/{hidden.id}" not in page
    assert "Scoreboard" not in page
    assignment_page = client.get(f"/assignments/{paraboloid.id}")
    body = page_text(assignment_page)
    assert "Train a neural network that learns the function" in body  # the Markdown description, as text
    assert (
        'accept=".py,.ipynb,.zip"' in body
        and "at most 256 KiB" in body
        and 'enctype="multipart/form-data"' in body
    )
    assert client.get(f"/assignments/{hidden.id}").status_code == 404


def test_an_upload_through_the_form_goes_to_its_status_page(client, student, paraboloid):
    token = log_in(client, student)
    response = upload_through_form(client, paraboloid.id, token, "fixed.py", FIXED)
    assert response.status_code == 303, response.get_data(as_text=True)
    submission_id = int(response.headers["Location"].rsplit("/", 1)[1])
    submission = db.session.get(Submission, submission_id)
    assert submission.state is State.QUEUED and submission.user_id == student.id
    status = client.get(response.headers["Location"])
    body = page_text(status)
    assert "Waiting in the queue" in body
    assert f'data-events-url="/submissions/{submission_id}/events"' in body
    assert "fixed.py" in page_text(client.get(f"/assignments/{paraboloid.id}"))
    assert "1 of 3" in page_text(client.get("/"))


@pytest.mark.parametrize(
    "filename, content, status, words",
    [
        ("big.py", b"#" * (300 * 1024), 413, "large"),
        ("huge.py", b"#" * (400 * 1024), 413, "too large"),  # over the request limit: refused unread
        ("empty.py", b"", 422, "empty"),
        ("model.pt", b"\x80\x04binary", 422, ".py, .ipynb or .zip"),
        ("late.py", b"x = 1\n", 403, "The deadline of"),
        (
            "bomb.zip",
            make_zip({"main.py": b"x = 1\n", "zeros.txt": b"\0" * (60 * 1024 * 1024)}),
            422,
            "bomb.zip",
        ),
        ("evil.zip", make_zip({"../../etc/cron.d/evil": b"x", "main.py": b"x = 1\n"}), 422, ".."),
    ],
)
def test_a_refused_upload_shows_why_and_changes_nothing(
    client, student, paraboloid, storage, filename, content, status, words
):
    token = log_in(client, student)
    if filename == "late.py":
        paraboloid.deadline = utcnow() - timedelta(days=4)  # past its 3-day late window
        db.session.commit()
    before = _counts(storage)
    response = upload_through_form(client, paraboloid.id, token, filename, content)
    assert words in page_text(response, status)
    assert _counts(storage) == before


def test_refusals_of_the_service_are_shown_with_their_status(client, student, paraboloid, storage):
    token = log_in(client, student)
    for index in range(3):
        accepted = upload_through_form(client, paraboloid.id, token, "s.py", f"x = {index}\n".encode())
        assert accepted.status_code == 303
    before = _counts(storage)
    response = upload_through_form(client, paraboloid.id, token, "s.py", b"x = 99\n")
    body = page_text(response, 429)
    assert 'role="alert"' in body and "You have used all 3 submissions of the last 24 hours" in body
    missing = upload_through_form(client, paraboloid.id, token, "", b"")
    assert "Choose a .py" in page_text(missing, 400)
    forged = upload_through_form(client, paraboloid.id, "not-the-token", "s.py", b"x = 1\n")
    assert forged.status_code == 400
    assert _counts(storage) == before


def test_someone_elses_assignment_through_the_form(client, student, storage):
    other = Course(code="ELSEWHERE-1", title="Not mine")
    db.session.add(other)
    db.session.commit()
    assignment = publish(other, "paraboloid")
    token = log_in(client, student)
    before = _counts(storage)
    response = upload_through_form(client, assignment.id, token, "s.py", b"x = 1\n")
    assert response.status_code in (403, 404)
    assert _counts(storage) == before


def _running(submission_id: int, progress: dict | None) -> None:  # type: ignore[type-arg]
    db.session.execute(
        update(Submission)
        .where(Submission.id == submission_id)
        .values(state=State.RUNNING, progress=progress, attempts=1)
    )
    db.session.commit()


def _uploaded(client, student, paraboloid) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    token = log_in(client, student)
    response = upload_through_form(client, paraboloid.id, token, "fixed.py", FIXED)
    return int(response.headers["Location"].rsplit("/", 1)[1]), token


def test_status_json(client, student, paraboloid):
    submission_id, _ = _uploaded(client, student, paraboloid)
    body = client.get(f"/submissions/{submission_id}/status.json").get_json()
    assert body["state"] == "queued" and body["final"] is False and body["progress"] is None
    assert body["result_url"] == f"/submissions/{submission_id}/result"
    _running(submission_id, {"step": 120, "elapsed": 3.5, "loss": None, "budget_seconds": 120})
    body = client.get(f"/submissions/{submission_id}/status.json").get_json()
    assert body["state"] == "running" and body["label"] == "Training"
    assert body["progress"] == {"step": 120, "elapsed": 3.5, "loss": None, "budget_seconds": 120}
    page = page_text(client.get(f"/submissions/{submission_id}"))
    assert 'id="step">120<' in page and "3.5 s of 120 s" in page


def _events(chunks: list[str]) -> list[dict]:  # type: ignore[type-arg]
    return [
        json.loads(line[len("data: ") :])
        for line in "".join(chunks).split("\n")
        if line.startswith('data: {"')
    ]


def test_the_event_stream_sends_the_current_status_first(client, student, paraboloid):
    submission_id, _ = _uploaded(client, student, paraboloid)
    _running(submission_id, {"step": 10, "elapsed": 1.0, "loss": 0.5, "budget_seconds": 120})
    response = client.get(f"/submissions/{submission_id}/events", buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-store"
    stream = iter(response.response)
    chunks = [next(stream), next(stream)]
    response.close()
    assert chunks[0].decode().startswith("retry: ")
    (first,) = _events([c.decode() for c in chunks])
    assert first["state"] == "running" and first["progress"]["step"] == 10 and first["final"] is False


def test_the_event_stream_ends_at_a_final_state_and_at_its_cap(app, client, student, paraboloid, monkeypatch):
    submission_id, _ = _uploaded(client, student, paraboloid)
    monkeypatch.setitem(app.config, "GRADER_EVENTS_POLL_SECONDS", 0.01)
    monkeypatch.setitem(app.config, "GRADER_EVENTS_MAX_SECONDS", 0.2)
    capped = client.get(f"/submissions/{submission_id}/events").get_data(as_text=True)
    assert capped.rstrip().endswith("event: timeout\ndata: {}")
    assert [e["state"] for e in _events([capped])] == ["queued"]  # unchanged: sent once
    db.session.execute(update(Submission).where(Submission.id == submission_id).values(state=State.FAILED))
    db.session.commit()
    final = client.get(f"/submissions/{submission_id}/events").get_data(as_text=True)
    assert [e["final"] for e in _events([final])] == [True] and "timeout" not in final


def test_the_event_stream_sends_each_change(app, client, student, paraboloid):
    submission_id, _ = _uploaded(client, student, paraboloid)
    steps = iter(
        [
            lambda: _running(submission_id, {"step": 1, "elapsed": 1.0, "loss": 2.0, "budget_seconds": 120}),
            lambda: None,  # nothing changed: no event
            lambda: _running(submission_id, {"step": 2, "elapsed": 2.0, "loss": 1.0, "budget_seconds": 120}),
            lambda: (
                db.session.execute(
                    update(Submission).where(Submission.id == submission_id).values(state=State.SCORED)
                ),
                db.session.commit(),
            ),
        ]
    )
    with app.test_request_context():
        chunks = list(events.stream(submission_id, sleep=lambda _: next(steps)()))
    seen = [(e["state"], (e["progress"] or {}).get("step")) for e in _events(chunks)]
    assert seen == [("queued", None), ("running", 1), ("running", 2), ("scored", 2)]


def test_a_redis_notification_wakes_the_event_stream_at_once(app, client, student, paraboloid):
    # Without the notification the stream would read again only after FOLLOW_SECONDS.
    submission_id, _ = _uploaded(client, student, paraboloid)
    with app.test_request_context():
        stream = events.stream(submission_id)
        assert next(stream).startswith("retry:")
        assert _events([next(stream)])[0]["state"] == "queued"
        _running(submission_id, {"step": 7, "elapsed": 1.0, "loss": 0.5, "budget_seconds": 120})

        def later() -> None:
            time.sleep(0.3)
            with app.app_context():
                notify.notify(submission_id)

        threading.Thread(target=later).start()
        started = time.monotonic()
        update_event = _events([next(stream)])[0]
        waited = time.monotonic() - started
        stream.close()
    assert update_event["state"] == "running" and update_event["progress"]["step"] == 7
    assert waited < events.FOLLOW_SECONDS - 1, waited


DIAGNOSIS = {
    "code": "gradients_not_zeroed", "severity": "error", "title": "Gradients are never zeroed",
    "seen": "2,999 of 3,000 optimizer steps ran with no zero_grad() since the step before.",
    "why": "PyTorch adds each backward() to the gradients already stored.",
    "fix": "Call optimizer.zero_grad() once per step, before loss.backward().", "where": "main.py:49",
}  # fmt: skip


def _scored(submission_id: int, score: float, metric: float, **extra) -> Result:  # type: ignore[no-untyped-def]
    db.session.execute(update(Submission).where(Submission.id == submission_id).values(state=State.SCORED))
    result = Result(
        submission_id=submission_id, attempt_number=1, verdict="scored", message="Scored on 5000 hidden points.",
        metric_name="mse", metric_value=metric, score=score, max_score=100.0, passed=score >= 100, seed=7,
        details={"details": {}, "notes": ["Training was stopped at the time budget (120 s)."],
                 "warnings": [{"category": "UserWarning", "message": "careful\nmore", "file": "/job/main.py",
                               "line": 12, "count": 3}],
                 "diagnoses": [DIAGNOSIS, {"code": "forged", "severity": "<script>", "title": "x"}]},
        **extra,
    )  # fmt: skip
    result.curves.append(
        Curve(series="loss", steps=[0, 10, 20, 30], values=[4.0, None, 0.25, 0.0009], points_total=4)
    )
    result.diagnoses.append(
        ResultDiagnosis(code=DIAGNOSIS["code"], severity="error", title=DIAGNOSIS["title"])
    )
    db.session.add(result)
    db.session.commit()
    return result


def test_the_result_page(client, student, paraboloid):
    submission_id, _ = _uploaded(client, student, paraboloid)
    _scored(submission_id, 97.5, 0.00083)
    status = client.get(f"/submissions/{submission_id}")
    assert status.status_code == 302 and status.headers["Location"] == f"/submissions/{submission_id}/result"
    page = client.get(f"/submissions/{submission_id}/result")
    body = page_text(page)
    assert body.index("Scored") < body.index("97.5") < body.index("Training curve")
    assert "MSE 0.00083" in body and "Training was stopped at the time budget" in body
    assert "main.py:12" in body and "careful" in body and "(×3)" in body
    card = body[body.index('id="diagnosis-gradients_not_zeroed"') :]
    assert "Gradients are never zeroed" in card and "main.py:49" in card and "2,999 of 3,000" in card
    assert "Call optimizer.zero_grad() once per step" in card and "forged" not in body
    data = re.search(r'<script type="application/json" id="curve-data">(.*?)</script>', body, re.S)
    assert data is not None
    curves = json.loads(data.group(1))
    loss = curves["loss"]
    assert loss["steps"] == [0, 10, 20, 30] and loss["values"] == [4.0, None, 0.25, 0.0009]
    assert "lowest 0.0009 at step 30" in loss["summary"]
    groups = re.search(r'<script type="application/json" id="chart-groups">(.*?)</script>', body, re.S)
    assert groups is not None and json.loads(groups.group(1)) == [
        {"key": "loss", "title": "Loss", "series": ["loss"]}
    ]
    assert "/static/vendor/uPlot.iife.min.js" in body and "/static/vendor/uPlot.min.css" in body
    assert "<script>" not in body  # no inline script: the page works under its CSP


def _finding(code: str, severity: str) -> dict[str, str]:
    return {
        "code": code,
        "severity": severity,
        "title": f"title of {code}",
        "seen": "1",
        "why": "w",
        "fix": "f",
    }


def test_the_result_page_keeps_the_likeliest_cause_first_and_says_when_nothing_explains_a_failure(
    client, student, paraboloid
):
    ordered = [_finding("plateau", "hint"), _finding("mse_for_classification", "warning"),
               _finding("constant_output", "error")]  # fmt: skip
    explained, token = _uploaded(client, student, paraboloid)
    _scored(explained, 10.0, 0.05).details = {"diagnoses": ordered}
    db.session.commit()
    body = page_text(client.get(f"/submissions/{explained}/result"))
    # The engine's order (a warned-of cause before an error's symptom), hints last; nothing unexplained.
    positions = [
        body.index(f'id="diagnosis-{code}"')
        for code in ("mse_for_classification", "constant_output", "plateau")
    ]
    assert positions == sorted(positions) and "No known mistake found" not in body
    again = upload_through_form(client, paraboloid.id, token, "fixed.py", FIXED)
    unexplained = int(again.headers["Location"].rsplit("/", 1)[1])
    _scored(unexplained, 10.0, 0.05).details = {"diagnoses": [ordered[0]]}
    db.session.commit()
    body = page_text(client.get(f"/submissions/{unexplained}/result"))
    assert body.index("No known mistake found") < body.index('id="diagnosis-plateau"')


def test_only_staff_are_told_what_a_run_says_against_itself_and_the_exact_metric(
    client, student, paraboloid, course
):
    submission_id, _ = _uploaded(client, student, paraboloid)
    result = _scored(submission_id, 10.0, 0.05)
    result.details = {
        "details": {
            "records_disagree": {"claimed_parameters": 3, "measured_parameters": 1201, "weights_frames": 2},
            "exact_metric": {"hidden": 0.0501234567, "public": 0.049},
            "learning_doubt": {"passes_before_training": 0.0001, "unchanged_by_noise": True},
        }
    }
    db.session.commit()
    seen = page_text(client.get(f"/submissions/{submission_id}/result"))
    for staff_only in ("records-disagree", "learning-doubt", "exact-metric", "0.0501235"):
        assert staff_only not in seen, staff_only
    log_out(client)
    teacher = create_user("checker@example.edu", "Grace Teacher", Role.INSTRUCTOR, "pw")
    enroll(course, teacher, Role.INSTRUCTOR)
    log_in(client, teacher)
    note = page_text(client.get(f"/submissions/{submission_id}/result"))
    assert 'id="records-disagree"' in note and "reported a model of 3 parameters" in note and "1201" in note
    assert "it sent 2 sets of weights" in note
    assert 'id="exact-metric"' in note and "exact: 0.0501235" in note
    assert 'id="learning-doubt"' in note and "before its first optimizer step" in note
    assert "did not change at all when its weights were moved by noise" in note


def test_the_result_page_draws_the_fit_over_the_domain(client, student, paraboloid):
    submission_id, _ = _uploaded(client, student, paraboloid)
    axes = [{"name": "x", "unit": "", "values": [0.0, 1.0], "log": False},
            {"name": "y", "unit": "m", "values": [0.0, 0.5], "log": False}]  # fmt: skip
    payload = {
        "kind": "heatmap", "task": "regression", "classes": 0, "target": "z", "axes": axes,
        "prediction": [0.0, 0.25, 1.5, None], "truth": [0.0, 0.25, 1.0, 1.25], "error": [0.0, 0.0, 0.5, None],
    }  # fmt: skip
    result = _scored(submission_id, 60.0, 0.01, public_metric=0.012, public_score=58.0)
    result.fit = ResultFit(payload=payload)
    db.session.commit()
    body = page_text(client.get(f"/submissions/{submission_id}/result"))
    section = body[body.index('id="fit-heading"') :]
    assert "The fit over the domain" in section and '<option value="error">' in section
    # The caption says it in words (for everyone, and what a screen reader reads for the chart).
    assert "root-mean-square error 0.289 over the whole domain" in section
    assert "the largest, +0.5, at x = 1, y = 0" in section
    data = re.search(r'<script type="application/json" id="fit-data">(.*?)</script>', body, re.S)
    assert data is not None and json.loads(data.group(1)) == payload
    assert "/static/web/fit.js" in body and "0.012" in body  # the public part's metric, shown to its owner


def test_fit_captions_for_lines_and_regions():
    line = {"kind": "line", "task": "binary", "axes": [{"name": "t", "values": [1, 2, 3, 4]}],
            "prediction": [0, 0, 1, 1], "truth": [0, 1, 1, 1]}  # fmt: skip
    assert fit_caption(line) == "Your model's class over t: wrong on 25% of the domain."
    regions = {"kind": "regions", "axes": [{"name": "x1"}, {"name": "x2"}], "prediction": [0, 2, 2, None]}
    assert fit_caption(regions) == (
        "Decision regions of your model over x1 and x2 (share of the domain per class: class 0: 33%, class 2: 67%)."
    )
    assert "not known" in fit_caption({"kind": "heatmap", "axes": [], "prediction": [1.0], "truth": None})


def test_a_failed_result_shows_the_traceback(client, student, paraboloid):
    submission_id, _ = _uploaded(client, student, paraboloid)
    db.session.execute(update(Submission).where(Submission.id == submission_id).values(state=State.FAILED))
    db.session.add(
        Result(
            submission_id=submission_id,
            attempt_number=1,
            verdict="runtime_error",
            message="Your code raised ZeroDivisionError on line 3.",
            metric_name="mse",
            max_score=100.0,
            seed=1,
            details={"details": {"traceback": 'File "main.py", line 3\nZeroDivisionError: division by zero'}},
        )
    )
    db.session.commit()
    body = page_text(client.get(f"/submissions/{submission_id}/result"))
    assert "Runtime error" in body and "ZeroDivisionError: division by zero" in body
    assert 'id="curve-data"' not in body


def test_a_platform_error_without_a_result(client, student, paraboloid):
    submission_id, _ = _uploaded(client, student, paraboloid)
    db.session.execute(update(Submission).where(Submission.id == submission_id).values(state=State.ERROR))
    db.session.commit()
    body = page_text(client.get(f"/submissions/{submission_id}/result"))
    assert "Platform error" in body and "not counted against your limits" in body


def test_others_cannot_see_a_submission(client, student, paraboloid, course):
    submission_id, _ = _uploaded(client, student, paraboloid)
    log_out(client)
    other = create_user("other-student@example.edu", "Other", Role.STUDENT, "pw")
    enroll(course, other)
    log_in(client, other)
    for path in ("", "/result", "/status.json", "/events"):
        assert client.get(f"/submissions/{submission_id}{path}").status_code == 404, path


def test_the_scoreboard(client, student, paraboloid, course):
    submission_id, token = _uploaded(client, student, paraboloid)
    _scored(submission_id, 60.0, 0.04)
    second = int(
        upload_through_form(client, paraboloid.id, token, "b.py", b"x = 2\n")
        .headers["Location"]
        .rsplit("/", 1)[1]
    )
    _scored(second, 97.5, 0.00083)
    assert client.get(f"/assignments/{paraboloid.id}/scoreboard").status_code == 403
    log_out(client)
    outsider = create_user("outsider@example.edu", "Outsider", Role.INSTRUCTOR, "pw")
    log_in(client, outsider)
    assert client.get(f"/assignments/{paraboloid.id}/scoreboard").status_code == 404
    log_out(client)
    teacher = create_user("teacher@example.edu", "Grace Teacher", Role.INSTRUCTOR, "pw")
    enroll(course, teacher, Role.INSTRUCTOR)
    idle = create_user("idle@example.edu", "Idle Student", Role.STUDENT, "pw")
    enroll(course, idle)
    log_in(client, teacher)
    assert "Scoreboard" in page_text(client.get("/"))
    page = client.get(f"/assignments/{paraboloid.id}/scoreboard")
    body = page_text(page)
    table = body[body.index("<table") :]
    assert "Ada Student" in table and "Idle Student" in table and "Grace Teacher" not in table
    row = body[body.index("Ada Student") : body.index("</tr>", body.index("Ada Student"))]
    assert f"/submissions/{second}/result" in row and "97.5" in row and "0.00083" in row
    assert "<td>2</td>" in row and "on time" in row
    assert 'aria-sort="ascending"' in body and "sort=score&amp;order=asc" in html.escape(body)
    assert "Class analytics" in body
    analytics = page_text(client.get(f"/assignments/{paraboloid.id}/analytics"))
    counts = analytics[analytics.index('id="diagnosis-counts"') :]
    assert "Gradients are never zeroed" in counts and "<td>1</td>" in counts  # one student, two results
    # Staff may open the student's result.
    assert client.get(f"/submissions/{second}/result").status_code == 200
    log_out(client)
    admin = create_user("admin@example.edu", "Root Admin", Role.ADMIN, "pw")  # in no course
    log_in(client, admin)
    assert "Ada Student" in page_text(client.get(f"/assignments/{paraboloid.id}/scoreboard"))


def test_the_vendor_route_serves_only_uplot(client):
    script = client.get("/static/vendor/uPlot.iife.min.js")
    assert script.status_code == 200 and script.mimetype in ("text/javascript", "application/javascript")
    assert b"uPlot" in script.get_data()
    assert client.get("/static/vendor/uPlot.min.css").mimetype == "text/css"
    for name in ("uPlot.esm.js", "LICENSE", "README.md", "..%2F..%2Fviews.py", "../../views.py"):
        assert client.get(f"/static/vendor/{name}").status_code == 404, name
    assert client.get("/static/web/app.css").status_code == 200


def test_an_instructor_regrades_a_submission(client, student, paraboloid, course):
    submission_id, token = _uploaded(client, student, paraboloid)
    # Still being graded: nobody can regrade it yet; then it finishes.
    _scored(submission_id, 60.0, 0.04)
    body = page_text(client.get(f"/submissions/{submission_id}/result"))
    assert f'action="/submissions/{submission_id}/regrade"' not in body  # the student has no such button...
    assert "Ask for a regrade" in body  # (but may ask their instructor for one)
    refused = client.post(f"/submissions/{submission_id}/regrade", data={"csrf_token": token})
    assert refused.status_code == 403  # ...nor the right
    client.post("/logout", data={"csrf_token": token})
    teacher = create_user("regrader@example.edu", "Grace Teacher", Role.INSTRUCTOR, "pw")
    enroll(course, teacher, Role.INSTRUCTOR)
    staff_token = log_in(client, teacher)
    page = page_text(client.get(f"/submissions/{submission_id}/result"))
    assert f'action="/submissions/{submission_id}/regrade"' in page and "by Ada Student" in page
    before = db.session.scalar(select(func.count(Submission.id)))
    done = client.post(f"/submissions/{submission_id}/regrade", data={"csrf_token": staff_token})
    assert done.status_code == 303 and done.headers["Location"] == f"/submissions/{submission_id}"
    submission = db.session.get(Submission, submission_id)
    db.session.refresh(submission)
    assert submission.state is State.QUEUED and submission.attempts == 0 and submission.result is None
    assert db.session.scalar(select(func.count(Submission.id))) == before  # no new, charged submission
    again = client.post(f"/submissions/{submission_id}/regrade", data={"csrf_token": staff_token})
    assert "still being graded" in page_text(again, 409)


def test_the_assignment_page_renders_its_maths_and_offers_a_starter(client, student, paraboloid):
    log_in(client, student)
    page = client.get(f"/assignments/{paraboloid.id}").get_data(as_text=True)
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">' in page  # $$z = x^2 + y^2$$
    assert "<code>[N, 2]</code>" in page and "$$" not in page  # Markdown and maths, both rendered
    starter = client.get(f"/assignments/{paraboloid.id}/starter.py")
    assert starter.status_code == 200 and "paraboloid_starter.py" in starter.headers["Content-Disposition"]
    source = starter.get_data(as_text=True)
    ast.parse(source)
    assert "submit(model)" in source and "grader run paraboloid" in source


def test_a_submission_in_full_shows_its_code_attempts_and_version(client, student, paraboloid):
    submission_id, _ = _uploaded(client, student, paraboloid)
    attempt = grading.claim(submission_id, "worker-a:1")
    assert attempt == 1
    _scored(submission_id, 97.5, 0.00083)
    body = client.get(f"/submissions/{submission_id}/result").get_data(as_text=True)
    code = body[body.index('id="code-heading"') :]
    assert "Graded against version 1 of the assignment" in code
    assert '<div class="code">' in code and "NonLinearRegression" in code and "(run)" in code
    assert '<span class="kn">import</span>' in code  # highlighted on the server
    assert "worker-a:1" in body[body.index('id="attempts-heading"') :]
    css = client.get("/static/highlight.css")
    assert css.status_code == 200 and css.mimetype == "text/css" and ".code .kn" in css.get_data(as_text=True)


def test_an_upload_is_highlighted_once_and_a_storage_failure_is_not_remembered(
    client, student, paraboloid, monkeypatch
):
    token = log_in(client, student)
    unique = FIXED + f"# {uuid.uuid4()}\n".encode()  # no other test's upload: none was shown before
    response = upload_through_form(client, paraboloid.id, token, "fixed.py", unique)
    submission_id = int(response.headers["Location"].rsplit("/", 1)[1])
    _scored(submission_id, 97.5, 0.00083)
    store = current_store()
    reads = []
    real_get = store.get

    def get(digest: str, limit: int) -> bytes:
        reads.append(digest)
        if failing:
            raise StorageError("the object store is away")
        return real_get(digest, limit)

    monkeypatch.setattr(store, "get", get)
    failing = True
    body = page_text(client.get(f"/submissions/{submission_id}/result"))
    assert "The stored upload cannot be shown: the object store is away" in body
    failing = False
    for _ in range(3):  # the first view after the failure reads the store again; later ones do not
        body = page_text(client.get(f"/submissions/{submission_id}/result"))
        assert '<span class="kn">import</span>' in body and "cannot be shown" not in body
    assert len(reads) == 2


def test_what_a_web_process_keeps_is_bounded_least_recently_used_first():
    store: Kept[str, str] = Kept(limit=100, size=len)
    store.put("1", "x" * 40)
    store.put("2", "y" * 40)
    assert store.get("1") == "x" * 40  # now the most recently used
    store.put("3", "z" * 40)
    assert store.get("2") is None and store.get("1") == "x" * 40 and store.size <= 100
    store.put("4", "w" * 200)
    assert store.get("4") is None and store.get("3") == "z" * 40  # too big to keep


def test_a_result_s_figures_are_read_once_and_written_as_the_template_would(client, student, paraboloid):
    submission_id, _ = _uploaded(client, student, paraboloid)
    _scored(submission_id, 97.5, 0.00083)
    first = page_text(client.get(f"/submissions/{submission_id}/result"))
    result = db.session.scalar(select(Result).where(Result.submission_id == submission_id))
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        again = page_text(client.get(f"/submissions/{submission_id}/result"))
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert again == first and statements  # the page still reads the submission and its result
    assert not any("FROM curves" in s or "FROM result_fits" in s for s in statements), statements
    shown = json.loads(re.search(r'id="curve-data">(.*?)</script>', again, re.S).group(1))
    assert list(shown) == sorted(c.series for c in result.curves) and shown["loss"]["values"]


def test_a_student_compares_two_submissions(client, student, paraboloid, course):
    first, token = _uploaded(client, student, paraboloid)
    second = int(
        upload_through_form(client, paraboloid.id, token, "b.py", b"x = 2\n")
        .headers["Location"]
        .rsplit("/", 1)[1]
    )
    third = int(
        upload_through_form(client, paraboloid.id, token, "c.py", b"x = 3\n")
        .headers["Location"]
        .rsplit("/", 1)[1]
    )
    _scored(first, 60.0, 0.04)
    _scored(second, 97.5, 0.00083)
    page = page_text(client.get(f"/assignments/{paraboloid.id}"))
    assert f'name="s" value="{first}"' in page and f'name="s" value="{third}"' not in page  # graded only
    body = page_text(client.get(f"/assignments/{paraboloid.id}/compare?s={first}&s={second}"))
    groups = json.loads(re.search(r'id="chart-groups">(.*?)</script>', body, re.S).group(1))
    assert groups == [
        {"key": "loss", "title": "Training loss", "series": [f"#{first} loss", f"#{second} loss"]}
    ]
    assert client.get(f"/assignments/{paraboloid.id}/compare?s={first}").status_code == 400
    assert client.get(f"/assignments/{paraboloid.id}/compare?s={first}&s={third}").status_code == 404
    client.post("/logout", data={"csrf_token": token})
    other = create_user("peeker@example.edu", "Peeker", Role.STUDENT, "pw")
    enroll(course, other)
    log_in(client, other)
    assert client.get(f"/assignments/{paraboloid.id}/compare?s={first}&s={second}").status_code == 404


def test_class_analytics(client, student, paraboloid, course):
    first, token = _uploaded(client, student, paraboloid)
    second = int(
        upload_through_form(client, paraboloid.id, token, "b.py", b"x = 2\n")
        .headers["Location"]
        .rsplit("/", 1)[1]
    )
    _scored(first, 55.0, 0.03)
    _scored(second, 97.5, 0.00083)
    assert client.get(f"/assignments/{paraboloid.id}/analytics").status_code == 403
    client.post("/logout", data={"csrf_token": token})
    teacher = create_user("analyst@example.edu", "Grace Teacher", Role.INSTRUCTOR, "pw")
    enroll(course, teacher, Role.INSTRUCTOR)
    log_in(client, teacher)
    body = page_text(client.get(f"/assignments/{paraboloid.id}/analytics"))
    data = json.loads(re.search(r'id="analytics-data">(.*?)</script>', body, re.S).group(1))
    assert data["students"] == 1 and sum(data["histogram"]["counts"]) == 1  # counted once, by the best
    assert data["histogram"]["counts"][9] == 1 and data["histogram"]["edges"][-1] == 100
    curve = data["median_curve"]
    assert len(curve["steps"]) == 100 and curve["median"][0] == 4.0 and curve["median"][-1] == 0.0009
    assert "Gradients are never zeroed" in body and "analytics.js" in body
    assert curve["reference"] is None and "appears here once it has been graded" in body


def test_the_reference_run_is_the_class_yardstick_and_nobody_s_entry(reference_runs, client, student, course):
    paraboloid = publish(course, "paraboloid")  # a new version: its reference solution is queued
    reference = reference_run_of(paraboloid.current.id)
    assert reference is not None and reference.is_reference and reference.filename == "reference.py"
    assert reference.state is State.QUEUED and reference.user.email == REFERENCE_EMAIL
    assert reference.user.password_hash is None  # nobody can log in as it
    result = _scored(reference.id, 100.0, 0.0003)
    result.curves[0].values = [3.0, None, 0.1, 0.0002]
    submission_id, _ = _uploaded(client, student, paraboloid)
    _scored(submission_id, 40.0, 0.05)
    db.session.commit()
    teacher = create_user("yardstick@example.edu", "Grace Teacher", Role.INSTRUCTOR, "pw")
    enroll(course, teacher, Role.INSTRUCTOR)
    staff = client.application.test_client()
    log_in(staff, teacher)
    body = page_text(staff.get(f"/assignments/{paraboloid.id}/analytics"))
    data = json.loads(re.search(r'id="analytics-data">(.*?)</script>', body, re.S).group(1))
    assert data["students"] == 1 and data["reference_id"] == reference.id
    assert data["median_curve"]["reference"][-1] == 0.0002 and data["median_curve"]["median"][-1] == 0.0009
    assert f"/submissions/{reference.id}/result" in body and "ending at a loss of 0.0002" in body
    board = page_text(staff.get(f"/assignments/{paraboloid.id}/scoreboard"))
    assert "Reference solution" not in board  # not a student of the class
    assert "Diagnoses across the class" in body
    overview = page_text(staff.get(f"/courses/{course.id}"))
    assert "Reference solution" not in overview
    assert staff.get(f"/submissions/{reference.id}/result").status_code == 200  # staff open it in full
    assert client.get(f"/submissions/{reference.id}/result").status_code == 404  # students do not


def test_every_form_post_of_the_pages_needs_the_csrf_token(app, client, student, paraboloid):
    """Each pages blueprint checks the token itself: a new blueprint that forgets fails here."""
    log_in(client, student)
    posts = [
        rule
        for rule in app.url_map.iter_rules()
        if "POST" in (rule.methods or ()) and not rule.rule.startswith(("/api/", "/lti/"))
    ]
    assert len(posts) >= 10
    for rule in posts:
        url = rule.rule
        for argument in rule.arguments:
            chosen = {"setting": "hidden", "what": "disable"}.get(argument, "1")  # the <any(...)> ones
            url = re.sub(rf"<(?:[^<>]+:)?{argument}>", chosen, url)
        response = client.post(url, data={"anything": "1"})
        assert "did not come from this site" in page_text(response, 400), url
        assert "Content-Security-Policy" in response.headers, url
