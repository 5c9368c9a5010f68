"""Uploading a sweep: one submission per run, one upload against the limits, refusals naming the field."""

from __future__ import annotations

import io
import json
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from support.assignments import PARABOLOID
from support.courses import enroll
from support.pages import log_in, page_text

from grader.accounts.models import Role
from grader.accounts.services import create_user, issue_token
from grader.assignments.models import Assignment
from grader.assignments.services import publish
from grader.engine.runner.grade import GradeReport
from grader.engine.verdicts import Verdict
from grader.extensions import db, utcnow
from grader.gradebooks import scoreboard
from grader.submissions import regrading, services
from grader.submissions.models import Curve, Submission, Sweep
from grader.submissions.policy import submissions_today
from grader.sweeps import settle
from grader.web import sweep_events
from grader.webhooks import services as webhooks
from grader.webhooks.models import WebhookDelivery
from grader.workers import grading

MODULE = b"""
import torch.nn as nn

def build_model(hidden=16):
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 1))

TRAINING = {"optimizer": "adam", "lr": 0.01, "steps": 200}
"""
GRID = {"grid": {"lr": [0.1, 0.01, 0.001], "optimizer": ["sgd", "adam"]}}
SWEEP_TABLE = """
[sweep]
max_runs = 8
settings = ["lr", "optimizer", "hidden", "batch_size"]
"""  # the table's last: a test may add a line to it


def _sweepable(course, tmp_path: Path, table: str = SWEEP_TABLE) -> Assignment:  # type: ignore[no-untyped-def]
    folder = tmp_path / f"paraboloid-{uuid.uuid4().hex[:4]}"
    shutil.copytree(PARABOLOID, folder)
    spec = folder / "assignment.toml"
    spec.write_text(spec.read_text() + table)
    return publish(course, str(folder), daily_limit=5)


def _post(client, assignment_id: int, token: str, content: bytes = MODULE, sweep: object = None):  # type: ignore[no-untyped-def]
    data: dict[str, object] = {"file": (io.BytesIO(content), "model.py")}
    if sweep is not None:
        data["sweep"] = sweep if isinstance(sweep, str) else json.dumps(sweep)
    return client.post(
        f"/api/v1/assignments/{assignment_id}/submissions",
        data=data,
        headers={"Authorization": f"Bearer {token}"},
    )


def _counts() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count(Submission.id))) or 0,
        db.session.scalar(select(func.count(Sweep.id))) or 0,
    )


def test_a_grid_becomes_one_queued_submission_per_run_and_counts_as_one_upload(
    client, course, student, student_token, tmp_path
):
    assignment = _sweepable(course, tmp_path)
    response = _post(client, assignment.id, student_token, sweep=GRID)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    sweep_id = body["sweep"]["id"]
    runs = db.session.scalars(
        select(Submission).where(Submission.sweep_id == sweep_id).order_by(Submission.id)
    ).all()
    assert [r.params for r in runs] == [
        {"lr": lr, "optimizer": opt} for lr in (0.1, 0.01, 0.001) for opt in ("sgd", "adam")
    ]
    assert {r.state.value for r in runs} == {"queued"} and body["id"] == runs[0].id
    assert body["sweep"]["settings"] == {"lr": 0.1, "optimizer": "sgd"}
    assert submissions_today(student, assignment, utcnow()) == 1  # one upload, six runs
    sweep = client.get(f"/api/v1/sweeps/{sweep_id}", headers={"Authorization": f"Bearer {student_token}"})
    assert sweep.status_code == 200
    doc = sweep.get_json()
    assert doc["method"] == "grid" and doc["runs_total"] == 6 and doc["runs_done"] == 0
    assert doc["varying"] == ["lr", "optimizer"] and doc["best_point"] is None


def test_the_sweep_can_be_written_in_the_file(client, course, student_token, tmp_path):
    assignment = _sweepable(course, tmp_path)
    content = MODULE + b"\nSWEEP = {'grid': {'hidden': [8, 32]}, 'seeds': 2}\n"
    response = _post(client, assignment.id, student_token, content)
    assert response.status_code == 202, response.get_json()
    runs = db.session.scalars(
        select(Submission).where(Submission.sweep_id == response.get_json()["sweep"]["id"])
    ).all()
    assert sorted((r.params["hidden"], r.sweep_seed) for r in runs) == [(8, 0), (8, 1), (32, 0), (32, 1)]


