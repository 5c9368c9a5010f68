"""Metrics and points, computed on the host from checked predictions."""

from __future__ import annotations

import math

import numpy as np


class BadPredictions(ValueError):
    pass


def check_predictions(predictions: np.ndarray, count: int) -> np.ndarray:
    """A regression model's predictions as a float64 vector, or a message saying what is wrong."""
    if predictions.dtype.kind not in "fiu":
        raise BadPredictions(f"your model returned {predictions.dtype} values; it must return numbers")
    shape = tuple(predictions.shape)
    if shape not in ((count,), (count, 1)):
        raise BadPredictions(
            f"your model returned shape {list(shape)} for {count} inputs; expected [{count}, 1] or [{count}]"
        )
    values = predictions.reshape(count).astype(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        nan, inf = int(np.isnan(values).sum()), int(np.isinf(values).sum())
        raise BadPredictions(
            f"{nan} NaN and {inf} infinite values among {count} predictions; the training probably "
            "diverged (try a smaller learning rate)"
        )
    return values


def metric(name: str, predictions: np.ndarray, targets: np.ndarray) -> float:
    error = predictions - targets
    if name == "mse":
        return float(np.mean(error**2))
    if name == "mae":
        return float(np.mean(np.abs(error)))
    if name == "max_error":
        return float(np.max(np.abs(error)))
    if name == "relative_error":
        return float(np.mean(np.abs(error) / np.maximum(np.abs(targets), 1e-12)))
    if name == "r2":
        total = float(np.sum((targets - targets.mean()) ** 2))
        return 1.0 - float(np.sum(error**2)) / total if total > 0 else 0.0
    raise ValueError(f"unknown metric {name!r}")


def points(value: float, full_marks_at: float, zero_at: float, maximum: float = 100.0) -> float:
    """Full marks at or beyond ``full_marks_at``, zero at or beyond ``zero_at``, log-linear between.

    Log-linear because errors span decades: 1e-2 is halfway between 1e-3 and 1e-1.
    For metrics where higher is better (R²) the interpolation is linear.
    """
    lower_is_better = full_marks_at < zero_at
    if (value <= full_marks_at) if lower_is_better else (value >= full_marks_at):
        return maximum
    if (value >= zero_at) if lower_is_better else (value <= zero_at):
        return 0.0
    if lower_is_better and full_marks_at > 0:
        fraction = (math.log(zero_at) - math.log(value)) / (math.log(zero_at) - math.log(full_marks_at))
    else:
        fraction = (value - zero_at) / (full_marks_at - zero_at)
    return round(maximum * fraction, 2)
