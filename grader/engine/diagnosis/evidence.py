"""What a diagnosis may rest on: one run's curves, counters, warnings and probes, read defensively.

Everything here came out of the sandbox, so it is a claim about the student's
own run, never trusted for the score; every value is type-checked before use
and a malformed one is simply absent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from grader.engine.conventions import final_outputs
from grader.engine.scoring import BadPredictions, check_predictions, metric
from grader.engine.spec import Assignment

STUDENT_DIR = "/workspace/"  # where the student's files are inside the sandbox (harness.__main__.WORKDIR)


def number(data: Any, key: str) -> float | None:
    value = data.get(key) if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def numbers(data: Any, key: str) -> list[float]:
    values = data.get(key) if isinstance(data, dict) else None
    if not isinstance(values, list):
        return []
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


def text(data: Any, key: str) -> str:
    value = data.get(key) if isinstance(data, dict) else None
    return value[:200] if isinstance(value, str) else ""


def shape(data: Any, key: str) -> list[int]:
    values = data.get(key) if isinstance(data, dict) else None
    if not isinstance(values, list) or len(values) > 8:
        return []
    return [v for v in values if isinstance(v, int) and not isinstance(v, bool) and v >= 0]


def where(data: Any) -> str:
    """``file.py:12`` for a probe that names a line of the student's code."""
    file, line = text(data, "file"), number(data, "line")
    return f"{PurePosixPath(file).name}:{int(line)}" if file and line is not None else ""


@dataclass
class Evidence:
    spec: Assignment
    steps: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    loss_steps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    loss: np.ndarray = field(default_factory=lambda: np.zeros(0))  # NaN where the loss was not finite
    lr: float | None = None
    grad_norms: dict[str, np.ndarray] = field(default_factory=dict)  # layer -> sampled norms, model order
    heldout_steps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    heldout: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the metric on public held-out points
    warnings: list[dict[str, Any]] = field(default_factory=list)
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)
    trained_reason: str = ""
    device: str = ""  # where the harness ran the student's code: cpu or cuda
    metric_value: float | None = None
    passed: bool = False
    predictions: np.ndarray | None = None  # checked regression values on the hidden set
    targets: np.ndarray | None = None  # public validation targets (never the hidden set's)
    inputs: np.ndarray | None = None  # public validation inputs, in the same order
    outputs: np.ndarray | None = None  # the final model's outputs on the first public inputs (the checks')
    failure: dict[str, Any] = field(default_factory=dict)  # the student's code failed: kind, message, ...
    torch_version: str = ""  # the sandbox's, said before the student's code ran

    @property
    def losses_probed(self) -> list[dict[str, Any]]:
        return [data for name, data in self.probes.items() if name.startswith("loss/")]

    @property
    def final_model(self) -> dict[str, Any]:
        return self.probes.get("final_model", {})

    @property
    def silent_relu(self) -> dict[str, float]:
        """Per ReLU layer of the final model, the share of its units silent on a sampled batch."""
        raw = self.final_model.get("silent_relu")
        if not isinstance(raw, dict):
            return {}
        return {
            str(k)[:60]: float(v)
            for k, v in raw.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }

    @property
    def input_names(self) -> list[str]:
        return [v.name for v in self.spec.inputs]


def graded_metric(e: Evidence) -> float | None:
    """The assignment's metric of the final model's outputs on the public inputs they were given for.

    None when there are no such outputs or the assignment cannot read them.
    """
    if e.outputs is None or e.targets is None or len(e.targets) < len(e.outputs):
        return None
    try:
        values = check_predictions(e.outputs, len(e.outputs), e.spec.task)
    except BadPredictions:
        return None
    grading = e.spec.grading
    return metric(
        grading.metric,
        values,
        np.asarray(e.targets[: len(e.outputs)], np.float64),
        grading.floor,
        grading.cap,
    )


def _finite(y: Any) -> float:
    if isinstance(y, bool) or not isinstance(y, (int, float)):
        return math.nan
    try:
        value = float(y)  # an int of 400 digits overflows here
    except OverflowError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def _series(curves: dict[str, Any], name: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = curves.get(name, ([], []))
    steps = np.asarray([x if isinstance(x, int) and 0 <= x < 2**62 else -1 for x in xs], dtype=np.int64)
    values = np.asarray([_finite(y) for y in ys], dtype=np.float64)
    return steps, values


def gather(
    spec: Assignment,
    training: Any,
    metric_value: float | None = None,
    passed: bool = False,
    predictions: np.ndarray | None = None,
    targets: np.ndarray | None = None,
    inputs: np.ndarray | None = None,
) -> Evidence:
    """The evidence of one run (``training`` is the runner's Training record)."""
    curves = training.curves or {}
    loss_steps, loss = _series(curves, "loss")
    lr_values = _series(curves, "lr")[1]
    grad_norms = {
        name.split("/", 1)[1]: _series(curves, name)[1] for name in curves if name.startswith("grad_norm/")
    }
    heldout_steps, heldout = _series(curves, f"heldout/{spec.metric}")
    counters = {k: int(v) for k, v in (training.counters or {}).items() if isinstance(v, int)}
    probes = {k: v for k, v in (training.probes or {}).items() if isinstance(k, str) and isinstance(v, dict)}
    trained = training.trained or {}
    return Evidence(
        spec=spec,
        steps=counters.get("steps", 0),
        counters=counters,
        loss_steps=loss_steps,
        loss=loss,
        lr=float(lr_values[-1]) if len(lr_values) and np.isfinite(lr_values[-1]) else None,
        grad_norms=grad_norms,
        heldout_steps=heldout_steps,
        heldout=heldout,
        warnings=[w for w in training.warnings or [] if isinstance(w, dict)],
        probes=probes,
        trained_reason=str(trained.get("reason", "")),
        device=text(training.started or {}, "device"),
        metric_value=metric_value,
        passed=passed,
        predictions=predictions,
        targets=targets,
        inputs=inputs,
        outputs=final_outputs(training),
        failure=dict(training.failure or {}),
        torch_version=text(training.hello or {}, "torch"),
    )
