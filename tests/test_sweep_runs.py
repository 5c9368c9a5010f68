"""A sweep point's run in the real sandbox: settings in, initialisation, early stopping, restarts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.numpy import load

from grader.engine import datasets
from grader.engine import sweep_settings as settings
from grader.engine.harness import early_stop, platform_loop, protocol, sweep
from grader.engine.rules import Task
from grader.engine.runner.grade import RESTART_STRIDE, grade
from grader.engine.runner.session import early_stopping_settings, heldout_loss
from grader.engine.runner.submission import prepare_submission
from grader.engine.spec import find
from grader.engine.sweep_rules import EarlyStopping
from grader.engine.verdicts import Verdict

BUILD = """
import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}

def build_model(hidden=8, activation="relu"):
    return nn.Sequential(nn.Linear(2, hidden), ACTIVATIONS[activation](), nn.Linear(hidden, 1))
"""
WIDE = """
import torch
from torch import nn

def build_model({signature}):
    return nn.Sequential(nn.Linear(2, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))

def train(model, data, log):
    pass  # the weights stay as initialised
"""
STALLING = BUILD + "\nTRAINING = {'optimizer': 'sgd', 'lr': 1e-7, 'steps': 2000}\n"


@pytest.fixture(scope="module")
def paraboloid():
    spec = find("paraboloid")
    return replace(spec, budget=replace(spec.budget, max_steps=2000, train_seconds=20))


@pytest.fixture(scope="module")
def validation(paraboloid):
    return datasets.public_split(paraboloid, "validation")


@pytest.fixture
def run(paraboloid, validation, runner_config, warm_pool):
    """Grade ``code`` on the paraboloid (a small budget) with seed 0, in warm sandboxes where ready."""

    def grade_code(code, filename="solution.py", **kw):
        submission = prepare_submission(filename, code.encode())
        return grade(
            paraboloid, submission, validation, [0], pool=warm_pool, uid=runner_config.sandbox_uid,
            jobs_root=runner_config.jobs_dir, **kw,
        )  # fmt: skip

    return grade_code


# -- without a sandbox ------------------------------------------------------------------------------


def test_the_harness_copies_of_the_settings_agree_with_the_registry():
    assert sweep.TRAINING_SETTINGS == settings.TRAINING_SETTINGS
    assert sweep.MODEL_SETTINGS == settings.MODEL_SETTINGS
    assert sweep.INITS == settings.INITS
    assert set(sweep.EXAMPLES) == set(settings.MODEL_SETTINGS)
    assert tuple(platform_loop.OPTIMIZERS) == settings.OPTIMIZERS
    assert settings.TRAINING_SETTINGS <= set(platform_loop.KEYS)
    assert early_stop.DEFAULT_PATIENCE == EarlyStopping.patience
    assert early_stop.DEFAULT_MIN_DELTA == EarlyStopping.min_delta
    tasks = [Task("regression", "value"), Task("binary", "probability"), Task("binary", "logit"),
             Task("multiclass", "scores", 3)]  # fmt: skip
    assert sorted(heldout_loss(t) for t in tasks) == sorted(protocol.HELDOUT_LOSSES)
    assert early_stopping_settings(EarlyStopping(patience=3), tasks[2])["loss"] == "bce_with_logits"


def test_a_points_length_replaces_the_modules_and_build_model_kwargs_are_checked():
    spec = {"optimizer": "adam", "epochs": 3, "lr": 0.1}
    assert sweep.training_spec(spec, {"steps": 50, "lr": 0.01, "hidden": 4}) == {
        "optimizer": "adam", "steps": 50, "lr": 0.01,
    }  # fmt: skip
    assert sweep.training_spec({"steps": 9}, {"epochs": 2}) == {"epochs": 2}

    def open_ended(**kwargs):
        return kwargs

    assert sweep.build_kwargs(open_ended, {"hidden": [8, 8], "init": "he", "lr": 1.0}) == (
        {"hidden": [8, 8]},
        False,  # a catch-all did not ask for the initialisation: the platform applies it
    )
    with pytest.raises(sweep.ParamsError, match=r"'activation' and 'hidden'.*activation=\"relu\", hidden=32"):
        sweep.build_kwargs(lambda layers=2: None, {"hidden": 3, "activation": "tanh", "layers": 1})


def test_early_stopping_looks_and_stops_at_a_plateau():
    sent: list[tuple[str, dict]] = []
    x = torch.rand(64, 2)
    stopper = early_stop.EarlyStopper(
        lambda kind, **f: sent.append((kind, f)), {"patience": 2, "min_delta": 0.1, "loss": "mse"},
        x, (x**2).sum(1), max_steps=3000,
    )  # fmt: skip
    assert stopper.every == 30 and stopper.due(1) and stopper.due(60) and not stopper.due(59)
    stopper.plan(500)
    assert stopper.every == 10  # never more often than every 10 steps
    model = torch.nn.Linear(2, 1)
    model.train()
    stopper.model = model
    assert [stopper.after_step(s) for s in (1, 10, 20)] == [False, False, True]
    assert model.training and stopper.stopped_at == 20 and stopper.summary()["evaluations"] == 3
    assert [f["series"] for kind, f in sent] == ["heldout_loss"] * 3


# -- in the sandbox ---------------------------------------------------------------------------------


def test_module_mode_takes_the_points_model_and_training_settings(run):
    code = BUILD + "\nTRAINING = {'optimizer': 'adam', 'lr': 0.001, 'epochs': 3}\n"
    params = {"lr": 0.05, "optimizer": "sgd", "hidden": 16, "activation": "tanh", "steps": 200}
    report = run(code, params=params)
    assert report.verdict is Verdict.SCORED, report.message
    training = report.chosen.result.training
    assert training.model["params"] == 2 * 16 + 16 + 16 + 1
    assert any("Tanh" in m for m in training.model["modules"])
    assert not any("ReLU" in m for m in training.model["modules"])
    assert training.settings["params"] == params
    assert training.settings["build_kwargs"] == {"hidden": 16, "activation": "tanh"}
    assert {k: training.settings["training"][k] for k in ("optimizer", "lr", "steps")} == {
        "optimizer": "sgd", "lr": 0.05, "steps": 200,
    }  # fmt: skip
    assert training.counters["steps"] == 200 and training.curves["lr"][1] == [0.05]
    assert report.summary()["settings"]["training"]["optimizer"] == "sgd"


def test_a_build_model_that_cannot_take_a_swept_setting_is_refused(run):
    code = WIDE.format(signature="")
    report = run(code, params={"hidden": 16})
    assert report.verdict is Verdict.BAD_SUBMISSION
    assert "build_model() does not take 'hidden'" in report.message
    assert "def build_model(hidden=32" in report.message


@pytest.mark.parametrize("init, std", [("xavier", (2 / 512) ** 0.5), ("he", (2 / 256) ** 0.5)])
def test_the_platform_initialises_the_layers(run, init, std):
    report = run(WIDE.format(signature=""), params={"init": init})
    assert report.verdict is Verdict.SCORED, report.message
    assert report.chosen.result.training.settings["init_by"] == "platform"
    state = load(report.chosen.result.weights)
    assert float(np.std(state["2.weight"])) == pytest.approx(std, rel=0.05)
    assert not np.any(state["2.bias"]) and not np.any(state["0.bias"])


def test_a_build_model_that_takes_init_initialises_itself(run):
    code = WIDE.format(signature="init='default'").replace(
        "    return nn.Sequential", "    assert init == 'normal'\n    return nn.Sequential"
    )
    report = run(code, params={"init": "normal"})
    assert report.verdict is Verdict.SCORED, report.message
    training = report.chosen.result.training
    assert training.settings["init_by"] == "build_model"
    # The platform left the layers alone: PyTorch's own initialisation, not normal(0, 0.02).
    std = float(np.std(load(report.chosen.result.weights)["2.weight"]))
    assert std == pytest.approx((1 / (3 * 256)) ** 0.5, rel=0.05)


def test_a_script_reads_its_settings(run):
    code = """
