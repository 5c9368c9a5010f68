"""Publishing specs into courses (service, page, CLI) and the limits a spec sets on submissions."""

from __future__ import annotations

import shutil
from collections import OrderedDict
from datetime import timedelta

import numpy as np
import pytest
import redis
from sqlalchemy import func, select
from support.assignments import copy_paraboloid
from support.courses import enroll
from support.pages import log_in, log_out, page_text
from support.uploads import post_upload

from grader.accounts.models import Role
from grader.accounts.services import create_user
from grader.assignments import models as assignment_models
from grader.assignments.models import Assignment, AssignmentVersion
from grader.assignments.services import hidden_set_of, publish
from grader.cli import main
from grader.courses.models import Course
from grader.engine import datasets
from grader.engine import spec as spec_module
from grader.engine.runner.grade import GradeReport
from grader.engine.spec import SpecError
from grader.engine.verdicts import Verdict
from grader.extensions import db, utcnow
from grader.submissions.models import Result, Submission
from grader.submissions.services import queue_for
from grader.workers import grading


def _assignment_rows() -> int:
    return db.session.scalar(select(func.count(Assignment.id))) or 0


def test_a_changed_spec_is_a_new_version_and_an_unchanged_one_is_not(course, tmp_path):
    folder = copy_paraboloid(tmp_path)
    first = publish(course, str(folder))
    assert [v.number for v in first.versions] == [1]
    assert publish(course, str(folder)).current.number == 1
    (folder / "assignment.toml").write_text((folder / "assignment.toml").read_text() + "\n# a comment\n")
    again = publish(course, str(folder))
    assert [v.number for v in again.versions] == [1, 2]
    assert again.versions[0].hidden_secret != again.versions[1].hidden_secret
    assert again.current.spec().grading.seeds == 3  # the stored text parses without the folder


def test_a_versions_spec_is_parsed_once_per_process_and_each_version_has_its_own(
    course, tmp_path, monkeypatch
):
    """Every page and run of an assignment reads its spec: a version never changes, so its parse is kept."""
    folder = copy_paraboloid(tmp_path)
    first = publish(course, str(folder)).current
    spec_file = folder / "assignment.toml"
    spec_file.write_text(spec_file.read_text().replace("seeds = 3", "seeds = 2"))
    second = publish(course, str(folder)).current
    parses: list[str] = []
    real_parse = spec_module.parse
    monkeypatch.setattr(spec_module, "parse", lambda *a, **k: parses.append(a[1]) or real_parse(*a, **k))
    monkeypatch.setattr(assignment_models, "_parsed", OrderedDict())  # nothing kept from other tests
    for _ in range(3):
        assert first.spec().grading.seeds == 3 and second.spec().grading.seeds == 2
    assert parses == ["paraboloid v1", "paraboloid v2"]
    assert first.spec() is first.spec() and second.spec() is not first.spec()


def test_the_hidden_set_is_drawn_once_from_the_version_secret_and_stored(course):
    version = publish(course, "paraboloid").current
    spec = version.spec()
    stored = hidden_set_of(version, spec)
    drawn = datasets.hidden_set(spec, bytes.fromhex(version.hidden_secret), version.number)
    assert stored.inputs.shape == (5000, 2) and np.array_equal(stored.inputs, drawn.inputs)
    assert np.array_equal(stored.targets, drawn.targets)
    # Not derivable from the repository: another publication draws other points from its own secret.
    other = Course(code=f"{course.code}-B", title="Another section")
    db.session.add(other)
    db.session.commit()
    second = publish(other, "paraboloid").current
    assert second.hidden_secret != version.hidden_secret
    assert not np.array_equal(hidden_set_of(second, spec).inputs[:20], stored.inputs[:20])
    public = datasets.public_split(spec, "validation").inputs
    assert not (set(map(tuple, public.tolist())) & set(map(tuple, stored.inputs.tolist())))


def test_a_broken_spec_publishes_nothing(course, tmp_path):
    folder = copy_paraboloid(tmp_path, ('name = "mse"', 'name = "accuracy"'))
    before = _assignment_rows()
    with pytest.raises(SpecError, match=r"metric\.name: 'accuracy' does not fit a regression task"):
        publish(course, str(folder))
    db.session.rollback()
    assert _assignment_rows() == before


@pytest.mark.slow  # the check trains the folder's solutions
def test_publishing_refuses_a_spec_whose_reference_fails(course, tmp_path, capsys):
    # The "reference" here is the instructor's broken script: the check must catch it.
    folder = copy_paraboloid(tmp_path)
    shutil.copy(folder / "wrong" / "sgd_tiny_lr_no_zero_grad.py", folder / "reference.py")
    before = _assignment_rows()
    code = main(["assignments", "publish", str(folder), "--course", course.code, "--seeds", "1"])
    out = capsys.readouterr()
    assert code == 1
    assert "DIFF paraboloid" in out.out and "reference.py" in out.out and "expect pass  got fail" in out.out
    assert "nothing was published" in out.err
    assert _assignment_rows() == before


def test_the_total_limit_of_a_spec(client, course, student_token, tmp_path):
    folder = copy_paraboloid(tmp_path, ("per_day = 10", "per_day = 10\ntotal = 2"))
    assignment = publish(course, str(folder))
    for index in range(2):
        accepted = post_upload(client, assignment.id, student_token, "s.py", f"x = {index}\n".encode())
        assert accepted.status_code == 202
    response = post_upload(client, assignment.id, student_token, "s.py", b"x = 9\n")
    assert response.status_code == 429 and "all 2 submissions allowed" in response.get_json()["detail"]


