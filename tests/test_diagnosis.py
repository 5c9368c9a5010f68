"""Each diagnosis with a small submission that triggers it and a clean one that must not.

Every submission is trained for real in the sandbox (a few hundred steps) and
scored on a hidden set; they run two at a time, once per module.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from grader.engine import datasets
from grader.engine.runner.grade import GradeReport, grade
from grader.engine.runner.submission import prepare_submission
from grader.engine.spec import find

pytestmark = pytest.mark.long  # trains a run per diagnosis

SECRET = b"diagnosis-tests-secret-0123456789"

REGRESSION = """
import torch
import torch.nn as nn
from gradekit import load_training_data, submit

x, y = load_training_data()
{data}
model = {model}
optimizer = torch.optim.{optimizer}(model.parameters(), lr={lr})
criterion = {criterion}
for step in range({steps}):
    {zero}
    prediction = model(x){squeeze}
    loss = criterion(prediction, y)
    loss.backward()
    optimizer.step()
submit(model)
"""
GOOD = {
    "data": "",
    "model": "nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))",
    "optimizer": "Adam",
    "lr": "1e-2",
    "criterion": "nn.MSELoss()",
    "steps": 800,
    "zero": "optimizer.zero_grad()",
    "squeeze": ".squeeze(-1)",
}


def regression(**changes: object) -> tuple[str, str]:
    return "paraboloid", REGRESSION.format(**{**GOOD, **changes})


THRESHOLD = """
import torch
import torch.nn as nn
from gradekit import load_training_data, submit

x, y = load_training_data()

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", x.mean(0))
        self.register_buffer("std", x.std(0))
        self.linear = nn.Linear(1, 1)

    def forward(self, x):
        return torch.sigmoid(self.linear({scaled})).squeeze(-1)

model = Net()
optimizer = torch.optim.{optimizer}(model.parameters(), lr={lr})
criterion = nn.BCELoss()
for step in range(500):
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
submit(model)
"""

RINGS = """
import torch
import torch.nn as nn
from gradekit import load_training_data, submit

x, y = load_training_data()
model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3){tail})
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
criterion = nn.CrossEntropyLoss()
for step in range({steps}):
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
submit(model)
"""

DEAD = """
with torch.no_grad():
    for layer in model:
        if isinstance(layer, nn.Linear) and layer.out_features == 32:
            layer.bias.fill_(-50.0)
"""

HALF_DEAD = """
with torch.no_grad():
    model[0].bias[:20].fill_(-50.0)
"""

TWO_OPTIMIZERS = """
import torch
import torch.nn as nn
from gradekit import load_training_data, submit

x, y = load_training_data()
body, head = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh()), nn.Linear(32, 1)
model = nn.Sequential(body, head)
first, second = torch.optim.Adam(body.parameters(), lr=1e-2), torch.optim.Adam(head.parameters(), lr=1e-2)
for step in range(800):
    first.zero_grad()
    for p in head.parameters():
        p.grad = None  # zeroed by hand: just as good
    loss = nn.MSELoss()(model(x).squeeze(-1), y)
    loss.backward()
    first.step()
    second.step()
submit(model)
"""

DECLARED_ORDER = """
import torch
import torch.nn as nn
from gradekit import load_training_data, submit

x, y = load_training_data()

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(2, 32), nn.Linear(32, 32), nn.Linear(32, 1)
        self.act = nn.ReLU(inplace=True)  # declared last, used between the layers

    def forward(self, x):
        return self.fc3(self.act(self.fc2(self.act(self.fc1(x)))))

model = Net()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(800):
    optimizer.zero_grad()
    loss = nn.MSELoss()(model(x).squeeze(-1), y)
    loss.backward()
    optimizer.step()