import torch
from gradekit import load_training_data, params

p = params()
p["lr"] = 0.0
assert params()["lr"] == 0.02  # a copy
p = params()
x, y = load_training_data()
model = torch.nn.Sequential(torch.nn.Linear(2, p["hidden"]), torch.nn.Tanh(), torch.nn.Linear(p["hidden"], 1))
optimizer = torch.optim.Adam(model.parameters(), lr=p["lr"])
for _ in range(p["steps"]):
    loss = ((model(x).squeeze(-1) - y) ** 2).mean()
    optimizer.zero_grad(); loss.backward(); optimizer.step()
"""
    params = {"lr": 0.02, "hidden": 12, "steps": 30, "init": "he"}
    report = run(code, filename="train.py", params=params, early_stopping={"patience": 50, "every": 10})
    assert report.verdict is Verdict.SCORED, report.message
    training = report.chosen.result.training
    assert training.model["params"] == 2 * 12 + 12 + 12 + 1 and training.counters["steps"] == 30
    assert training.settings["params"] == params and training.settings["init_by"] == "script"
    # Early stopping finds a script's model too (the one its first step ran), from step 1 on.
    assert training.curves["heldout_loss"][0] == [1, 10, 20, 30]


def test_early_stopping_stops_a_run_that_plateaus(run):
    stopping = {"patience": 3, "min_delta": 0.01}
    report = run(STALLING, early_stopping=stopping)
    assert report.verdict is Verdict.SCORED, report.message
    training = report.chosen.result.training
    assert training.trained["reason"] == "plateau"
    # Every 2000 / 100 = 20 steps, after a look at step 1: three looks without a 1% gain after it.
    assert training.trained["steps"] == 60 == training.early_stopping["stopped_at"]
    steps, losses = training.curves["heldout_loss"]
    assert steps == [1, 20, 40, 60] and all(v is not None and v > 0.1 for v in losses)
    assert training.early_stopping["loss"] == "mse" and training.early_stopping["first"] == losses[0]
    assert any("stopped early" in note for note in report.notes)
    assert report.summary()["early_stopping"]["stopped_at"] == 60


def test_early_stopping_leaves_a_run_that_keeps_improving(run):
    code = BUILD + "\nTRAINING = {'optimizer': 'adam', 'lr': 0.01, 'steps': 400}\n"
    stopping = {"patience": 3, "min_delta": 0.01, "every": 50}
    report = run(code, early_stopping=stopping, params={"hidden": 32})
    assert report.verdict is Verdict.SCORED, report.message
    training = report.chosen.result.training
    assert training.trained["reason"] == "finished" and training.counters["steps"] == 400
    assert training.curves["heldout_loss"][0] == [1, *range(50, 401, 50)]
    assert training.early_stopping["stopped_at"] is None
    assert training.early_stopping["best"] < 0.2 * training.early_stopping["first"]


def test_a_run_that_stalls_early_is_restarted_from_new_seeds(run):
    report = run(STALLING, early_stopping={"patience": 3}, restarts=2)
    assert report.verdict is Verdict.SCORED, report.message
    seeds = [attempt["seed"] for attempt in report.restarts]
    assert seeds == [0, RESTART_STRIDE]
    assert [a["restarted_as"] for a in report.restarts] == [RESTART_STRIDE, 2 * RESTART_STRIDE]
    assert all(a["step"] == 60 and a["best_loss"] > 0.5 * a["first_loss"] for a in report.restarts)
    assert report.chosen.result.seed == 2 * RESTART_STRIDE  # the last attempt is the seed's run
    assert report.summary()["restarts"] == report.restarts


IGNORING = """
import torch
from gradekit import load_training_data

