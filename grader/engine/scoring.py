"""Metrics and points, computed on the host from checked predictions."""

from __future__ import annotations

import math

import numpy as np

from grader.engine.rules import Grading, Task


class BadPredictions(ValueError):
    pass


def check_predictions(predictions: np.ndarray, count: int, task: Task | None = None) -> np.ndarray:
    """What the model predicts, checked against the task's output convention.

    Regression: a float64 vector of values. Classification: the predicted class of each
    input (0/1 for binary, 0..K-1 for multi-class). Anything else raises a message saying
    what is wrong and what was expected.
    """
    task = task or Task("regression", "value")
    if predictions.dtype.kind not in "fiu":
        raise BadPredictions(f"your model returned {predictions.dtype} values; it must return numbers")
    shape = tuple(predictions.shape)
    if task.type == "multiclass":
        if shape != (count, task.classes):
            raise BadPredictions(
                f"your model returned shape {list(shape)} for {count} inputs; expected [{count}, "
                f"{task.classes}]: one score (a logit or a probability) per class"
            )
        values = predictions.astype(np.float64)
    elif shape not in ((count,), (count, 1)):
        raise BadPredictions(
            f"your model returned shape {list(shape)} for {count} inputs; expected [{count}, 1] or [{count}]"
        )
    else:
        values = predictions.reshape(count).astype(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        nan, inf = int(np.isnan(values).sum()), int(np.isinf(values).sum())
        raise BadPredictions(
            f"{nan} NaN and {inf} infinite values among {values.size} predictions; the training probably "
            "diverged (try a smaller learning rate)"
        )
    if task.type == "multiclass":
        return np.asarray(np.argmax(values, axis=1), dtype=np.float64)
    if task.output == "probability":
        low, high = float(values.min(initial=0.0)), float(values.max(initial=1.0))
        if low < -1e-6 or high > 1 + 1e-6:
            raise BadPredictions(
                f"your model returned values from {low:.3g} to {high:.3g}, but this assignment asks for a "
                "probability in [0, 1]: end forward() with torch.sigmoid(...) (and train with BCELoss), "
                "or keep the logits for BCEWithLogitsLoss and apply the sigmoid only in forward()"
            )
        return (values >= 0.5).astype(np.float64)
    if task.output == "logit":
        return (values >= 0.0).astype(np.float64)
    return values


def metric(
    name: str, predictions: np.ndarray, targets: np.ndarray, floor: float = 0.0, cap: float | None = None
) -> float:
    error = predictions - targets
    if name == "mse":
        return float(np.mean(error**2))
    if name == "mae":
        return float(np.mean(np.abs(error)))
    if name == "max_error":
        return float(np.max(np.abs(error)))
    if name == "relative_error":
        relative = np.abs(error) / np.maximum(np.abs(targets), max(floor, 1e-12))
        return float(np.mean(relative if cap is None else np.minimum(relative, cap)))
    if name == "r2":
        total = float(np.sum((targets - targets.mean()) ** 2))
        return 1.0 - float(np.sum(error**2)) / total if total > 0 else 0.0
    if name == "accuracy":
        return float(np.mean(predictions == targets))
    if name == "macro_f1":
        scores = []
        for label in np.unique(targets):
            tp = float(np.sum((predictions == label) & (targets == label)))
            fp = float(np.sum((predictions == label) & (targets != label)))
            fn = float(np.sum((predictions != label) & (targets == label)))
            scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0)
        return float(np.mean(scores))
    raise ValueError(f"unknown metric {name!r}")


SHOWN_DIGITS = 2


def disclosed(value: float, grading: Grading) -> float:
    """The metric as students see it: to SHOWN_DIGITS significant digits unless the spec says exact.

    One hidden target moves a mean over thousands of points by far less than that, so scores
    differenced across submissions (or a sweep's runs) tell little about any one target.
    """
    if grading.disclosure == "exact" or not math.isfinite(value) or value == 0:
        return value
    return float(f"{value:.{SHOWN_DIGITS - 1}e}")


def points(value: float, grading: Grading) -> float:
    """Full marks at or beyond ``full_marks_at``, zero at or beyond ``zero_at``, the rule between.

    Log-linear by default for errors, because errors span decades: 1e-2 is halfway
    between 1e-3 and 1e-1. Linear for accuracy, F1 and R².
    """
    full, zero, maximum = grading.full_marks_at, grading.zero_at, grading.points
    lower_is_better = full < zero
    if (value <= full) if lower_is_better else (value >= full):
        return maximum
    if grading.rule == "all-or-nothing" or ((value >= zero) if lower_is_better else (value <= zero)):
        return 0.0
    if grading.rule == "log-linear" and value > 0:
        fraction = (math.log(zero) - math.log(value)) / (math.log(zero) - math.log(full))
    else:
        fraction = (value - zero) / (full - zero)
    return round(maximum * fraction, 2)


LABELS = {"relative_error": "Relative error", "max_error": "Max error", "macro_f1": "Macro-F1", "r2": "R²"}


def metric_label(name: str) -> str:
    """How a metric is named to people: MSE, MAE, Accuracy, Relative error..."""
    return LABELS.get(name, name.upper() if len(name) <= 3 else name.capitalize())