@pytest.mark.parametrize(
    ("sweep", "words"),
    [
        (
            {"grid": {"lr": [1, 0.1, 0.01], "batch_size": [16, 32, 64]}},
            ["3 x 3 = 9 points", "at most 8 runs"],
        ),
        ({"grid": {"learning_rate": [0.1]}}, ["sweep.grid.learning_rate", "unknown setting", "lr"]),
        ({"grid": {"lr": [0.1, "big"]}}, ["sweep.grid.lr[1]", "'big' is not a number"]),
        ({"grid": {"hidden": [16, 1.5]}}, ["sweep.grid.hidden[1]", "layer size"]),
        (
            {"grid": {"activation": ["relu"]}},
            ["sweep.grid.activation", "may vary lr, optimizer, hidden, batch_size only"],
        ),
        ("{'grid': }", ["not valid JSON"]),
    ],
)
def test_a_bad_sweep_is_refused_at_upload_naming_the_field_and_leaves_nothing(
    client, course, student, student_token, tmp_path, sweep, words
):
    assignment = _sweepable(course, tmp_path)
    before = _counts()
    response = _post(client, assignment.id, student_token, sweep=sweep)
    assert response.status_code == 422
    problem = response.get_json()
    for word in words:
        assert word in problem["detail"], problem["detail"]
    assert problem["field"] == "sweep"
    assert _counts() == before
    assert submissions_today(student, assignment, utcnow()) == 0


def test_an_assignment_without_sweeps_refuses_one_and_one_that_requires_it_refuses_a_plain_upload(
    client, course, student_token, paraboloid, tmp_path
):
    refused = _post(client, paraboloid.id, student_token, sweep=GRID)
    assert refused.status_code == 422 and "does not take sweeps" in refused.get_json()["detail"]
    required = _sweepable(
        course, tmp_path, SWEEP_TABLE + 'require = { setting = "lr", min_values = 2, span_decades = 2 }\n'
    )
    plain = _post(client, required.id, student_token)
    assert plain.status_code == 422 and "graded on a sweep" in plain.get_json()["detail"]
    narrow = _post(client, required.id, student_token, sweep={"grid": {"lr": [0.1, 0.01]}, "seeds": 3})
    assert narrow.status_code == 422 and "spans 1 decades" in narrow.get_json()["detail"]
    # Graded on the sweep: each point on the assignment's three seeds, as any submission.
    one_seed = _post(client, required.id, student_token, sweep={"grid": {"lr": [1, 0.01]}})
    assert one_seed.status_code == 422 and "sweep.seeds: 1; " in one_seed.get_json()["detail"]
    wide = _post(client, required.id, student_token, sweep={"grid": {"lr": [1, 0.01]}, "seeds": 3})
    assert wide.status_code == 202


