"""A sweep end to end in a real browser: uploaded through the form, run by two Celery worker processes
in parallel on PostgreSQL + Redis, stopped early where the held-out loss plateaus, and compared on
its page (every run's curve overlaid, the metric against each setting, the best configuration marked,
the table sorted by clicking). The screenshot goes to test-artifacts/sweep.png.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path

import pytest
from sqlalchemy import select
from support.assignments import PARABOLOID
from support.browsing import ARTIFACTS, INKED_IN, watched_page
from support.stack import Stack, postgres_stack

from grader.assignments.services import publish
from grader.courses.models import Course
from grader.extensions import db
from grader.submissions.models import Attempt, Submission

pytestmark = [pytest.mark.slow, pytest.mark.long]
expect = pytest.importorskip("playwright.sync_api").expect

BUDGET = 3000  # max_steps of the sweep's assignment: small, so six runs take seconds each
SWEEP_TABLE = """
[sweep]
max_runs = 6
settings = ["lr", "optimizer"]
early_stopping = { patience = 3, min_delta = 0.01 }
"""
MODULE = f"""
import torch.nn as nn

def build_model():
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))

TRAINING = {{"optimizer": "adam", "lr": 0.01, "steps": {BUDGET}, "batch_size": 64}}
"""
GRID = {"grid": {"lr": [0.05, 0.005, 0.00001], "optimizer": ["sgd", "adam"]}}
ROWS = "() => [...document.querySelectorAll('#sweep-table tbody tr')].map(r => [...r.cells].map(c => c.innerText))"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with postgres_stack(tmp_path_factory.mktemp("sweep"), redis_db=11, lease_seconds=20) as stack:
        yield stack


def _sweepable_paraboloid(stack: Stack, folder: Path) -> int:
    """The paraboloid with a [sweep] table and a small budget, published in the E2E course."""
    shutil.copytree(PARABOLOID, folder)
    spec = folder / "assignment.toml"
    text = spec.read_text()
    for old, new in (
        ('slug = "paraboloid"', 'slug = "paraboloid-sweep"'),
        ('title = "Learn the paraboloid', 'title = "Sweep the paraboloid'),
        ("max_steps = 50000", f"max_steps = {BUDGET}"),
        ("seeds = 3 ", "seeds = 1 "),
    ):
        assert old in text, (
            f"{old!r} is no longer in grader/engine/builtin/paraboloid/assignment.toml: update this test"
        )
        text = text.replace(old, new)
    spec.write_text(text + SWEEP_TABLE)
    with stack.app.app_context():
        course = db.session.scalar(select(Course).where(Course.code == "E2E-1"))
        assert course is not None
        return publish(course, str(folder), daily_limit=10).id


def _wait_until_finished(stack: Stack, page, runs: int, timeout: float) -> None:  # type: ignore[no-untyped-def]
    """Until the page itself (polling data.json) says every run finished; the workers' logs if not."""
    done = f"{runs} of {runs} runs finished"
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = page.inner_text("#sweep-progress")
        if done in text or all(w.poll() is not None for w in stack.workers):
            break
        time.sleep(0.5)
    if done not in text:
        logs = "\n".join(p.read_text()[-3000:] for p in sorted(stack.workdir.glob("worker-*.log")))
        raise AssertionError(f"the page says {text!r} after {timeout:.0f} s\n{logs}")


