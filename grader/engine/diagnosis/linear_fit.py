"""The best a straight line (a plane, a linear boundary) does on the public validation set.

Before telling a student that their model has no hidden layer and that this is why it failed, the
grader checks that no straight line could pass this task at all: fitted on the very points it is
judged on, a linear model (least squares for regression; for classes, a logistic fit improved by a
seeded random search for accuracy, and a least-squares classifier, the better one kept) is about the
most a linear model could reach. Host-side numpy, milliseconds.
"""

from __future__ import annotations

import numpy as np

from grader.engine.rules import Grading, Task
from grader.engine.scoring import metric

STEPS = 400
RATE = 0.5
SEARCH = 600


def _design(inputs: np.ndarray) -> np.ndarray:
    x = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)
    spread = x.std(0)
    x = (x - x.mean(0)) / np.where(spread > 0, spread, 1.0)
    return np.hstack([x, np.ones((len(x), 1))])


def _softmax_regression(x: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """The logistic fit's weights (the likeliest straight boundaries)."""
    onehot = np.eye(classes)[labels]
    weights = np.zeros((x.shape[1], classes))
    for _ in range(STEPS):
        logits = x @ weights
        logits -= logits.max(1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(1, keepdims=True)
        weights -= RATE * x.T @ (probabilities - onehot) / len(x)
    return weights


def _most_accurate(x: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """A random search from the logistic fit for more accurate straight boundaries: where classes
    overlap, the likeliest boundary is not the most accurate one, and the claim that no straight line
    passes must not rest on a poor one. Seeded: the same points give the same answer."""
    rng = np.random.default_rng(0)
    best = weights
    hits = int(np.sum(np.argmax(x @ best, axis=1) == labels))
    scale = float(np.abs(weights).max()) + 1.0
    for i in range(SEARCH):
        candidate = best + rng.normal(0.0, scale * 0.5 * (1 - i / SEARCH) + 0.01, best.shape)
        found = int(np.sum(np.argmax(x @ candidate, axis=1) == labels))
        if found >= hits:
            best, hits = candidate, found
    return np.asarray(np.argmax(x @ best, axis=1), dtype=np.float64)


def _least_squares_classes(x: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    onehot = np.eye(classes)[labels]
    weights, *_ = np.linalg.lstsq(x, onehot, rcond=None)
    return np.asarray(np.argmax(x @ weights, axis=1), dtype=np.float64)


def best_linear(task: Task, grading: Grading, inputs: np.ndarray, targets: np.ndarray) -> float | None:
    """The metric of the best linear model on these points; None when it cannot be fitted."""
    y = np.asarray(targets, dtype=np.float64)
    if len(y) < 8 or len(inputs) != len(y) or not np.all(np.isfinite(y)):
        return None
    x = _design(inputs)
    if not np.all(np.isfinite(x)):
        return None
    if task.type == "regression":
        coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
        return metric(grading.metric, x @ coefficients, y, grading.floor, grading.cap)
    classes = task.classes if task.type == "multiclass" else 2
    labels = y.astype(np.int64)
    if labels.min() < 0 or labels.max() >= classes:
        return None
    searched = _most_accurate(x, labels, _softmax_regression(x, labels, classes))
    scores = [
        metric(grading.metric, predicted, y)
        for predicted in (searched, _least_squares_classes(x, labels, classes))
    ]
    lower_is_better = grading.full_marks_at < grading.zero_at
    return min(scores) if lower_is_better else max(scores)