def test_a_late_result_loses_the_declared_penalty(client, course, student_token):
    assignment = publish(course, "paraboloid", deadline=utcnow() - timedelta(days=1, hours=2))
    submission_id = post_upload(client, assignment.id, student_token, "s.py", b"x = 1\n").get_json()["id"]
    submission = db.session.get(Submission, submission_id)
    late = grading.late_penalty(
        assignment.current.spec().submissions, assignment.deadline, submission.created_at
    )
    assert late == (2, 20.0)  # two started days, 10% each
    attempt = grading.claim(submission_id, "test-worker")
    assert attempt == 1
    report = GradeReport("paraboloid", Verdict.SCORED, "MSE 0.0005", "mse", 5e-4, 100.0, 100.0, True)
    assert grading.finish(submission_id, attempt, report, late)
    result = db.session.scalar(select(Result).where(Result.submission_id == submission_id))
    assert result.score == 80.0 and "2 day(s) late: 20% off" in result.message
    assert result.details["late"] == {"days": 2, "penalty_percent": 20.0, "score_before_penalty": 100.0}


def test_instructors_publish_from_their_course_page(client, course):
    instructor = create_user("prof-publish@example.edu", "Grace Instructor", Role.INSTRUCTOR, "pw")
    enroll(course, instructor, Role.INSTRUCTOR)
    token = log_in(client, instructor)
    home = page_text(client.get("/"))
    assert f"/courses/{course.id}/publish" in home
    page = page_text(client.get(f"/courses/{course.id}/publish"))
    assert "paraboloid" in page and "not published" in page
    bad = client.post(
        f"/courses/{course.id}/publish", data={"csrf_token": token, "slug": "paraboloid", "daily_limit": "0"}
    )
    assert "at least 1" in page_text(bad, 400)
    assert _assignment_rows() == 0 or not db.session.scalar(
        select(Assignment).where(Assignment.course_id == course.id)
    )
    done = client.post(
        f"/courses/{course.id}/publish",
        data={"csrf_token": token, "slug": "paraboloid", "daily_limit": "4", "deadline": "2030-01-31T23:59"},
    )
    assert done.status_code == 303
    placed = db.session.scalar(select(Assignment).where(Assignment.course_id == course.id))
    assert placed.daily_limit == 4 and placed.deadline.year == 2030
    assert (
        db.session.scalar(
            select(func.count(AssignmentVersion.id)).where(AssignmentVersion.assignment_id == placed.id)
        )
        == 1
    )
    after = page_text(client.get(done.headers["Location"]))
    assert "Published 'Learn the paraboloid" in after and "version 1" in after


def test_students_cannot_publish(client, course, student):
    token = log_in(client, student)
    assert client.get(f"/courses/{course.id}/publish").status_code == 404
    response = client.post(f"/courses/{course.id}/publish", data={"csrf_token": token, "slug": "paraboloid"})
    assert response.status_code == 404
    assert not db.session.scalar(select(Assignment).where(Assignment.course_id == course.id))


def test_an_assignment_that_asks_for_a_gpu_is_queued_for_the_gpu_workers(
    client, course, student_token, tmp_path
):
    # Messages go to Redis (the test broker): read the queue lists themselves.
    broker = redis.Redis.from_url(client.application.extensions["grader.config"].broker_url)
    folder = copy_paraboloid(tmp_path, ("max_parameters = 100000", 'max_parameters = 100000\ndevice = "gpu"'))
    gpu_assignment = publish(course, str(folder))
    cpu_assignment = publish(course, "linear")
    before = broker.llen("gpu"), broker.llen("cpu")
    gpu_id = post_upload(client, gpu_assignment.id, student_token, "s.py", b"x = 1\n").get_json()["id"]
    cpu_id = post_upload(client, cpu_assignment.id, student_token, "s.py", b"x = 1\n").get_json()["id"]
    assert (queue_for(gpu_id), queue_for(cpu_id)) == ("gpu", "cpu")
    assert (broker.llen("gpu"), broker.llen("cpu")) == (before[0] + 1, before[1] + 1)


def test_the_course_overview_shows_assignments_and_the_queue(client, course, student, student_token):
    assignment = publish(course, "paraboloid")
    publish(course, "xor")
    first = post_upload(client, assignment.id, student_token, "s.py", b"x = 1\n").get_json()["id"]
    post_upload(client, assignment.id, student_token, "s.py", b"x = 2\n")
    attempt = grading.claim(first, "w")
    report = GradeReport("paraboloid", Verdict.SCORED, "ok", "mse", 5e-4, 100.0, 100.0, True)
    assert grading.finish(first, attempt, report)
    teacher = create_user("overview@example.edu", "Grace Teacher", Role.INSTRUCTOR, "pw")
    enroll(course, teacher, Role.INSTRUCTOR)
    log_in(client, teacher)
    page = page_text(client.get(f"/courses/{course.id}"))
    queue = page[page.index('id="queue"') : page.index("</dl>", page.index('id="queue"'))]
    assert "Waiting</dt><dd>1" in queue and "Scored, last hour</dt><dd>1" in queue
    row = page[page.index("Learn the paraboloid") : page.index("</tr>", page.index("Learn the paraboloid"))]
    assert "<td>1</td><td>1</td><td>2</td><td>100</td>" in row.replace("\n", "").replace(" ", "")
    assert "XOR" in page
    log_out(client)
    log_in(client, student)
    assert client.get(f"/courses/{course.id}").status_code == 404
