"""Every kind of submission through the real sandbox: module mode, notebooks, zips, budgets, the CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from grader.engine import datasets
from grader.engine.runner.grade import grade
from grader.engine.runner.submission import prepare_submission
from grader.engine.spec import find
from grader.engine.verdicts import Verdict

ROOT = Path(__file__).resolve().parents[1]

SMALL_TRAINING = """
import torch
from torch import nn

def build_model():
    return nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
"""


@pytest.fixture(scope="module")
def paraboloid():
    return find("paraboloid")


@pytest.fixture(scope="module")
def validation(paraboloid):
    return datasets.public_split(paraboloid, "validation")


def _grade(assignment, evaluation, config, filename, content, **kw):
    submission = prepare_submission(filename, content)
    return grade(
        assignment, submission, evaluation, [0], uid=config.sandbox_uid, jobs_root=config.jobs_dir, **kw
    )


def test_module_mode_with_the_platform_loop(paraboloid, validation, runner_config):
    code = SMALL_TRAINING + "\nTRAINING = {'optimizer': 'adam', 'lr': 0.01, 'steps': 400, 'batch_size': 64}\n"
    report = _grade(paraboloid, validation, runner_config, "solution.py", code.encode())
    assert report.verdict is Verdict.SCORED, (report.message, report.summary()["details"])
    assert report.metric_value is not None and report.metric_value < 0.05
    counters = report.chosen.result.training.counters
    assert counters["steps"] == 400 and counters["steps_without_zero_grad"] == 0


def test_module_mode_with_the_students_own_loop_and_log(paraboloid, validation, runner_config):
    code = (
        SMALL_TRAINING
        + """