def test_the_comparison_marks_the_best_point_and_only_its_student_and_staff_see_it(
    client, course, student, student_token, tmp_path
):
    assignment = _sweepable(course, tmp_path)
    sweep_id = _post(client, assignment.id, student_token, sweep=GRID).get_json()["sweep"]["id"]
    runs = db.session.scalars(
        select(Submission).where(Submission.sweep_id == sweep_id).order_by(Submission.id)
    ).all()
    for run, mse in zip(runs, (0.05, 0.02, 0.01, 0.0008, 0.03, 0.004), strict=True):
        attempt = grading.claim(run.id, "w")
        report = GradeReport("paraboloid", Verdict.SCORED, "ok", "mse", mse, 50.0, 100.0, True)
        assert grading.finish(run.id, attempt, report)
    doc = client.get(
        f"/api/v1/sweeps/{sweep_id}", headers={"Authorization": f"Bearer {student_token}"}
    ).get_json()
    assert doc["runs_done"] == 6 and doc["best_point"] == 3
    assert doc["points"][3]["settings"] == {"lr": 0.01, "optimizer": "adam"} and doc["points"][3]["best"]

    other = create_user(f"other-{uuid.uuid4().hex[:6]}@example.edu", "Other", Role.STUDENT, "pw")
    enroll(course, other)
    other_token = issue_token(other, "cli", ["read"])
    assert (
        client.get(
            f"/api/v1/sweeps/{sweep_id}", headers={"Authorization": f"Bearer {other_token}"}
        ).status_code
        == 404
    )
    teacher = create_user(f"teacher-{uuid.uuid4().hex[:6]}@example.edu", "Teacher", Role.INSTRUCTOR, "pw")
    enroll(course, teacher, Role.INSTRUCTOR)
    log_in(client, teacher)
    page = client.get(f"/sweeps/{sweep_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'class="best"' in html and "lr = 0.01, optimizer = adam" in html and "6 of 6 runs finished" in html
    assert 'id="curves-chart"' in html and 'id="metric-caption"' in html  # the charts' containers
    data = client.get(f"/sweeps/{sweep_id}/data.json").get_json()
    assert [p["best"] for p in data["points"]].count(True) == 1 and len(data["points"]) == 6
    # Polling asks only for the curves of results it does not hold yet (they never change).
    results = {r["submission_id"]: r["result_id"] for p in data["points"] for r in p["runs"]}
    for result_id in results.values():
        db.session.add(
            Curve(result_id=result_id, series="loss", steps=[1, 2], values=[1.0, 0.5], points_total=2)
        )
    db.session.commit()
    assert set(client.get(f"/sweeps/{sweep_id}/data.json").get_json()["curves"]) == {str(i) for i in results}
    held = ",".join(str(results[i]) for i in sorted(results)[:4])
    polled = client.get(f"/sweeps/{sweep_id}/data.json?have={held},x,").get_json()
    assert set(polled["curves"]) == {str(i) for i in sorted(results)[4:]}
    assert polled["curves"][str(sorted(results)[4])]["loss"] == {"steps": [1, 2], "values": [1.0, 0.5]}
    stranger = client.application.test_client()
    log_in(stranger, other)
    assert stranger.get(f"/sweeps/{sweep_id}").status_code == 404


def _finish_all(runs: list[Submission], metrics: list[float]) -> None:
    for run, mse in zip(runs, metrics, strict=True):
        attempt = grading.claim(run.id, "w")
        score = round(100 - 1000 * mse, 2)
        report = GradeReport("paraboloid", Verdict.SCORED, "ok", "mse", mse, score, 100.0, score >= 50)
        assert grading.finish(run.id, attempt, report)


def test_a_sweep_on_the_assignment_s_seeds_is_graded_once_by_its_best_point_s_median_run(
    client, course, student, student_token, tmp_path
):
    teacher = create_user(f"t-{uuid.uuid4().hex[:6]}@example.edu", "Teacher", Role.INSTRUCTOR, "pw")
    enroll(course, teacher, Role.INSTRUCTOR)
    webhooks.register(course.id, "http://127.0.0.1:9/hook", teacher)
    assignment = _sweepable(course, tmp_path)  # paraboloid grades on three seeds
    body = _post(
        client, assignment.id, student_token, sweep={"grid": {"lr": [0.1, 0.01]}, "seeds": 3}
    ).get_json()
    sweep_id = body["sweep"]["id"]
    runs = db.session.scalars(
        select(Submission)
        .where(Submission.sweep_id == sweep_id)
        .order_by(Submission.sweep_point, Submission.sweep_seed)
    ).all()
    # lr 0.1: one lucky seed (0.0001) among bad ones; lr 0.01: steadily good. The median decides.
    _finish_all(runs[:5], [0.0001, 0.04, 0.05, 0.003, 0.004])
    assert db.session.get(Sweep, sweep_id).settled_at is None  # one run still to go
    assert scoreboard.scoreboard(assignment, per_page=None).rows[0].submission_id is None
    _finish_all(runs[5:], [0.002])
    sweep = db.session.get(Sweep, sweep_id)
    db.session.refresh(sweep)
    # lr 0.01's seeds: 0.003, 0.004, 0.002; its median is 0.003 (runs[3]), better than lr 0.1's 0.04.
    assert sweep.settled_at is not None and sweep.graded_submission_id == runs[3].id
    assert [r.id for r in runs if db.session.get(Submission, r.id).sweep_grade] == [runs[3].id]
    row = scoreboard.scoreboard(assignment, per_page=None).rows[0]
    assert (row.submission_id, row.score, row.attempts) == (runs[3].id, 97.0, 1)  # not the lucky 99.9
    deliveries = db.session.scalars(select(WebhookDelivery.submission_id)).all()
    assert deliveries == [runs[3].id]  # one announcement, for the graded run
    assert settle.settle_unsettled() == 0  # nothing left to settle
    page = client.get(f"/sweeps/{sweep_id}")
    log_in(client, student)
    html = client.get(f"/sweeps/{sweep_id}").get_data(as_text=True)
    assert "Graded: the median run of the best settings" in html and page.status_code in (200, 302)


def test_a_sweep_on_fewer_seeds_is_an_experiment_not_a_grade(
    client, course, student, student_token, tmp_path
):
    assignment = _sweepable(course, tmp_path)
    sweep_id = _post(client, assignment.id, student_token, sweep={"grid": {"lr": [0.1, 0.01]}}).get_json()[
        "sweep"
    ]["id"]
    runs = db.session.scalars(
        select(Submission).where(Submission.sweep_id == sweep_id).order_by(Submission.id)
    ).all()
    _finish_all(runs, [0.0001, 0.05])
    sweep = db.session.get(Sweep, sweep_id)
    db.session.refresh(sweep)
    assert sweep.settled_at is not None and sweep.graded_submission_id is None
    # A run whose code never read its settings says so; the page warns that the runs trained alike.
    result = db.session.get(Submission, runs[1].id).result
    result.details = {
        **result.details,
        "diagnoses": [{"code": "sweep_settings_ignored", "numbers": {"unread": ["lr"]}}],
    }
    db.session.commit()
    row = scoreboard.scoreboard(assignment, per_page=None).rows[0]
    assert row.submission_id is None and row.attempts == 1
    log_in(client, student)
    html = client.get(f"/sweeps/{sweep_id}").get_data(as_text=True)
    assert "Not graded: each point trains on 1 seed(s)" in html
    assert 'id="sweep-ignored"' in html and "1 of 2 runs never read lr from" in " ".join(html.split())


def test_a_settle_missed_by_a_dead_worker_is_done_by_the_reconciler(client, course, student_token, tmp_path):
    assignment = _sweepable(course, tmp_path)
    sweep_id = _post(
        client, assignment.id, student_token, sweep={"grid": {"lr": [0.1]}, "seeds": 3}
    ).get_json()["sweep"]["id"]
    runs = db.session.scalars(select(Submission).where(Submission.sweep_id == sweep_id)).all()
    _finish_all(runs, [0.01, 0.02, 0.03])
    sweep = db.session.get(Sweep, sweep_id)
    # As if the worker died between its result's commit and the settling:
    sweep.settled_at, sweep.graded_submission_id = None, None
    db.session.execute(update(Submission).where(Submission.sweep_id == sweep_id).values(sweep_grade=False))
    db.session.commit()
    assert settle.settle_unsettled() == 1
    db.session.refresh(sweep)
    assert sweep.graded_submission_id == sorted(runs, key=lambda r: r.id)[1].id  # the median, 0.02


def test_regrading_a_run_regrades_its_whole_sweep_against_the_current_version(
    client, course, student_token, tmp_path
):
    folder = tmp_path / "paraboloid-v"
    shutil.copytree(PARABOLOID, folder)
    spec = folder / "assignment.toml"
    spec.write_text(spec.read_text() + SWEEP_TABLE)
    assignment = publish(course, str(folder), daily_limit=5)
    first = assignment.current.id
    sweep_id = _post(
        client, assignment.id, student_token, sweep={"grid": {"lr": [0.1, 0.01]}, "seeds": 3}
    ).get_json()["sweep"]["id"]
    runs = db.session.scalars(
        select(Submission).where(Submission.sweep_id == sweep_id).order_by(Submission.id)
    ).all()
    _finish_all(runs[:5], [0.01, 0.02, 0.03, 0.004, 0.005])
    teacher = create_user(f"t-{uuid.uuid4().hex[:6]}@example.edu", "Teacher", Role.INSTRUCTOR, "pw")
    enroll(course, teacher, Role.INSTRUCTOR)
    with pytest.raises(services.UploadRefused, match="A run of this sweep is still being graded"):
        services.regrade(runs[0], teacher)  # the sixth is still queued: nothing is reset
    assert db.session.get(Submission, runs[0].id).state.final
    # A regrade of the whole assignment skips a sweep with a run going, whole: here nothing is left.
    assert regrading.regrade_candidates(assignment) == regrading.RegradeCandidates(0, 6)
    with pytest.raises(regrading.RegradeRefused):
        regrading.regrade_all(assignment, teacher)
    assert all(db.session.get(Submission, r.id).state.final for r in runs[:5])
    _finish_all(runs[5:], [0.006])
    assert regrading.regrade_candidates(assignment) == regrading.RegradeCandidates(6, 0)
    csrf = log_in(client, teacher)
    assert "Regrade the sweep" in client.get(f"/submissions/{runs[4].id}/result").get_data(as_text=True)
    spec.write_text(spec.read_text().replace("[sweep]", "[sweep]\nrestarts = 1"))  # the instructor's fix
    assignment = publish(course, str(folder), daily_limit=5)
    assert assignment.current.id != first

    regraded = client.post(f"/submissions/{runs[4].id}/regrade", data={"csrf_token": csrf})
    assert regraded.status_code == 303 and regraded.headers["Location"].endswith(f"/sweeps/{sweep_id}")
    db.session.expire_all()
    again = db.session.scalars(select(Submission).where(Submission.sweep_id == sweep_id)).all()
    assert {(r.state.final, r.assignment_version_id, r.sweep_grade) for r in again} == {
        (False, assignment.current.id, False)
    }
    sweep = db.session.get(Sweep, sweep_id)
    assert (sweep.assignment_version_id, sweep.settled_at, sweep.graded_submission_id) == (
        assignment.current.id, None, None,
    )  # fmt: skip


def test_sweep_runs_count_against_a_daily_quota_of_hidden_set_evaluations(
    client, course, student_token, tmp_path
):
    """A sweep is one upload, but each of its runs is scored on the hidden set: those are counted."""
    assignment = _sweepable(course, tmp_path, SWEEP_TABLE + "runs_per_day = 8\n")
    assert _post(client, assignment.id, student_token, sweep=GRID).status_code == 202  # 6 runs
    before = _counts()
    refused = _post(client, assignment.id, student_token, sweep=GRID)
    assert refused.status_code == 429
    problem = refused.get_json()
    assert "may train 8 runs in any 24 hours (6 so far, so 2 left)" in problem["detail"], problem["detail"]
    assert "scored on the hidden set" in problem["detail"] and problem["field"] == "sweep"
    assert _counts() == before  # nothing stored
    small = {"grid": {"lr": [0.1, 0.01]}}
    assert _post(client, assignment.id, student_token, sweep=small).status_code == 202
    assert _post(client, assignment.id, student_token, sweep={"grid": {"lr": [0.5]}}).status_code == 429


def test_the_sweep_page_follows_its_runs_through_an_event_stream(
    client, course, student, student_token, tmp_path, monkeypatch
):  # type: ignore[no-untyped-def]
    # The page fetches its comparison when an event says a run moved on, instead of every 3 s.
    monkeypatch.setattr(sweep_events, "MIN_GAP_SECONDS", 0.0)
    assignment = _sweepable(course, tmp_path)
    sweep_id = _post(client, assignment.id, student_token, sweep=GRID).get_json()["sweep"]["id"]
    runs = db.session.scalars(
        select(Submission.id).where(Submission.sweep_id == sweep_id).order_by(Submission.id)
    ).all()
    log_in(client, student)
    assert f'data-events-url="/sweeps/{sweep_id}/events"' in page_text(client.get(f"/sweeps/{sweep_id}"))
    response = client.get(f"/sweeps/{sweep_id}/events", buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    stream = iter(response.response)

    def next_event() -> dict:  # type: ignore[type-arg]
        while True:
            chunk = next(stream).decode()
            if chunk.startswith("data: "):
                return json.loads(chunk[6:])  # type: ignore[no-any-return]

    assert next(stream).decode().startswith("retry: ")
    assert next_event() == {"done": 0, "total": 6, "states": {"queued": 6}}
    for run in runs[:2]:
        attempt = grading.claim(run, "w")
        assert grading.finish(
            run, attempt, GradeReport("paraboloid", Verdict.SCORED, "ok", "mse", 0.01, 50.0, 100.0, True)
        )
    assert next_event() == {"done": 2, "total": 6, "states": {"queued": 4, "scored": 2}}
    for run in runs[2:]:
        attempt = grading.claim(run, "w")
        assert grading.finish(
            run, attempt, GradeReport("paraboloid", Verdict.SCORED, "ok", "mse", 0.01, 50.0, 100.0, True)
        )
    assert next_event()["done"] == 6
    assert list(stream) == []  # every run final: the stream ends (the page closes it too)
    response.close()
