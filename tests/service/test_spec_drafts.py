"""Instructors upload an assignment folder (.zip), preview it, check its solutions and publish it."""

from __future__ import annotations

import io
import os
import time
import uuid
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select
from support.assignments import PARABOLOID
from support.courses import enroll
from support.pages import log_in, page_text
from support.uploads import make_zip

from grader.accounts.models import Role, User
from grader.accounts.services import create_user
from grader.assignments import drafts
from grader.assignments.models import Assignment, SpecDraft
from grader.assignments.services import publish
from grader.courses.models import Course
from grader.extensions import db
from grader.submissions.reference import reference_run_of

LINEAR = PARABOLOID.parent / "linear"
LINEAR_SPEC = (LINEAR / "assignment.toml").read_text(encoding="utf-8")


def folder_zip(
    folder: Path,
    top: str | None = "linear",
    change: tuple[str, str] | None = None,
    extra: dict[str, bytes] | None = None,
    leave_out: str | None = None,
) -> bytes:
    """The folder as an instructor would zip it (inside one top folder, or with ``top=None`` at the root)."""
    members: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and name != leave_out:
            data = path.read_bytes()
            if change and name == "assignment.toml":
                assert change[0] in data.decode()
                data = data.decode().replace(*change, 1).encode()
            members[f"{top}/{name}" if top else name] = data
    members.update(extra or {})
    return make_zip(members)


def _user(course: Course, role: Role) -> User:
    user = create_user(f"{role.value}-{uuid.uuid4().hex[:6]}@example.edu", f"A {role.value}", role, "pw")
    enroll(course, user, role)
    return user


@pytest.fixture
def instructor(course: Course) -> User:
    return _user(course, Role.INSTRUCTOR)


