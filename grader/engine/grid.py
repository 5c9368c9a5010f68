"""A regular grid over an assignment's input domain, to show what a trained model learned.

For one input the model's curve is drawn against the truth; for two, a heat map
(regression) or the decision regions (classification). The grid's inputs go to
the sandbox with the evaluation inputs (inputs only, like every evaluation
point); the truth on it is computed here, on the host, and only when the target
is a function of the inputs alone (not of latent noise, not a data-file column).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.engine import expression
from grader.engine.fields import SpecError
from grader.engine.sampling import compute_targets
from grader.engine.spec import Assignment
from grader.engine.variables import Variable

POINTS_1D = 201
POINTS_2D = 41  # per axis: 1,681 predictions, a few milliseconds of inference
MAX_SHOWN_POINTS = 300  # public validation points drawn over decision regions


@dataclass(frozen=True)
class Axis:
    name: str
    unit: str
    values: np.ndarray  # float64, ascending
    log: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "values": self.values.tolist(), "log": self.log}


@dataclass(frozen=True)
class Grid:
    axes: tuple[Axis, ...]
    inputs: np.ndarray  # float32 [M, d]: row-major over the axes (the last axis varies fastest)
    inside: np.ndarray  # bool [M]: the point satisfies the spec's constraints
    truth: np.ndarray | None  # float64 [M] (class numbers for classification), or None when unknown


def _axis(variable: Variable, observed: np.ndarray | None, points: int) -> Axis | None:
    if variable.distribution == "choice":
        return Axis(variable.name, variable.unit, np.unique(np.asarray(variable.values, dtype=np.float64)))
    low, high = variable.low, variable.high
    if variable.distribution == "normal":
        low = variable.mean - 3 * variable.std if low is None else low
        high = variable.mean + 3 * variable.std if high is None else high
    if (low is None or high is None) and observed is not None and observed.size:
        low, high = float(np.min(observed)), float(np.max(observed))
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return None
    if variable.distribution == "log-uniform":
        return Axis(variable.name, variable.unit, np.geomspace(low, high, points), log=True)
    return Axis(variable.name, variable.unit, np.linspace(low, high, points))


def domain_grid(spec: Assignment, public_inputs: np.ndarray | None = None) -> Grid | None:
    """The grid for a one- or two-input assignment; None when there is nothing sensible to draw.

    ``public_inputs`` (the public validation inputs) give the range of inputs that declare none
    (data-file columns, inputs computed from latent variables).
    """
    inputs = spec.inputs
    if len(inputs) not in (1, 2):
        return None
    points = POINTS_1D if len(inputs) == 1 else POINTS_2D
    axes = []
    for i, variable in enumerate(inputs):
        observed = public_inputs[:, i] if public_inputs is not None and public_inputs.ndim == 2 else None
        axis = _axis(variable, observed, points)
        if axis is None:
            return None
        axes.append(axis)
    mesh = np.meshgrid(*(a.values for a in axes), indexing="ij")
    values = {a.name: m.reshape(-1) for a, m in zip(axes, mesh, strict=True)}
    size = mesh[0].size
    return Grid(
        tuple(axes),
        np.stack([values[v.name] for v in inputs], axis=1).astype(np.float32),
        _inside(spec, values, size),
        _truth(spec, values, size),
    )


def _inside(spec: Assignment, values: dict[str, np.ndarray], size: int) -> np.ndarray:
    keep = np.ones(size, dtype=bool)
    for text in spec.constraints:
        try:
            tree = expression.parse(text, set(values))
        except expression.ExpressionError:
            continue  # a constraint on latent variables: every input is possible
        with np.errstate(all="ignore"):
            keep &= np.broadcast_to(expression.evaluate(tree, values).astype(bool), (size,))
    return keep


def _truth(spec: Assignment, values: dict[str, np.ndarray], size: int) -> np.ndarray | None:
    if spec.data.file is not None or (spec.target.expression is None and spec.target.function is None):
        return None
    try:
        with np.errstate(all="ignore"):
            truth = compute_targets(spec, values, size)
    except (SpecError, expression.ExpressionError, KeyError, TypeError, ValueError):
        return None  # the target depends on latent variables: no single truth at a point
    return truth if np.all(np.isfinite(truth)) else None


def _finite_or_none(values: np.ndarray, keep: np.ndarray) -> list[float | None]:
    return [float(v) if k and math.isfinite(v) else None for v, k in zip(values.tolist(), keep, strict=True)]


def fit_view(
    spec: Assignment,
    grid: Grid,
    predicted: np.ndarray,
    public_points: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """What the result page draws: the grid, the model's checked predictions on it and the truth.

    ``predicted`` are the checked predictions (values, or class numbers for classification).
    Points outside the constraints are None (drawn as gaps). For classification the public
    validation points (public: students have them) are drawn over the regions.
    """
    task = spec.task
    kind = "line" if len(grid.axes) == 1 else ("regions" if task.classification else "heatmap")
    view: dict[str, Any] = {
        "kind": kind,
        "task": task.type,
        "classes": task.classes if task.type == "multiclass" else (2 if task.classification else 0),
        "target": spec.target.name,
        "axes": [a.as_dict() for a in grid.axes],
        "prediction": _finite_or_none(predicted.astype(np.float64), grid.inside),
        "truth": _finite_or_none(grid.truth, grid.inside) if grid.truth is not None else None,
    }
    if kind == "heatmap" and grid.truth is not None:
        view["error"] = _finite_or_none(predicted.astype(np.float64) - grid.truth, grid.inside)
    if kind == "regions" and public_points is not None:
        inputs, labels = public_points
        shown = slice(0, MAX_SHOWN_POINTS)
        view["points"] = {
            "x": inputs[shown, 0].astype(np.float64).tolist(),
            "y": inputs[shown, 1].astype(np.float64).tolist(),
            "label": labels[shown].astype(np.float64).tolist(),
        }
    return view