def train(model, data, log):
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for step in range(300):
        index = torch.randint(0, data.x_train.shape[0], (64,), device=data.device)
        loss = nn.functional.mse_loss(model(data.x_train[index]).squeeze(-1), data.y_train[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0:
            log(step, train_loss=loss.item())
"""
    )
    report = _grade(paraboloid, validation, runner_config, "solution.py", code.encode())
    assert report.verdict is Verdict.SCORED, report.message
    curves = report.chosen.result.training.curves
    assert curves["log/train_loss"][0] == [0, 100, 200]


def test_a_bad_training_dict_is_explained(paraboloid, validation, runner_config):
    code = SMALL_TRAINING + "\nTRAINING = {'optimiser': 'adam'}\n"
    report = _grade(paraboloid, validation, runner_config, "solution.py", code.encode())
    assert report.verdict is Verdict.BAD_SUBMISSION
    assert "'optimiser'" in report.message and "optimizer" in report.message


def test_load_training_data_in_a_script(paraboloid, validation, runner_config):
    code = """
import torch
from gradekit import load_training_data
x, y = load_training_data()
assert x.shape == (1000, 2) and y.shape == (1000,)
model = torch.nn.Linear(2, 1)
optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
for _ in range(200):
    loss = ((model(x).squeeze(-1) - y) ** 2).mean()
    optimizer.zero_grad(); loss.backward(); optimizer.step()
"""
    report = _grade(paraboloid, validation, runner_config, "train.py", code.encode())
    assert report.verdict is Verdict.SCORED, report.message
    assert report.metric_value is not None and report.metric_value < 0.1  # a plane fits the bowl roughly


def test_a_notebook_runs_with_its_magics_dropped(paraboloid, validation, runner_config):
    cells = [
        "%matplotlib inline\n!pip install torch\nimport torch\nimport matplotlib.pyplot as plt",
        "model = torch.nn.Linear(2, 1)\nplt.plot([1, 2]); plt.show()",
    ]
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [{"cell_type": "code", "source": c, "metadata": {}, "outputs": []} for c in cells],
    }
    report = _grade(paraboloid, validation, runner_config, "homework.ipynb", json.dumps(notebook).encode())
    assert report.verdict is Verdict.SCORED, report.message
    assert any("pip install" in note for note in report.notes)


def test_a_zip_with_a_helper_module(paraboloid, validation, runner_config):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("project/nets.py", "import torch\ndef make():\n    return torch.nn.Linear(2, 1)\n")
        archive.writestr("project/main.py", "from nets import make\nmodel = make()\n")
    report = _grade(paraboloid, validation, runner_config, "project.zip", buffer.getvalue())
    assert report.verdict is Verdict.SCORED, report.message


def test_training_is_stopped_at_the_step_budget_and_the_model_still_scored(
    paraboloid, validation, runner_config
):
    limited = replace(paraboloid, budget=replace(paraboloid.budget, max_steps=50))
    code = """
import torch
model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
x = torch.rand(256, 2)
y = (x ** 2).sum(1, keepdim=True)
for step in range(10**9):
    loss = ((model(x) - y) ** 2).mean()
    optimizer.zero_grad(); loss.backward(); optimizer.step()
"""
    report = _grade(limited, validation, runner_config, "long.py", code.encode())
    assert report.verdict is Verdict.SCORED, report.message
    assert report.chosen.result.training.trained["reason"] == "step_budget"
    assert report.chosen.result.training.counters["steps"] == 50
    assert any("step budget (50" in note for note in report.notes)


@pytest.mark.slow  # grades the reference end to end through the command line
def test_cli_run_prints_progress_verdict_and_json(tmp_path):
    script = tmp_path / "quick.py"
    script.write_text(
        "import torch\nmodel = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))\n"
        "opt = torch.optim.Adam(model.parameters(), lr=0.01)\nx = torch.rand(512, 2); y = (x**2).sum(1, keepdim=True)\n"
        "for _ in range(1500):\n    loss = ((model(x) - y)**2).mean(); opt.zero_grad(); loss.backward(); opt.step()\n"
    )
    grader = [sys.executable, "-m", "grader.cli", "run", "paraboloid", str(script)]
    human = subprocess.run(grader, capture_output=True, text=True, cwd=ROOT, timeout=240)
    assert "step" in human.stderr and "loss" in human.stderr  # the live progress line
    assert "Scored:" in human.stdout and "MSE" in human.stdout and "loss  step 0:" in human.stdout
    machine = subprocess.run([*grader, "--json"], capture_output=True, text=True, cwd=ROOT, timeout=240)
    summary = json.loads(machine.stdout)
    assert (
        summary["verdict"] == "scored" and summary["metric"] == "mse" and summary["counters"]["steps"] == 1500
    )
    missing = subprocess.run([*grader[:-1], "nope.txt"], capture_output=True, text=True, cwd=ROOT)
    assert missing.returncode == 2 and "nope.txt" in missing.stderr


def test_cli_run_says_so_when_no_known_mistake_explains_a_failure():
    import io as text_io

    from grader.cli import print_report
    from grader.engine.diagnosis.base import NO_KNOWN_MISTAKE, Diagnosis
    from grader.engine.runner.grade import GradeReport

    hint = Diagnosis("plateau", "hint", "The loss stopped improving", "seen", "why", "fix")
    cause = Diagnosis("output_convention", "error", "Another kind of output", "seen", "why", "fix")
    out = text_io.StringIO()
    print_report(
        GradeReport("xor", Verdict.SCORED, "", "accuracy", 0.5, 0.0, 100.0, False, diagnoses=[hint]), out
    )
    assert NO_KNOWN_MISTAKE in out.getvalue() and out.getvalue().index(
        NO_KNOWN_MISTAKE
    ) < out.getvalue().index("hint:")
    out = text_io.StringIO()
    print_report(
        GradeReport("xor", Verdict.SCORED, "", "accuracy", 0.5, 0.0, 100.0, False, diagnoses=[cause]), out
    )
    assert NO_KNOWN_MISTAKE not in out.getvalue() and "error: Another kind of output" in out.getvalue()


OWN_METHODS = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 1))

    def forward(self, x):
        return self.body(x)

    # Names nn.Module has, redefined as beginners do: the grader must call none of them.
    def train(self, x, y, epochs=400):
        optimizer = torch.optim.Adam(self.parameters(), lr=0.02)
        for _ in range(epochs):
            optimizer.zero_grad()
            nn.functional.mse_loss(self(x).squeeze(-1), y).backward()
            optimizer.step()

    def eval(self, x, y):
        return nn.functional.mse_loss(self(x).squeeze(-1), y).item()

    def to(self, *args, **kwargs):
        raise RuntimeError("my model never moves")
"""


@pytest.mark.parametrize("mode", ["script", "module"])
def test_a_model_that_redefines_train_eval_and_to_is_graded_like_any_other(
    paraboloid, validation, runner_config, mode
):
    if mode == "script":
        code = OWN_METHODS + "\nx = torch.rand(1000, 2)\nmodel = Net()\nmodel.train(x, (x**2).sum(1))\n"
    else:
        code = OWN_METHODS + (
            "\ndef build_model():\n    return Net()\n\n"
            "def train(model, data, log):\n    model.train(data.x_train, data.y_train)\n"
        )
    report = _grade(paraboloid, validation, runner_config, "solution.py", code.encode())
    assert report.verdict is Verdict.SCORED, (report.message, report.summary()["details"])
    assert report.metric_value is not None and report.metric_value < 0.02
    assert "linear_stack" not in {d.code for d in report.diagnoses}


def test_a_loss_given_by_keyword_is_seen_and_left_working(paraboloid, validation, runner_config):
    # The harness wraps torch's functional losses to look at what they are given: however they are
    # called, they must behave exactly as torch's own.
    code = (
        "import torch\nimport torch.nn.functional as F\nx = torch.rand(500, 2); y = (x**2).sum(1)\n"
        "model = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))\n"
        "opt = torch.optim.Adam(model.parameters(), lr=0.01)\nfor i in range(300):\n"
        "    opt.zero_grad()\n    F.mse_loss(input=model(x).squeeze(1), target=y, reduction='sum').backward()\n"
        "    opt.step()\n"
    )
    report = _grade(paraboloid, validation, runner_config, "keywords.py", code.encode())
    assert report.verdict is Verdict.SCORED, report.message
    seen = report.chosen.result.training.probes["loss/MSELoss"]
    assert seen["reduction"] == "sum" and seen["prediction_shape"] == [500]


# Code that is fine, or wrong only in the student's own terms, and once broke the harness.
UNUSUAL = {
    "lazy layers, built before any input": (
        "concentric-circles", "solution.py", "scored",
        "import torch.nn as nn\n\ndef build_model():\n    return nn.Sequential(nn.LazyLinear(32), nn.ReLU(), "
        "nn.LazyLinear(3))\n\nTRAINING = {'optimizer': 'adam', 'lr': 0.01, 'loss': 'cross_entropy', 'steps': 300}\n",
    ),
    "a loss compiled with torch.jit.script before training": (
        "concentric-circles", "jit.py", "scored",
        "import torch, torch.nn as nn, torch.nn.functional as F\nfrom gradekit import load_training_data\n"
        "x, y = load_training_data()\n\n@torch.jit.script\ndef loss_fn(p: torch.Tensor, t: torch.Tensor) -> "
        "torch.Tensor:\n    return F.cross_entropy(p, t)\n\nmodel = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), "
        "nn.Linear(32, 3))\nopt = torch.optim.Adam(model.parameters(), lr=0.01)\nfor _ in range(300):\n"
        "    opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()\n",
    ),
    "a bigger scratch network run once, then a small model trained": (
        "linear", "scratch.py", "scored",
        "import torch, torch.nn as nn\nx = torch.rand(200, 1) * 10; y = 2 * x + 1\n"
        "probe = nn.Sequential(nn.Linear(1, 64), nn.ReLU(), nn.Linear(64, 1)); print(probe(x[:1]))\n"
        "model = nn.Linear(1, 1)\nopt = torch.optim.SGD(model.parameters(), lr=0.01)\nfor _ in range(2000):\n"
        "    opt.zero_grad(); nn.functional.mse_loss(model(x), y).backward(); opt.step()\n"
        "from gradekit import submit; submit(model)\n",
    ),
    "build_model() that trains past the step budget": (
        "linear", "solution.py", "bad_submission",
        "import torch, torch.nn as nn\n\ndef build_model():\n    x = torch.rand(100, 1); y = 2 * x + 1\n"
        "    model = nn.Linear(1, 1); opt = torch.optim.SGD(model.parameters(), lr=0.01)\n"
        "    for _ in range(30000):\n        opt.zero_grad(); nn.functional.mse_loss(model(x), y).backward(); "
        "opt.step()\n    return model\n\ndef train(model, data, log):\n    pass\n",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(UNUSUAL))
def test_unusual_code_gets_the_verdict_of_its_own_doing(case, runner_config):
    slug, filename, verdict, code = UNUSUAL[case]
    spec = find(slug)
    if verdict == "bad_submission":
        spec = replace(spec, budget=replace(spec.budget, max_steps=2000))
    report = _grade(spec, datasets.public_split(spec, "validation"), runner_config, filename, code.encode())
    assert report.verdict.value == verdict, (report.verdict, report.message)
    if verdict == "scored":
        assert report.passed, report.message
    else:
        assert "inside build_model()" in report.message and "step budget" in report.message
