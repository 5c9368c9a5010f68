"""A trained model's behaviour, kept small for the class similarity check: how it errs on fixed points.

Two good models agree with each other about as much as each agrees with the targets, so the raw
predictions say little; what a copy shares is its errors. The fingerprint is the chosen run's error
on the public part of the evaluation set (at most ``MAX_POINTS``), quantised, computed on the host
from predictions the scoring already checked (finite, the right count): bounded whatever the
sandbox sent.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.engine.rules import Task

MAX_POINTS = 256
LEVELS = 10_000  # a regression error in ten-thousandths of the targets' spread
CLIP = 32_767
RIGHT = -1  # a class prediction that is right (a wrong one keeps the class it predicted)


def behaviour_print(task: Task, values: np.ndarray | None, targets: np.ndarray) -> dict[str, Any] | None:
    """``{"kind": "errors" | "classes", "codes": [...]}`` of the checked ``values`` against the first
    targets (the public part), or None when there is nothing to compare."""
    if values is None or len(values) == 0 or len(values) != len(targets):
        return None
    count = min(MAX_POINTS, max(1, int(np.ceil(len(values) * 0.3))))
    predicted = np.asarray(values[:count], dtype=np.float64)
    truth = np.asarray(targets[:count], dtype=np.float64).reshape(count)
    if task.classification:
        classes = (predicted.argmax(axis=1) if predicted.ndim > 1 else predicted.reshape(count)).astype(
            np.int64
        )
        wrong = classes != truth.astype(np.int64)
        return {"kind": "classes", "codes": np.where(wrong, classes, RIGHT).tolist()}
    spread = float(np.std(truth)) or 1.0
    errors = np.clip(np.round((predicted.reshape(count) - truth) / spread * LEVELS), -CLIP, CLIP)
    return {"kind": "errors", "codes": errors.astype(np.int64).tolist()}