def _upload(client, course_id: int, token: str, content: bytes, name: str = "linear.zip"):  # type: ignore[no-untyped-def]
    return client.post(
        f"/courses/{course_id}/assignments/new",
        data={"csrf_token": token, "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def _draft_count() -> int:
    return db.session.scalar(select(func.count(SpecDraft.id))) or 0


def _uploaded(client, course: Course, token: str, content: bytes) -> SpecDraft:  # type: ignore[no-untyped-def]
    response = _upload(client, course.id, token, content)
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    draft_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    draft = db.session.get(SpecDraft, draft_id)
    assert draft is not None and draft.course_id == course.id
    return draft


def test_a_valid_folder_is_stored_as_a_draft_and_previewed(client, course, instructor):
    token = log_in(client, instructor)
    overview = page_text(client.get(f"/courses/{course.id}"))
    assert f"/courses/{course.id}/assignments/new" in overview
    assert f"/courses/{course.id}/assignments/new" in page_text(client.get(f"/courses/{course.id}/publish"))
    form = page_text(client.get(f"/courses/{course.id}/assignments/new"))
    assert '<label for="spec-zip">' in form and 'type="file" id="spec-zip"' in form
    draft = _uploaded(client, course, token, folder_zip(LINEAR))
    assert draft.slug == "linear" and draft.state == "uploaded" and draft.user_id == instructor.id
    assert set(drafts.draft_files(draft)) == {
        "assignment.toml", "reference.py", "wrong/forgot_zero_grad.py", "wrong/learning_rate_too_large.py",
    }  # fmt: skip
    page = page_text(client.get(f"/courses/{course.id}/drafts/{draft.id}"))
    assert "Fit a line: y = 2x + 1" in page
    assert '<div class="description" id="description">' in page and "<math" in page  # the maths, as MathML
    assert "<code>2 * x + 1</code>" in page and "told to students" in page  # the target, never hidden data
    assert "uniform" in page and "[0, 10]" in page  # the input's distribution and range
    for shown in (
        "wrong/forgot_zero_grad.py",
        "bad_predictions",
        "gradients_not_zeroed",
        "MSE",
        "log-linear",
    ):
        assert shown in page, shown
    assert "20000" in page.replace(",", "") and "trained 3 times" in page and "20 per day" in page
    assert "Run the check" in page and "Publish without a passing check" in page
    # A zip of the folder's contents (no top folder) is read the same way.
    root_draft = _uploaded(client, course, token, folder_zip(PARABOLOID, top=None))
    assert root_draft.slug == "paraboloid"
    assert "Learn the paraboloid" in page_text(client.get(f"/courses/{course.id}/drafts/{root_draft.id}"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('title = "Fit', 'colour = "red"\ntitle = "Fit'),
            "linear.zip/linear/assignment.toml: unknown field 'colour'",
        ),
        (
            ("low = 0.0, high = 10.0", "low = 10.0, high = 0.0"),
            "linear.zip/linear/assignment.toml: inputs.x: need low < high, got low = 10, high = 0",
        ),
        (
            ('name = "mse"', 'name = "accuracy"'),
            "linear.zip/linear/assignment.toml: metric.name: 'accuracy' does not fit a regression task",
        ),
        (('expression = "2 * x + 1"', 'expression = "log(x - 20)"'), "the target is nan at x = "),
    ],
)
def test_an_invalid_spec_is_refused_with_the_parsers_message(client, course, instructor, change, message):
    token = log_in(client, instructor)
    before = _draft_count()
    response = _upload(client, course.id, token, folder_zip(LINEAR, change=change))
    page = page_text(response, 422)
    assert "Not uploaded." in page and message in page, page[page.find("alert") : page.find("alert") + 600]
    assert _draft_count() == before


def test_missing_files_are_named(client, course, instructor):
    token = log_in(client, instructor)
    gone = _upload(client, course.id, token, folder_zip(LINEAR, leave_out="wrong/forgot_zero_grad.py"))
    page = page_text(gone, 422)
    assert "solutions[1].file: 'wrong/forgot_zero_grad.py' does not exist in linear.zip/linear" in page
    assert "/tmp" not in page  # the temporary folder is not shown
    nested = _upload(client, course.id, token, folder_zip(LINEAR, top="a/linear"))
    assert "no assignment.toml at the top of the zip" in page_text(nested, 422)
    assert "found 'linear/assignment.toml'" in page_text(nested, 422)
    assert _draft_count() == 0


TARGET_FUNCTION = ('expression = "2 * x + 1"', 'function = "target.py:line"')
TARGET_CODE = b"import os\nos.system('touch /tmp/pwned')\ndef line(x):\n    return 2 * x + 1\n"


def test_a_target_function_is_host_code_that_only_administrators_may_upload(client, course, instructor):
    """An LMS teaching assistant is an instructor: the code must never reach the host through them."""
    token = log_in(client, instructor)
    refused = _upload(
        client,
        course.id,
        token,
        folder_zip(LINEAR, change=TARGET_FUNCTION, extra={"linear/target.py": TARGET_CODE}),
    )
    page = page_text(refused, 403)
    assert "only a site administrator may upload it" in page
    assert "target.expression" in page  # how to do without
    assert not Path("/tmp/pwned").exists()  # refused before anything of the folder ran
    assert _draft_count() == 0

    client.post("/logout", data={"csrf_token": token})
    admin = create_user(f"admin-{uuid.uuid4().hex[:6]}@example.edu", "An admin", Role.ADMIN, "pw")
    token = log_in(client, admin)
    missing = _upload(client, course.id, token, folder_zip(LINEAR, change=TARGET_FUNCTION))
    assert "linear.zip/linear/assignment.toml: 'target.py' is not in the zip" in page_text(missing, 422)
    code = b"def line(x):\n    return 2 * x + 1\n"
    _uploaded(
        client, course, token, folder_zip(LINEAR, change=TARGET_FUNCTION, extra={"linear/target.py": code})
    )
    assert _draft_count() == 1


def test_hostile_or_broken_zips_are_refused(client, course, instructor):
    token = log_in(client, instructor)
    spec = LINEAR_SPEC.encode()
    cases = {
        "outside": (make_zip({"assignment.toml": spec, "../evil.py": b"x = 1\n"}), "points outside the zip"),
        "absolute": (make_zip({"assignment.toml": spec, "/etc/cron.d/x": b"x"}), "an absolute path"),
        "many": (
            make_zip({"assignment.toml": spec} | {f"f{i}.py": b"" for i in range(201)}),
            "more than 200 files",
        ),
        "not a zip": (b"PK\x03\x04 this is not really a zip", "is not a readable zip archive"),
    }
    for name, (content, message) in cases.items():
        response = _upload(client, course.id, token, content)
        assert response.status_code == 422, name
        page = page_text(response, 422)
        assert message in page, (name, page[:2000])
    huge = _upload(
        client, course.id, token, make_zip({"assignment.toml": spec, "data.csv": os.urandom(400_000)})
    )
    assert "The file is too large" in page_text(huge, 413)
    wrong_type = _upload(client, course.id, token, spec, name="assignment.toml")
    assert "upload a .zip of the assignment folder" in page_text(wrong_type, 422)
    assert _upload(client, course.id, token, b"", name="").status_code == 400
    assert _draft_count() == 0


def test_only_the_courses_staff_reach_drafts(client, course, instructor, student):
    draft = drafts.create_draft(instructor, course, "linear.zip", folder_zip(LINEAR))
    other = Course(code=f"OT-{uuid.uuid4().hex[:6]}", title="Another course")
    db.session.add(other)
    db.session.commit()
    other_instructor = _user(other, Role.INSTRUCTOR)
    base = f"/courses/{course.id}"
    gets = [f"{base}/assignments/new", f"{base}/drafts/{draft.id}", f"{base}/drafts/{draft.id}/state"]
    posts = [
        f"{base}/assignments/new",
        f"{base}/drafts/{draft.id}/check",
        f"{base}/drafts/{draft.id}/publish",
    ]
    for path in gets:
        assert client.get(path).status_code == 302, path  # to the login page
    for who in (student, other_instructor):
        token = log_in(client, who)
        for path in gets:
            assert client.get(path).status_code == 404, (who.email, path)
        for path in posts:
            data = {"csrf_token": token, "override": "1", "file": (io.BytesIO(folder_zip(LINEAR)), "l.zip")}
            response = client.post(path, data=data, content_type="multipart/form-data")
            assert response.status_code == 404, (who.email, path)
        # The other instructor's own course does not lend this course's draft either.
        assert client.get(f"/courses/{other.id}/drafts/{draft.id}").status_code in (404,)
        client.post("/logout", data={"csrf_token": token})
    db.session.refresh(draft)
    assert draft.state == "uploaded" and draft.assignment_id is None
    assert _draft_count() == 1
    assert not db.session.scalar(select(Assignment).where(Assignment.course_id == course.id))
    with pytest.raises(drafts.DraftRefused):  # the service checks too
        drafts.create_draft(student, course, "linear.zip", folder_zip(LINEAR))


def test_publishing_needs_a_passing_check_unless_overridden(reference_runs, client, course, instructor):
    token = log_in(client, instructor)
    draft = _uploaded(client, course, token, folder_zip(LINEAR))
    url = f"/courses/{course.id}/drafts/{draft.id}/publish"
    refused = client.post(url, data={"csrf_token": token, "hidden": "1"})
    assert "have not been checked yet" in page_text(refused, 409)
    assert not db.session.scalar(select(Assignment).where(Assignment.course_id == course.id))
    # A finished check in which a solution differs blocks publishing too, and the table says which.
    draft.state = "checked"
    draft.check_report = {
        "total": 1, "seeds": 1, "ok": False,
        "solutions": [{
            "file": "reference.py", "expect": "pass", "why": "", "got": "fail", "ok": False, "verdict": "scored",
            "score": 40.0, "max_score": 100.0, "metric": "mse", "metric_value": 0.05, "diagnoses_expected": [],
            "diagnoses_got": ["plateau"], "missing": [], "false_alarms": ["plateau"], "message": "", "seconds": 1.0,
        }],
    }  # fmt: skip
    db.session.commit()
    page = page_text(client.get(f"/courses/{course.id}/drafts/{draft.id}"))
    assert (
        'class="mismatch"' in page and "plateau (false alarm)" in page and '<strong class="bad">fail' in page
    )
    refused = client.post(url, data={"csrf_token": token, "hidden": "1"})
    assert "differs from the one its spec declares" in page_text(refused, 409)
    bad_date = client.post(url, data={"csrf_token": token, "override": "1", "deadline": "next week"})
    assert "The deadline must be a date and time" in page_text(bad_date, 400)
    assert not db.session.scalar(select(Assignment).where(Assignment.course_id == course.id))
    done = client.post(
        url, data={"csrf_token": token, "override": "1", "hidden": "1", "deadline": "2030-01-31T23:59"}
    )
    assert done.status_code == 303
    assignment = db.session.scalar(select(Assignment).where(Assignment.course_id == course.id))
    assert assignment.hidden and assignment.deadline.year == 2030 and assignment.daily_limit == 20
    db.session.refresh(draft)
    assert draft.assignment_id == assignment.id
    # Its reference solution, read from the draft's files, is queued as the new version's reference run.
    assert reference_run_of(assignment.current.id).filename == "reference.py"
    after = page_text(client.get(done.headers["Location"]))
    assert f"/assignments/{assignment.id}" in after and "hidden from students" in after
    again = client.post(url, data={"csrf_token": token, "override": "1"})
    assert "published already" in page_text(again, 409)
    assert len(assignment.versions) == 1


@pytest.mark.slow  # the check trains the three solutions
def test_the_check_runs_every_linear_solution_as_declared_then_publishes(client, course, instructor, capsys):
    token = log_in(client, instructor)
    draft = _uploaded(client, course, token, folder_zip(LINEAR))
    broker = redis.Redis.from_url(client.application.extensions["grader.config"].broker_url)
    queued = broker.llen("cpu")
    started = client.post(f"/courses/{course.id}/drafts/{draft.id}/check", data={"csrf_token": token})
    assert started.status_code == 303
    db.session.refresh(draft)
    assert draft.state == "checking" and broker.llen("cpu") == queued + 1  # on the grading queue
    assert any(b"grader.check_draft" in message for message in broker.lrange("cpu", 0, -1))
    assert "grader.check_draft" in client.application.extensions["celery"].tasks  # the workers know it
    state = client.get(f"/courses/{course.id}/drafts/{draft.id}/state").get_json()
    assert state == {
        "state": "checking",
        "label": drafts_label("checking"),
        "done": 0,
        "total": 3,
        "ok": None,
    }
    page = page_text(client.get(f"/courses/{course.id}/drafts/{draft.id}"))
    assert "0 of 3 solutions run" in page and "draft.js" in page
    twice = client.post(f"/courses/{course.id}/drafts/{draft.id}/check", data={"csrf_token": token})
    assert "already running" in page_text(twice, 409)

    begun = time.monotonic()
    assert drafts.run_check(draft.id) == "checked"  # what the worker's task calls
    seconds = time.monotonic() - begun
    with capsys.disabled():
        print(f"\n[check of linear, 3 solutions, 1 seed each: {seconds:.1f} s]")
    assert drafts.run_check(draft.id) == "not checking"  # a message delivered twice does nothing more
    db.session.refresh(draft)
    report = draft.check_report
    assert draft.state == "checked" and report["ok"], report
    got = {row["file"]: (row["expect"], row["got"], row["ok"]) for row in report["solutions"]}
    assert got == {
        "reference.py": ("pass", "pass", True),
        "wrong/forgot_zero_grad.py": ("fail", "fail", True),
        "wrong/learning_rate_too_large.py": ("bad_predictions", "bad_predictions", True),
    }
    reference = report["solutions"][0]
    assert reference["score"] == 100.0 and reference["metric"] == "mse" and reference["metric_value"] < 1e-3
    assert "gradients_not_zeroed" in report["solutions"][1]["diagnoses_got"]
    page = page_text(client.get(f"/courses/{course.id}/drafts/{draft.id}"))
    assert "every solution as declared" in page and 'class="mismatch"' not in page
    assert page.count("as declared") >= 4 and "Publish without a passing check" not in page

    done = client.post(
        f"/courses/{course.id}/drafts/{draft.id}/publish",
        data={"csrf_token": token, "hidden": "1", "daily_limit": "5"},
    )
    assert done.status_code == 303
    assignment = db.session.scalar(select(Assignment).where(Assignment.course_id == course.id))
    assert assignment.slug == "linear" and assignment.hidden and assignment.daily_limit == 5
    assert [v.number for v in assignment.versions] == [1]
    assert assignment.current.spec_text == LINEAR_SPEC
    assert assignment.current.spec().title == "Fit a line: y = 2x + 1"


def drafts_label(state: str) -> str:
    from grader.web.drafts import STATE_LABELS

    return STATE_LABELS[state]


def test_a_new_version_of_an_existing_assignment_shows_what_changed(client, course, instructor):
    published = publish(course, "linear", daily_limit=7)
    token = log_in(client, instructor)
    same = _uploaded(client, course, token, folder_zip(LINEAR))
    assert "identical to its" in page_text(client.get(f"/courses/{course.id}/drafts/{same.id}"))
    change = ("zero_at = 1.0", "zero_at = 2.0")
    draft = _uploaded(client, course, token, folder_zip(LINEAR, change=change))
    page = page_text(client.get(f"/courses/{course.id}/drafts/{draft.id}"))
    assert "Publishing makes <strong>version 2</strong>" in page and "<code>metric.zero_at</code>" in page
    assert "<del>-zero_at = 1.0</del>" in page and "<ins>+zero_at = 2.0</ins>" in page
    assert "Hidden from students until you show it" not in page  # a new version keeps its visibility
    done = client.post(
        f"/courses/{course.id}/drafts/{draft.id}/publish", data={"csrf_token": token, "override": "1"}
    )
    assert done.status_code == 303
    db.session.refresh(published)
    assert [v.number for v in published.versions] == [1, 2] and not published.hidden
    assert published.daily_limit == 7  # kept: the form left it as it was
    assert published.current.spec_text == LINEAR_SPEC.replace(*change, 1)
    assert published.current.spec().grading.zero_at == 2.0
