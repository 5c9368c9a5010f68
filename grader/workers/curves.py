"""Series as the database keeps them: at most ~500 points, and plain JSON (no NaN)."""

from __future__ import annotations

import math
from typing import Any

MAX_CURVE_POINTS = 500


def downsample(steps: list[int], values: list[float | None]) -> tuple[list[int], list[float | None]]:
    """At most MAX_CURVE_POINTS points, keeping each bucket's minimum and maximum (spikes and dips survive)."""
    if len(steps) <= MAX_CURVE_POINTS:
        return steps, values
    buckets = MAX_CURVE_POINTS // 3  # up to three points a bucket: an odd one, the minimum, the maximum
    size = len(steps) / buckets
    keep: list[int] = []
    for b in range(buckets):
        indices = range(int(b * size), max(int((b + 1) * size), int(b * size) + 1))
        finite = [i for i in indices if values[i] is not None and math.isfinite(values[i] or 0.0)]
        odd = [i for i in indices if i not in finite]
        if odd:  # a NaN or an infinity is the most important point of a diverging run
            keep.append(odd[0])
        if finite:
            low = min(finite, key=lambda i: values[i] or 0.0)
            high = max(finite, key=lambda i: values[i] or 0.0)
            keep.extend(sorted({low, high}))
    keep = sorted(set(keep))
    return [steps[i] for i in keep], [values[i] for i in keep]


def _json_number(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def json_safe(value: Any) -> Any:
    """Plain JSON for the database: NaN and infinities (a diverging run's loss) become null."""
    if isinstance(value, float):
        return _json_number(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)
