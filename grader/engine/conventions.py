"""How a model's outputs are read, and when they clearly follow another convention than the assignment's.

A correct network scored 0 over a convention is the worst thing a grader can do to a beginner: a
model ending in ``nn.Sigmoid()`` on an assignment that reads logits (class 1 at ≥ 0) has every point
in class 1. So the outputs the model gave on the *public* validation inputs (sent by the checks on
the final model, before any hidden input) are read against the public targets both ways: as the
assignment reads them and under the other reading their values suggest. Where the other reading is
clearly what the model meant, the student is told with both numbers; where the assignment accepts
it (``[task] accept_other_reading``), the hidden set is read that way too.

Readings of classification outputs, by name:
``logit`` (class 1 at ≥ 0), ``probability`` (class 1 at ≥ 0.5), ``two_columns`` (two scores per
input, the larger wins), ``class_index`` (one value per input, rounded to the nearest class).
Regression outputs on another scale than the targets (a model trained on standardised targets) are
explained with the error a straight-line rescaling would give, never graded that way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grader.engine.rules import Grading, Task
from grader.engine.scoring import BadPredictions, check_predictions, metric, metric_label, points
from grader.engine.training import Training

CLEARLY_BETTER = 0.1  # the other reading beats the assignment's by at least this share of the points
WORDS = {
    "logit": "logits (class 1 when the output is ≥ 0)",
    "probability": "probabilities in [0, 1] (class 1 when the output is ≥ 0.5)",
    "scores": "one score per class (the largest wins)",
    "two_columns": "two scores per input (the larger wins)",
    "class_index": "one value per input, the class number (rounded to the nearest class)",
}


@dataclass(frozen=True)
class Mismatch:
    returned: str  # what the model returned, with its numbers
    expected: str  # what the assignment reads
    other: str  # the reading the outputs suggest
    reading: str  # its name (see the module's docstring); "rescaled" for regression
    as_read: float | None  # the metric on the public split read the assignment's way (None: unreadable)
    as_other: float
    points_as_read: float
    points_as_other: float
    metric_name: str
    gradable: bool  # a classification reading: the assignment may choose to grade under it


def _values(outputs: np.ndarray, count: int) -> np.ndarray | None:
    """One value per input, or None when the outputs are not [N] or [N, 1]."""
    if outputs.shape in ((count,), (count, 1)):
        return outputs.reshape(count).astype(np.float64)
    return None


def read(reading: str, outputs: np.ndarray, task: Task) -> np.ndarray:
    """The classes that ``outputs`` stand for under ``reading``; BadPredictions when they cannot."""
    count = len(outputs)
    if outputs.dtype.kind not in "fiu":
        raise BadPredictions(f"{outputs.dtype} values are not numbers")
    if not np.all(np.isfinite(outputs)):
        raise BadPredictions("NaN or infinite values among the predictions")
    if reading == "two_columns":
        if outputs.shape != (count, 2):
            raise BadPredictions(f"expected [{count}, 2] for two scores per input")
        return np.asarray(np.argmax(outputs, axis=1), dtype=np.float64)
    values = _values(outputs, count)
    if values is None:
        raise BadPredictions(f"expected [{count}] or [{count}, 1] for one value per input")
    if reading == "probability":
        if values.min(initial=0.0) < -1e-6 or values.max(initial=1.0) > 1 + 1e-6:
            raise BadPredictions("values outside [0, 1] are not probabilities")
        return (values >= 0.5).astype(np.float64)
    if reading == "logit":
        return (values >= 0.0).astype(np.float64)
    if reading == "class_index":
        return np.asarray(np.clip(np.rint(values), 0, max(task.classes - 1, 1)), dtype=np.float64)
    raise ValueError(f"unknown reading {reading!r}")


def _range(values: np.ndarray) -> str:
    return f"from {values.min():.3g} to {values.max():.3g}"


def _suggested(task: Task, outputs: np.ndarray) -> tuple[str, str] | None:
    """The reading the outputs' shape and values suggest when it is not the assignment's, and why."""
    count = len(outputs)
    values = _values(outputs, count)
    if task.type == "binary":
        if outputs.shape == (count, 2):
            return "two_columns", f"two columns per input, shape {list(outputs.shape)}"
        if values is None:
            return None
        if task.output == "logit" and values.min() >= 0.0 and values.max() <= 1.0:
            return "probability", f"values {_range(values)}, all within [0, 1]: probabilities"
        if task.output == "probability" and (values.min() < -1e-6 or values.max() > 1 + 1e-6):
            return "logit", f"values {_range(values)}, outside [0, 1]: not probabilities"
        return None
    if task.type == "multiclass" and values is not None:
        return "class_index", f"one value per input ({_range(values)}) instead of {task.classes} scores"
    return None


def mismatch(task: Task, grading: Grading, outputs: np.ndarray, targets: np.ndarray) -> Mismatch | None:
    """The public outputs read both ways; a Mismatch only when the other reading is clearly better."""
    outputs = np.asarray(outputs, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)[: len(outputs)]
    if len(outputs) < 8 or len(targets) != len(outputs) or not np.all(np.isfinite(outputs)):
        return None
    if task.type == "regression":
        return _rescaled(grading, outputs, targets)
    suggested = _suggested(task, outputs)
    if suggested is None:
        return None
    reading, returned = suggested
    other_value = metric(grading.metric, read(reading, outputs, task), targets)
    as_read: float | None = None  # a multi-class assignment cannot read one value per input at all
    if task.type == "binary":
        try:
            as_read = metric(grading.metric, read(task.output, outputs, task), targets)
        except BadPredictions:
            pass
    points_read = points(as_read, grading) if as_read is not None else 0.0
    points_other = points(other_value, grading)
    if points_other - points_read < CLEARLY_BETTER * grading.points:
        return None
    expected = WORDS["scores"] if task.type == "multiclass" else WORDS[task.output]
    return Mismatch(
        returned, expected, WORDS[reading], reading, as_read, other_value, points_read, points_other,
        grading.metric, gradable=True,
    )  # fmt: skip


def _rescaled(grading: Grading, outputs: np.ndarray, targets: np.ndarray) -> Mismatch | None:
    """Regression outputs that a straight line maps onto the targets far better than they match them."""
    values = _values(outputs, len(outputs))
    if values is None or values.std() == 0 or targets.std() == 0:
        return None
    if abs(float(np.corrcoef(values, targets)[0, 1])) < 0.9:
        return None  # not the same quantity on another scale: a different problem
    slope, intercept = np.polyfit(values, targets, 1)
    scaled_off = abs(np.log(abs(slope) + 1e-12)) > np.log(1.5) or abs(intercept) > 0.5 * targets.std()
    if not scaled_off:
        return None
    as_read = metric(grading.metric, values, targets, grading.floor, grading.cap)
    fitted = metric(grading.metric, slope * values + intercept, targets, grading.floor, grading.cap)
    points_read, points_other = points(as_read, grading), points(fitted, grading)
    if points_other - points_read < CLEARLY_BETTER * grading.points:
        return None
    return Mismatch(
        f"values {_range(values)} (mean {values.mean():.3g}, spread {values.std():.3g})",
        f"values on the targets' own scale (here {_range(targets)}, mean {targets.mean():.3g}, "
        f"spread {targets.std():.3g})",
        f"your outputs × {slope:.3g} + {intercept:.3g}",
        "rescaled", as_read, fitted, points_read, points_other, grading.metric, gradable=False,
    )  # fmt: skip


def describe(found: Mismatch, points_max: float) -> str:
    """The numbers, as the diagnosis and the grading note say them."""
    label = metric_label(found.metric_name)
    as_read = (
        f"read as the assignment reads them they give {label} {found.as_read:.3g} ({found.points_as_read:g}/{points_max:g})"
        if found.as_read is not None
        else "the assignment cannot read them at all"
    )
    return (
        f"On the public validation split your model returned {found.returned}; the assignment reads "
        f"{found.expected}. {as_read[0].upper()}{as_read[1:]}; read as {found.other} they give {label} "
        f"{found.as_other:.3g} ({found.points_as_other:g}/{points_max:g})."
    )


def final_outputs(training: Training) -> np.ndarray | None:
    """The trained model's outputs on the first public validation inputs, from the checks after training.

    A claim of the sandbox's, like every record: it can only misdescribe the student's own model.
    """
    if training.final_outputs is None:
        return None
    try:
        outputs = np.asarray(training.final_outputs, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return None
    return outputs if outputs.ndim in (1, 2) and np.all(np.isfinite(outputs)) else None


def accepted_reading(
    task: Task, grading: Grading, training: Training, targets: np.ndarray | None
) -> str | None:
    """The convention to read the hidden predictions under: the other one, when the assignment accepts
    it and the public split shows that the model clearly follows it; None otherwise."""
    if not task.accept_other_reading or targets is None:
        return None
    outputs = final_outputs(training)
    found = mismatch(task, grading, outputs, targets) if outputs is not None else None
    return found.reading if found is not None and found.gradable else None


def checked(
    predictions: np.ndarray, count: int, task: Task, reading: str | None
) -> tuple[np.ndarray, str | None]:
    """The predictions checked and read (``scoring.check_predictions``), under ``reading`` when given and
    the hidden predictions read that way; with the reading actually used."""
    if reading is not None and len(predictions) == count:
        try:
            return read(reading, predictions, task), reading
        except BadPredictions:
            pass  # they do not read that way after all: the assignment's own reading decides
    return check_predictions(predictions, count, task), None
