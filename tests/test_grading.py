"""The paraboloid exercise end to end: unchanged student scripts, real sandbox, real training."""

from __future__ import annotations

import numpy as np
import pytest

from grader.engine import datasets
from grader.engine.runner.grade import grade
from grader.engine.runner.submission import prepare_submission
from grader.engine.spec import BUILTIN, find
from grader.engine.verdicts import Verdict

PARABOLOID = BUILTIN / "paraboloid"
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
    exact = report.chosen.result.details["exact_metric"]["hidden"]  # for the staff; students see it rounded
    assert report.metric_value == float(f"{exact:.1e}")
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
    # The public score: the same metric on the hidden set's first 30% (what a leaderboard shows early).
    shown = slice(0, int(np.ceil(0.3 * len(hidden.targets))))
    public = float(np.mean((report.chosen.values[shown] - hidden.targets[shown]) ** 2))
    assert report.public_metric == float(f"{public:.1e}") and report.public_score == 100  # as students see it
    assert report.chosen.result.details["exact_metric"]["public"] == pytest.approx(public)
    # The fit over the domain: a 41 x 41 heat map whose error is the prediction minus x^2 + y^2.
    fit = report.fit
    assert fit is not None and fit["kind"] == "heatmap"
    x, y = (np.asarray(a["values"]) for a in fit["axes"])
    assert len(x) == len(y) == 41 and x[0] == 0 and x[-1] == 1
    truth = np.asarray(fit["truth"]).reshape(41, 41)
    assert truth[40, 20] == pytest.approx(1 + y[20] ** 2)  # row-major: the first axis varies slowest
    error = np.asarray(fit["error"])
    assert error == pytest.approx(np.asarray(fit["prediction"]) - np.asarray(fit["truth"]))
    assert float(np.mean(error**2)) < 3e-3  # fits the whole square, not only the evaluation points


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


def test_progress_places_each_run_in_the_whole_grading(paraboloid):
    from grader.engine.runner.grade import _progress

    seen: list[dict] = []
    first = _progress(seen.append, paraboloid, 0, 3, None)
    assert first is not None
    first({"step": 100, "elapsed": 12.0, "loss": 0.5})
    # The first run's length is unknown: the budget (120 s a run) bounds the time left.
    assert seen[-1] | {"loss": 0.5} == seen[-1]
    assert (seen[-1]["run"], seen[-1]["fraction"], seen[-1]["eta_seconds"], seen[-1]["eta_is_bound"]) == (
        1, round(0.1 / 3, 4), 108.0 + 240.0, True,
    )  # fmt: skip
    third = _progress(seen.append, paraboloid, 2, 3, 20.0)  # a run took 20 s: the estimate follows it
    assert third is not None
    third({"step": 100, "elapsed": 15.0, "loss": 0.1})
    assert (seen[-1]["run"], seen[-1]["fraction"], seen[-1]["eta_seconds"], seen[-1]["eta_is_bound"]) == (
        3, round(2.75 / 3, 4), 5.0, False,
    )  # fmt: skip
