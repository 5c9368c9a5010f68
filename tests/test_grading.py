"""The paraboloid exercise end to end: unchanged student scripts, real sandbox, real training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grader.assignments import datasets
from grader.assignments.spec import find
from grader.runner.grade import grade
from grader.runner.submission import prepare_submission
from grader.runner.verdicts import Verdict

PARABOLOID = Path(__file__).resolve().parents[1] / "assignments" / "paraboloid"
SCRIPTS = {  # the exercise as students wrote it: the accepted fix and the question as first asked
    "fixed": PARABOLOID / "reference.py",
    "broken": PARABOLOID / "wrong" / "sgd_tiny_lr_no_zero_grad.py",
}
SECRET = b"test-secret-not-the-real-one-0123456789"


@pytest.fixture(scope="module")
def paraboloid():
    return find("paraboloid")


@pytest.fixture(scope="module")
def hidden(paraboloid):
    return datasets.hidden_set(paraboloid, SECRET)


def _grade(assignment, name, hidden, config, seed=0):
    path = SCRIPTS[name]
    submission = prepare_submission(path.name, path.read_bytes())
    return grade(assignment, submission, hidden, [seed], uid=config.sandbox_uid, jobs_root=config.jobs_dir)


@pytest.mark.slow
def test_the_textbook_fix_passes(paraboloid, hidden, runner_config):
    report = _grade(paraboloid, "fixed", hidden, runner_config)
    assert report.verdict is Verdict.SCORED, report.message
    assert report.metric_value is not None and report.metric_value <= 1e-3
    assert report.passed and report.score == 100
    training = report.chosen.result.training
    assert training.counters["steps"] == 2500 and training.counters["steps_without_zero_grad"] == 0
    assert len(training.curves["loss"][0]) == 2500
    assert {"grad_norm/linear_1", "grad_norm/linear_3", "lr"} <= set(training.curves)
    assert training.model["params"] == 2 * 25 + 25 + 25 * 10 + 10 + 10 + 1
    weights = report.chosen.result.weights
    assert weights is not None
    from safetensors.numpy import load

    state = load(weights)
    assert state["linear_1.weight"].shape == (25, 2)


@pytest.mark.slow
def test_the_classic_broken_version_scores_low(paraboloid, hidden, runner_config):
    report = _grade(paraboloid, "broken", hidden, runner_config)
    assert report.verdict is Verdict.SCORED, report.message
    assert report.metric_value is not None and report.metric_value > 1e-2
    assert report.score is not None and report.score < 50 and not report.passed
    training = report.chosen.result.training
    # What the diagnoses will rest on: no zero_grad, the broadcast warning, SGD at 1e-6.
    assert training.counters["zero_grad"] == 0
    assert training.counters["steps_without_zero_grad"] == training.counters["steps"] - 1
    assert any("broadcast" in w["message"] or "target size" in w["message"] for w in training.warnings)
    assert training.curves["lr"][1][0] == pytest.approx(1e-6)


@pytest.mark.slow
def test_same_seed_same_score(paraboloid, hidden, runner_config):
    first = _grade(paraboloid, "fixed", hidden, runner_config, seed=5)
    second = _grade(paraboloid, "fixed", hidden, runner_config, seed=5)
    assert first.metric_value == second.metric_value
    assert np.array_equal(
        first.chosen.result.training.curves["loss"][1], second.chosen.result.training.curves["loss"][1]
    )
