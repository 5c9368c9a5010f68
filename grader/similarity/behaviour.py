"""Behaviour similarity: how alike two trained models err (their fingerprints) and how alike their
training curves are. Two models trained apart share few of their errors; a copy run under the seed
it copied errs the same way on every point and draws the same loss curve, step for step."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from grader.engine.fingerprint import RIGHT

CURVE_TOLERANCE = 1e-4  # relative: a loss the same to four digits at a step is the same loss
ERROR_TOLERANCE = 1  # ten-thousandths of the targets' spread: the same error, give or take rounding


def errors_alike(left: dict[str, Any] | None, right: dict[str, Any] | None) -> float | None:
    """0..1: for regression, the share of points where both err by the same amount (with a floor of
    the errors' correlation); for classes, of the points either gets wrong, the share both get wrong
    the same way. None when the fingerprints cannot be compared."""
    if not left or not right or left.get("kind") != right.get("kind"):
        return None
    a, b = np.asarray(left.get("codes", []), np.int64), np.asarray(right.get("codes", []), np.int64)
    count = min(len(a), len(b))
    if count == 0:
        return None
    a, b = a[:count], b[:count]
    if left["kind"] == "classes":
        either = (a != RIGHT) | (b != RIGHT)
        return float(np.mean(a[either] == b[either])) if either.any() else None
    same = float(np.mean(np.abs(a - b) <= ERROR_TOLERANCE))
    if a.std() == 0 or b.std() == 0:
        return same
    correlation = float(np.corrcoef(a, b)[0, 1])
    # Squared: two models that both miss the same region correlate a little; a copy correlates fully.
    return max(same, max(correlation, 0.0) ** 2 if math.isfinite(correlation) else 0.0)


def curves_alike(
    left: tuple[list[int], list[float | None]] | None, right: tuple[list[int], list[float | None]] | None
) -> float | None:
    """0..1: of the steps both loss curves have, the share where the losses are the same."""
    if not left or not right:
        return None
    theirs = {s: v for s, v in zip(*right, strict=False) if v is not None}
    common = [(v, theirs[s]) for s, v in zip(*left, strict=False) if v is not None and s in theirs]
    if len(common) < 3:
        return None
    same = sum(abs(x - y) <= CURVE_TOLERANCE * max(abs(x), abs(y), 1e-12) for x, y in common)
    return same / len(common)


def behaviour_score(errors: float | None, curves: float | None) -> float | None:
    parts = [p for p in (errors, curves) if p is not None]
    return sum(parts) / len(parts) if parts else None


def combined_score(code: float, behaviour: float | None) -> float:
    """Either sign alone makes a pair stand out, both together more: 1 - (1 - code)(1 - behaviour)."""
    return 1 - (1 - code) * (1 - (behaviour or 0.0))