submit(model)
"""

SUBMISSIONS: dict[str, tuple[str, str]] = {
    "clean": regression(),
    "two_optimizers": ("paraboloid", TWO_OPTIMIZERS),
    "declared_order": ("paraboloid", DECLARED_ORDER),
    "no_zero_grad": regression(zero="pass"),
    "tiny_lr": regression(optimizer="SGD", lr="1e-6"),
    "huge_lr": regression(optimizer="SGD", lr="50.0", model="nn.Linear(2, 1)"),
    "broadcast": regression(squeeze=""),
    "linear_stack": regression(model="nn.Sequential(nn.Linear(2, 32), nn.Linear(32, 32), nn.Linear(32, 1))"),
    "sigmoid_output": regression(
        model="nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 1), nn.Sigmoid())"
    ),
    "dead_relu": regression(
        model="nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))",
        zero="optimizer.zero_grad()" + DEAD.replace("\n", "\n    "),
    ),
    "half_dead": regression(
        model="nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1))", steps=100,
        zero="optimizer.zero_grad()" + HALF_DEAD.replace("\n", "\n    "),
    ),
    "exploding": regression(data="x = x * 1e4", optimizer="SGD", lr="1e-12", model="nn.Linear(2, 1)"),
    "vanishing": regression(
        model="nn.Sequential(nn.Linear(2, 16), " + "nn.Sigmoid(), nn.Linear(16, 16), " * 9 + "nn.Sigmoid(), nn.Linear(16, 1))",
        optimizer="SGD", lr="1e-2",
    ),
    "plateau": regression(model="nn.Sequential(nn.Linear(2, 1), nn.Tanh(), nn.Linear(1, 1))", steps=3000),
    "still_falling": regression(optimizer="SGD", lr="1e-2", steps=300),
    "overfit": regression(data="x, y = x[:4], y[:4]", steps=1500),
    "over_budget": regression(steps=60000, model="nn.Linear(2, 1)"),
    "threshold_raw": ("threshold-classifier", THRESHOLD.format(scaled="x", optimizer="SGD", lr="1e-2")),
    "threshold_scaled": (
        "threshold-classifier",
        THRESHOLD.format(scaled="(x - self.mean) / self.std", optimizer="Adam", lr="5e-2"),
    ),
    "rings_logits": ("concentric-circles", RINGS.format(tail="", steps=400)),
    # Short, so it fails: a passing run gets hints only.
    "rings_softmax": ("concentric-circles", RINGS.format(tail=", nn.Softmax(dim=1)", steps=3)),
}  # fmt: skip


@pytest.fixture(scope="module")
def reports(runner_config) -> dict[str, GradeReport]:
    def run(name: str) -> tuple[str, GradeReport]:
        slug, source = SUBMISSIONS[name]
        spec = find(slug)
        if name == "over_budget":
            spec = _with_steps(spec, 2000)
        hidden = datasets.hidden_set(spec, SECRET)
        submission = prepare_submission(f"{name}.py", source.encode())
        report = grade(
            spec, submission, hidden, [0], uid=runner_config.sandbox_uid, jobs_root=runner_config.jobs_dir
        )
        return name, report

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, SUBMISSIONS))


def _with_steps(spec, steps: int):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(spec, budget=replace(spec.budget, max_steps=steps))


def codes(report: GradeReport, *severities: str) -> set[str]:
    return {d.code for d in report.diagnoses if not severities or d.severity in severities}


def test_a_clean_run_gets_no_diagnosis(reports):
    report = reports["clean"]
    assert report.passed, report.message
    assert codes(report) == set(), [d.seen for d in report.diagnoses]
    # The held-out curve: the model's predictions on public validation points at sampled steps,
    # scored on the host; it falls as the model learns. Step 0 is the model before its first step.
    steps, values = report.chosen.result.training.curves["heldout/mse"]
    assert steps[:5] == [0, 1, 2, 3, 251] and steps[-1] == 800 and values[-1] < values[0] / 10  # 0: untrained


@pytest.mark.parametrize(
    "name, code, severity",
    [
        ("no_zero_grad", "gradients_not_zeroed", "error"),
        ("tiny_lr", "learning_rate_too_small", "warning"),
        ("huge_lr", "learning_rate_too_large", "error"),
        ("broadcast", "broadcast_shapes", "error"),
        ("linear_stack", "linear_model", "error"),  # no plane fits a paraboloid: the cause, not the shape
        ("sigmoid_output", "output_range", "error"),
        ("dead_relu", "constant_output", "error"),
        ("half_dead", "dead_relu", "warning"),
        ("exploding", "exploding_gradients", "warning"),
        ("vanishing", "vanishing_gradients", "warning"),
        ("plateau", "plateau", "hint"),
        ("still_falling", "underfitting", "hint"),
        ("overfit", "overfitting", "warning"),
        ("over_budget", "stopped_by_budget", "hint"),
        ("threshold_raw", "unnormalised_inputs", "warning"),
        ("threshold_scaled", "sigmoid_then_bce", "hint"),
        ("rings_softmax", "softmax_then_cross_entropy", "warning"),
    ],
)
def test_each_mistake_is_named_with_its_evidence(reports, name, code, severity):
    found = {d.code: d for d in reports[name].diagnoses}
    assert code in found, (name, sorted(found), reports[name].message)
    diagnosis = found[code]
    assert diagnosis.severity == severity
    assert any(ch.isdigit() for ch in diagnosis.seen), diagnosis.seen  # evidence carries numbers
    assert diagnosis.why and diagnosis.fix
    assert code not in codes(reports["clean"])


def test_a_passing_run_gets_hints_only(reports):
    # The same mistake as rings_softmax, trained long enough to pass anyway.
    scaled = reports["threshold_scaled"]
    assert scaled.passed and scaled.diagnoses, scaled.message  # else there is no hint to look at
    assert all(d.severity == "hint" for d in scaled.diagnoses)
    given = [d for r in reports.values() if r.passed for d in r.diagnoses]
    assert given, "no passing run got a diagnosis: nothing to check the severity of"
    assert all(d.severity == "hint" for d in given), [(d.code, d.severity) for d in given]


def test_uncommon_but_correct_code_is_not_flagged(reports):
    # Two optimizers, gradients zeroed by hand, an in-place ReLU declared after the last layer.
    for name in ("two_optimizers", "declared_order"):
        assert reports[name].passed, (name, reports[name].message)
        assert codes(reports[name]) == set(), (name, [d.seen for d in reports[name].diagnoses])


def test_clean_counterparts_are_not_flagged(reports):
    assert "unnormalised_inputs" not in codes(reports["threshold_scaled"])
    assert "softmax_then_cross_entropy" not in codes(reports["rings_logits"])
    assert codes(reports["rings_logits"], "error", "warning") == set()
    assert codes(reports["threshold_scaled"], "error", "warning") == set()


def test_overfitting_rests_on_the_held_out_curve(reports):
    overfit = {d.code: d for d in reports["overfit"].diagnoses}["overfitting"]
    assert "On public held-out points the MSE was best at step" in overfit.seen
    assert overfit.numbers["final"] > overfit.numbers["best"]


def test_the_evidence_points_at_the_students_line(reports):
    no_zero = {d.code: d for d in reports["no_zero_grad"].diagnoses}["gradients_not_zeroed"]
    assert no_zero.where == "no_zero_grad.py:15"  # the loss.backward() line that piled up gradients
    broadcast = {d.code: d for d in reports["broadcast"].diagnoses}["broadcast_shapes"]
    assert "[1000, 1]" in broadcast.seen and "[1000]" in broadcast.seen and "[1000, 1000]" in broadcast.seen


def test_a_model_left_on_the_cpu_beside_a_gpu():
    # No GPU on the test machines: the rule is checked on the evidence such a run would give.
    from grader.engine.diagnosis import diagnose
    from grader.engine.diagnosis.evidence import Evidence

    spec = find("paraboloid")
    left = Evidence(spec=spec, device="cuda", probes={"final_model": {"device": "cpu"}})
    moved = Evidence(spec=spec, device="cuda", probes={"final_model": {"device": "cuda"}})
    assert "ignores_device" in {d.code for d in diagnose(left)}
    assert "ignores_device" not in {d.code for d in diagnose(moved)}
    assert diagnose(Evidence(spec=spec, probes={"final_model": {"device": 7, "silent_relu": "x"}})) == []


@pytest.mark.parametrize(
    "junk",
    [None, 7, "x", [], {"a": "b"}, [[1, 2, 3]], {"mean": "x", "std": [None]}, float("nan"), [float("inf")]],
)
def test_forged_probes_give_no_diagnosis_and_no_crash(junk):
    # Probes come out of the sandbox: a student's code can forge them. They may mislead only
    # the student's own diagnoses, and must never break grading.
    from grader.engine.diagnosis import diagnose
    from grader.engine.diagnosis.evidence import Evidence

    spec = find("paraboloid")
    names = ["final_model", "first_layer_input", "loss/MSELoss", "missing_zero_grad"]
    probes = {name: junk if isinstance(junk, dict) else {"value": junk} for name in names}
    probes["final_model"] = {
        key: junk
        for key in (
            "linear_layers",
            "affine_deviation",
            "silent_relu",
            "chained_linear",
            "activations",
            "output_spread",
        )
    }
    probes["loss/MSELoss"] = {key: junk for key in ("cls", "prediction_shape", "target_shape", "reduction")}
    found = diagnose(
        Evidence(spec=spec, probes=probes, warnings=[{"message": junk, "file": junk, "line": junk}])
    )
    assert found == [], [d.code for d in found]


def test_a_loss_that_oscillates_at_a_high_level_is_a_learning_rate_too_large():
    import numpy as np

    from grader.engine.diagnosis import diagnose
    from grader.engine.diagnosis.evidence import Evidence

    spec = find("paraboloid")
    steps = np.arange(400)
    bouncing = np.where(steps % 2 == 0, 0.9, 0.1)  # each step overshoots to the other side
    loss_probe = {"loss/MSELoss": {"cls": "MSELoss", "prediction_shape": [256], "target_shape": [256]}}
    seen = Evidence(spec=spec, steps=400, loss_steps=steps, loss=bouncing, lr=3.0, probes=loss_probe)
    found = {d.code: d for d in diagnose(seen)}
    assert "jumped by a factor of 9.0" in found["learning_rate_too_large"].seen
    small_batches = {"loss/MSELoss": {**loss_probe["loss/MSELoss"], "prediction_shape": [1]}}
    noisy = Evidence(spec=spec, steps=400, loss_steps=steps, loss=bouncing, lr=3.0, probes=small_batches)
    assert "learning_rate_too_large" not in {d.code for d in diagnose(noisy)}  # batch noise, not the rate
    settled = Evidence(
        spec=spec, steps=400, loss_steps=steps, loss=np.linspace(1, 0.01, 400), lr=3.0, probes=loss_probe
    )
    assert "learning_rate_too_large" not in {d.code for d in diagnose(settled)}