x, y = load_training_data()
model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
for _ in range(30):
    loss = ((model(x).squeeze(-1) - y) ** 2).mean()
    optimizer.zero_grad(); loss.backward(); optimizer.step()
"""


def test_a_script_that_never_reads_its_settings_is_told(run):
    report = run(IGNORING, filename="train.py", params={"lr": 0.1, "hidden": 8, "init": "he"})
    found = {d.code: d for d in report.diagnoses}
    assert "sweep_settings_ignored" in found, [d.code for d in report.diagnoses]
    diagnosis = found["sweep_settings_ignored"]
    assert diagnosis.numbers["unread"] == ["hidden", "init", "lr"]
    assert "your script never called gradekit.params()" in diagnosis.seen
    # One that reads them, or a module whose TRAINING and build_model the grader fills in, is not.
    reading = IGNORING.replace("x, y = load", "import gradekit\ngradekit.params()\nx, y = load")
    assert "sweep_settings_ignored" not in {
        d.code for d in run(reading, filename="train.py", params={"lr": 0.1}).diagnoses
    }
    module = BUILD + "\nTRAINING = {'optimizer': 'adam', 'lr': 0.01, 'steps': 30}\n"
    report = run(module, params={"lr": 0.05, "hidden": 4, "init": "xavier"})
    assert report.verdict is Verdict.SCORED and "sweep_settings_ignored" not in {
        d.code for d in report.diagnoses
    }
    # A train() of its own must ask for the training settings; build_model's are put in place.
    own = BUILD + "\ndef train(model, data, log):\n    pass\n"
    report = run(own, params={"lr": 0.05, "hidden": 4})
    (diagnosis,) = [d for d in report.diagnoses if d.code == "sweep_settings_ignored"]
    assert diagnosis.numbers["unread"] == ["lr"] and "your train()" in diagnosis.seen
