"""Words for the fitted-model chart: its caption, for everyone and for screen readers."""

from __future__ import annotations

import math
from typing import Any


def _finite(values: Any) -> list[tuple[int, float]]:
    if not isinstance(values, list):
        return []
    return [(i, float(v)) for i, v in enumerate(values) if isinstance(v, (int, float)) and math.isfinite(v)]


def _point(payload: dict[str, Any], index: int) -> str:
    axes = payload["axes"]
    if len(axes) == 1:
        return f"{axes[0]['name']} = {axes[0]['values'][index]:.3g}"
    ny = len(axes[1]["values"])
    i, j = divmod(index, ny)
    return f"{axes[0]['name']} = {axes[0]['values'][i]:.3g}, {axes[1]['name']} = {axes[1]['values'][j]:.3g}"


def fit_caption(payload: dict[str, Any]) -> str:
    """One or two sentences: how far the model is from the truth over the domain, and where the worst is."""
    kind = payload.get("kind")
    names = " and ".join(str(a.get("name")) for a in payload.get("axes", []))
    if kind == "regions":
        predicted = [round(v) for _, v in _finite(payload.get("prediction"))]
        if not predicted:
            return ""
        shares = ", ".join(
            f"class {c}: {100 * predicted.count(c) / len(predicted):.0f}%" for c in sorted(set(predicted))
        )
        return f"Decision regions of your model over {names} (share of the domain per class: {shares})."
    truth, prediction = _finite(payload.get("truth")), dict(_finite(payload.get("prediction")))
    pairs = [(i, prediction[i] - t) for i, t in truth if i in prediction]
    if not pairs:
        return f"Your model's predictions over {names}; the truth is not known at every point of this domain."
    if payload.get("task") != "regression":
        wrong = sum(1 for _, e in pairs if e != 0)
        return f"Your model's class over {names}: wrong on {100 * wrong / len(pairs):.0f}% of the domain."
    rms = math.sqrt(sum(e * e for _, e in pairs) / len(pairs))
    worst, error = max(pairs, key=lambda p: abs(p[1]))
    shape = "curve" if kind == "line" else "heat map of the error (prediction − truth)"
    return (
        f"A {shape} over {names}: root-mean-square error {rms:.3g} over the whole domain; "
        f"the largest, {error:+.3g}, at {_point(payload, worst)}."
    )