def _wait_ready(stack, count: int, timeout: float = 90) -> None:  # type: ignore[no-untyped-def]
    """Until ``count`` worker logs say the worker is consuming (Celery logs "ready" once connected)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        logs = sorted(stack.workdir.glob("worker-*.log"))
        if sum(" ready." in path.read_text() for path in logs) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{count} workers not ready after {timeout:.0f} s")


def test_a_sweep_runs_in_parallel_stops_early_and_is_compared_on_its_page(stack, base_url, browser, tmp_path):  # type: ignore[no-untyped-def]
    stack.start_worker()
    stack.start_worker()  # two at once: the runs are queued as separate jobs and go in parallel
    _wait_ready(stack, 2)  # both consuming before the upload, so both take runs
    assignment_id = _sweepable_paraboloid(stack, tmp_path / "paraboloid-sweep")
    context, page, errors = watched_page(browser, 1100, 900)
    try:
        page.goto(base_url + "/login")
        page.get_by_label("Email").fill("e2e@example.edu")
        page.get_by_label("Password").fill("pw")
        page.get_by_role("button", name="Log in").click()

        # The upload form: the file and, under "Run a sweep", the grid as JSON.
        page.goto(f"{base_url}/assignments/{assignment_id}")
        page.get_by_label(re.compile("Your code")).set_input_files(
            files=[{"name": "sweep_model.py", "mimeType": "text/x-python", "buffer": MODULE.encode()}]
        )
        page.get_by_text("Run a sweep").click()
        page.get_by_label(re.compile("Settings to try")).fill(json.dumps(GRID))
        page.get_by_role("button", name="Submit for grading").click()
        page.wait_for_url(re.compile(r"/sweeps/\d+$"))
        sweep_id = int(page.url.rsplit("/", 1)[1])
        assert page.locator("#sweep-table tbody tr").count() == 6

        _wait_until_finished(stack, page, 6, timeout=240)

        # The table came back from the server with every run's result, without a reload.
        best = page.locator("#sweep-table tbody tr.best")
        expect(best).to_have_count(1)
        best_lr = float(best.locator("td").first.inner_text())
        assert best_lr != 0.00001, page.evaluate(ROWS)  # 1e-5 barely moves the weights in the budget
        assert "best" in best.inner_text()
        assert "Best so far: lr = " in page.inner_text("#best")

        # Every run's curve, overlaid and coloured by lr; the best configuration's drawn thicker.
        curves = page.locator("#curves-chart")
        expect(curves).to_have_attribute("data-curves", "6")
        assert page.evaluate(INKED_IN, "#curves-chart") > 2_000
        legend = page.inner_text("#curves-legend")
        assert page.locator("#curves-legend li").count() == 3, legend
        assert "lr = 1e-05 (2 runs)" in legend and "lr = 0.05 (2 runs)" in legend, legend
        caption = page.inner_text("#curves-caption")
        assert caption.startswith("6 runs' training loss") and "thicker lines: the best" in caption, caption

        # The metric against the setting: one dot per run, the best marked in the caption.
        expect(page.locator("#metric-chart")).to_have_attribute("data-dots", "6")
        assert page.evaluate(INKED_IN, "#metric-chart") > 1_000
        metric_caption = page.inner_text("#metric-caption")
        assert re.match(r"Best: lr = [\d.e-]+, optimizer = (sgd|adam), mse [\d.e-]+\.", metric_caption), (
            metric_caption
        )
        page.locator("#sweep-charts").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "sweep.png"), full_page=True)

        # Early stopping: a run stopped where its held-out loss plateaued, before the step budget.
        api = stack.app.test_client().get(
            f"/api/v1/sweeps/{sweep_id}", headers={"Authorization": f"Bearer {stack.token}"}
        )
        runs = [r for p in api.get_json()["points"] for r in p["runs"]]
        assert {r["state"] for r in runs} == {"scored"}, runs
        plateaus = [r for r in runs if r["stopped"] == "plateau"]
        assert plateaus and min(r["steps"] for r in plateaus) < BUDGET, runs
        assert "plateau at step" in page.inner_text("#sweep-table")
        with stack.app.app_context():
            attempts = db.session.scalars(
                select(Attempt).join(Submission).where(Submission.sweep_id == sweep_id)
            ).all()
        assert len({a.worker for a in attempts}) == 2, [a.worker for a in attempts]  # both workers took runs
        assert any(
            a.started_at < b.finished_at and b.started_at < a.finished_at  # type: ignore[operator]
            for a, b in combinations(attempts, 2)
        ), [(a.worker, a.started_at, a.finished_at) for a in attempts]  # ... at the same time

        # The held-out loss early stopping watched, overlaid the same way; coloured by the optimizer.
        page.select_option("#sweep-series", "heldout_loss")
        expect(curves).to_have_attribute("data-curves", "6")
        assert page.evaluate(INKED_IN, "#curves-chart") > 1_000
        page.select_option("#sweep-setting", "optimizer")
        assert page.locator("#curves-legend li").count() == 2
        assert page.inner_text("#metric-title") == "mse against optimizer"
        expect(page.locator("#metric-chart")).to_have_attribute("data-dots", "6")
        assert page.evaluate(INKED_IN, "#metric-chart") > 1_000
        page.screenshot(path=str(ARTIFACTS / "sweep-heldout.png"), full_page=True)

        # Sorting: by the metric (a click), reversed (another), then by lr from the keyboard.
        metric_header = page.locator("#sweep-table th", has_text="mse (median)")
        metric_header.get_by_role("button").click()
        assert metric_header.get_attribute("aria-sort") == "ascending"
        medians = [float(row[2].split()[0]) for row in page.evaluate(ROWS)]
        assert (
            medians == sorted(medians)
            and page.locator("#sweep-table tbody tr").first.get_attribute("class") == "best"
        )
        metric_header.get_by_role("button").click()
        assert metric_header.get_attribute("aria-sort") == "descending"
        assert [float(row[2].split()[0]) for row in page.evaluate(ROWS)] == sorted(medians, reverse=True)
        lr_header = page.locator("#sweep-table th", has_text="lr")
        lr_header.get_by_role("button").focus()
        page.keyboard.press("Enter")
        assert (
            lr_header.get_attribute("aria-sort") == "ascending"
            and metric_header.get_attribute("aria-sort") is None
        )
        assert [float(row[0]) for row in page.evaluate(ROWS)] == [1e-5, 1e-5, 0.005, 0.005, 0.05, 0.05]

        # Each run's trained weights download as they were stored; a plain miss says why.
        links = page.locator("#sweep-table a[download]")
        assert links.count() == 6
        download = context.request.get(base_url + links.first.get_attribute("href"))
        assert download.status == 200 and download.headers["content-type"] == "application/octet-stream"
        body = download.body()
        header = int.from_bytes(body[:8], "little")  # safetensors: a JSON header's length, then the header
        assert json.loads(body[8 : 8 + header]), body[:64]
        missing = context.request.get(base_url + "/submissions/999999/weights.safetensors")
        assert missing.status == 404 and "no submission 999999" in missing.text()
        assert not errors, errors
    finally:
        context.close()
