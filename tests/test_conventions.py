"""Reading a model's outputs both ways, the best straight line, and how findings are ordered and pruned.

Host-side only (no sandbox): the numbers the diagnoses quote are computed here, from outputs on
public inputs against public targets.
"""

from __future__ import annotations

import numpy as np
import pytest

from grader.engine import conventions
from grader.engine.diagnosis import diagnose
from grader.engine.diagnosis.base import NO_KNOWN_MISTAKE, Diagnosis, stored_in_order, unexplained
from grader.engine.diagnosis.evidence import Evidence
from grader.engine.diagnosis.linear_fit import best_linear
from grader.engine.scoring import BadPredictions
from grader.engine.spec import SpecError, find, parse

RNG = np.random.default_rng(0)


def xor_points(n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    corners = RNG.integers(0, 2, (n, 2))
    return corners + RNG.normal(0, 0.15, (n, 2)), (corners[:, 0] ^ corners[:, 1]).astype(np.float64)


def test_probabilities_where_logits_are_read_are_explained_with_both_scores():
    spec = find("xor")
    _, labels = xor_points()
    probabilities = np.clip(labels * 0.9 + 0.05 + RNG.normal(0, 0.02, len(labels)), 0, 1)
    found = conventions.mismatch(spec.task, spec.grading, probabilities[:, None], labels)
    assert found is not None and found.reading == "probability" and found.gradable
    assert found.points_as_read == 0 and found.points_as_other == spec.points
    text = conventions.describe(found, spec.points)
    assert "all within [0, 1]" in text and "(0/100)" in text and "(100/100)" in text
    # Read that way, the hidden predictions give the classes the model meant.
    assert list(conventions.read("probability", np.array([0.2, 0.7]), spec.task)) == [0.0, 1.0]


def test_logits_where_probabilities_are_read_two_columns_and_class_numbers():
    threshold = find("threshold-classifier")
    labels = (RNG.random(300) > 0.5).astype(np.float64)
    logits = (labels * 2 - 1) * 3 + RNG.normal(0, 0.5, 300)
    found = conventions.mismatch(threshold.task, threshold.grading, logits, labels)
    assert found is not None and found.reading == "logit" and found.as_read is None  # unreadable as is
    xor = find("xor")
    _, xor_labels = xor_points(300)
    two = np.stack([-xor_labels, xor_labels], axis=1) + RNG.normal(0, 0.1, (300, 2))
    assert conventions.mismatch(xor.task, xor.grading, two, xor_labels).reading == "two_columns"  # type: ignore[union-attr]
    rings = find("concentric-circles")
    classes = RNG.integers(0, 3, 300).astype(np.float64)
    found = conventions.mismatch(rings.task, rings.grading, classes + RNG.normal(0, 0.1, 300), classes)
    assert found is not None and found.reading == "class_index" and found.points_as_other == rings.points


def test_outputs_that_follow_the_assignment_are_left_alone():
    xor = find("xor")
    _, labels = xor_points(300)
    assert conventions.mismatch(xor.task, xor.grading, (labels * 2 - 1) * 4, labels) is None
    # Probabilities that are no better read as probabilities: no claim (a model that learnt nothing).
    assert conventions.mismatch(xor.task, xor.grading, np.full(300, 0.5), labels) is None
    with pytest.raises(BadPredictions):
        conventions.read("probability", np.array([0.5, 1.5]), xor.task)


def test_regression_outputs_on_another_scale():
    spec = find("paraboloid")
    targets = RNG.random(300) * 2
    standardised = (targets - targets.mean()) / targets.std()
    found = conventions.mismatch(spec.task, spec.grading, standardised, targets)
    assert found is not None and found.reading == "rescaled" and not found.gradable
    assert found.points_as_other == spec.points
    assert conventions.mismatch(spec.task, spec.grading, targets + 0.001, targets) is None


def test_the_best_straight_line_on_tasks_with_and_without_one():
    xor, threshold, linear = find("xor"), find("threshold-classifier"), find("linear")
    points, labels = xor_points()
    assert best_linear(xor.task, xor.grading, points, labels) < 0.8  # type: ignore[operator]
    rates = RNG.normal(92, 4, (400, 1))
    assert best_linear(threshold.task, threshold.grading, rates, (rates[:, 0] >= 91) * 1.0) > 0.97  # type: ignore[operator]
    x = RNG.random((100, 1)) * 10
    assert best_linear(linear.task, linear.grading, x, 2 * x[:, 0] + 1) < 1e-20  # type: ignore[operator]


def test_the_assignment_chooses_whether_to_grade_under_the_other_reading():
    xor = find("xor")
    assert xor.task.accept_other_reading is False
    text = xor.text.replace('output = "logit"', 'output = "logit"\naccept_other_reading = true')
    assert parse(text, "xor", lambda name: xor.files[name]).task.accept_other_reading is True
    paraboloid = find("paraboloid")
    text = paraboloid.text.replace('output = "value"', 'output = "value"\naccept_other_reading = true')
    with pytest.raises(SpecError, match="only a classification task"):
        parse(text, "paraboloid", lambda name: paraboloid.files[name])


def finding(code: str, severity: str = "warning") -> Diagnosis:
    return Diagnosis(code, severity, code, "seen 1", "why", "fix")


def test_the_most_likely_cause_comes_first_and_what_it_makes_moot_goes(monkeypatch):
    from grader.engine.diagnosis import base

    produced = [
        finding("plateau", "hint"),
        finding("constant_output", "error"),
        finding("mse_for_classification"),
        finding("dead_relu"),
        finding("underfitting", "hint"),
    ]
    monkeypatch.setattr(base, "RULES", [lambda e, d=d: d for d in produced])
    monkeypatch.setattr("grader.engine.diagnosis.RULES", base.RULES)
    found = [d.code for d in diagnose(Evidence(spec=find("xor")))]
    # A warned-of cause before an error's symptom; dead units and the plateau are moot once the model is
    # known to answer the same for every input; "still falling" and "stopped long ago" never both.
    assert found == ["mse_for_classification", "constant_output"]


def test_stored_findings_keep_the_engines_order_and_failing_runs_are_never_left_silent():
    stored = [
        {"code": "b", "severity": "hint"},
        {"code": "a", "severity": "warning"},
        {"code": "c", "severity": "error"},
        {"code": "x", "severity": "nonsense"},
        "junk",
    ]
    assert [d["code"] for d in stored_in_order(stored)] == ["a", "c", "b"]
    assert unexplained("scored", False, ["hint"]) and not unexplained("scored", True, [])
    assert not unexplained("scored", False, ["warning"]) and not unexplained("syntax_error", False, [])
    assert NO_KNOWN_MISTAKE.startswith("No known mistake found")


@pytest.mark.parametrize(
    "message, code",
    [
        ("ModuleNotFoundError: No module named 'wandb'", "missing_package"),
        ("URLError: <urlopen error [Errno -3] Temporary failure in name resolution>", "no_network"),
        (
            "TypeError: ReduceLROnPlateau.__init__() got an unexpected keyword argument 'verbose'",
            "removed_api",
        ),
        ("AttributeError: module 'torch' has no attribute 'lstsq_old'", "removed_api"),
        ("ModuleNotFoundError: No module named 'torch._six'", "removed_api"),
        (
            "RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn",
            "loss_not_connected",
        ),
    ],
)
def test_errors_the_sandbox_explains(message, code):
    evidence = Evidence(
        spec=find("paraboloid"),
        failure={"kind": "runtime_error", "message": message},
        torch_version="2.13.0+cpu",
    )
    found = {d.code: d for d in diagnose(evidence)}
    assert list(found) == [code], list(found)
    if code == "removed_api":
        assert "torch 2.13.0" in found[code].title
    if code == "missing_package":
        assert "tqdm" in found[code].why and "wandb" in found[code].title


def test_a_model_that_trained_nothing_is_told_why_with_the_line():
    spec = find("linear")
    base_probe = {"parameters": 2, "remembered": 2, "changed": 0, "in_optimizer": 2, "models_seen": 1}
    line = {"file": "/workspace/fit.py", "line": 12, "step": 0}

    def codes(counters: dict[str, int], **probe: object) -> list[str]:
        evidence = Evidence(
            spec=spec, steps=counters.get("steps", 0), counters=counters,
            probes={"training": {**base_probe, "step_at": line, "backward_at": line, "created_at": line, **probe}},
        )  # fmt: skip
        return [d.code for d in diagnose(evidence)]

    assert codes({"steps": 50, "backward": 0}) == ["no_backward"]
    assert codes({"steps": 0, "backward": 50}) == ["no_optimizer_step"]
    assert codes({"steps": 50, "backward": 50}, in_optimizer=0) == ["optimizer_not_on_model"]
    assert codes({"steps": 50, "backward": 50}, steps_without_grad=50) == ["loss_not_connected"]
    # A graded model that never ran in training is untrained only if it does no better than the model
    # training started from (a deepcopy of the best epoch is a trained model that never ran either).
    x = np.linspace(0, 10, 64)[:, None]
    start = np.array([170.0])  # the held-out MSE after the first step

    def fresh(outputs: np.ndarray) -> list[str]:
        evidence = Evidence(
            spec=spec, steps=50, counters={"steps": 50, "backward": 50}, inputs=x, targets=2 * x[:, 0] + 1,
            outputs=outputs, heldout_steps=np.array([1]), heldout=start,
            probes={"training": {**base_probe, "remembered": 0}},
        )  # fmt: skip
        return [d.code for d in diagnose(evidence)]

    assert fresh(np.full(64, 0.3)) == ["untrained_model_submitted"]
    assert fresh(2 * x[:, 0] + 1.01) == []
    assert codes({"steps": 50, "backward": 50}, changed=2) == []  # it trained: none of these

    def recreated(name: str, stateful: bool) -> list[tuple[str, str, str]]:
        made = {
            "changed": 2,
            "optimizers_created": 50,
            "optimizer": name,
            "stateful": stateful,
            "created_at": line,
        }
        evidence = Evidence(
            spec=spec, steps=50, counters={"steps": 50}, probes={"training": {**base_probe, **made}}
        )
        return [(d.code, d.severity, d.where) for d in diagnose(evidence)]

    assert recreated("Adam", True) == [("optimizer_recreated", "error", "fit.py:12")]
    assert recreated("SGD", False) == [("optimizer_recreated", "hint", "fit.py:12")]  # SGD keeps no state
