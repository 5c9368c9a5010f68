"""A diagnosis: what was seen (with its numbers or line of code), why it matters, and the fix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .evidence import Evidence

SEVERITIES = ("error", "warning", "hint")  # error: a bug that explains a poor result; hint: advice


@dataclass(frozen=True)
class Diagnosis:
    code: str
    severity: str
    title: str
    seen: str  # the evidence, in numbers or a line of code
    why: str
    fix: str
    where: str = ""  # file.py:line in the student's code, when known
    numbers: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def stored_in_order(raw: Any) -> list[dict[str, Any]]:
    """A result's stored diagnoses as shown (pages, API, exports): as the engine ordered them, the most
    likely cause first, hints last; anything malformed left out."""
    found = [d for d in raw or [] if isinstance(d, dict) and d.get("severity") in SEVERITIES]
    return sorted(found, key=lambda d: d["severity"] == "hint")


# Said, on the result page and by ``grader run``, of a failing run that no rule explains.
NO_KNOWN_MISTAKE = (
    "No known mistake found: none of the grader's checks recognised a classic training mistake in this run. "
    "Compare what your model returns with the assignment's description, and look at the loss curve."
)


def unexplained(verdict: str, passed: bool, severities: list[str]) -> bool:
    """A run that trained and fell short, with no error or warning to say why: it is said so, honestly."""
    return (
        not passed and verdict in ("scored", "bad_predictions") and not {"error", "warning"} & set(severities)
    )


Rule = Callable[[Evidence], "Diagnosis | None"]
RULES: list[Rule] = []

# The most likely cause first: a mistake that by itself explains the result comes before what it
# brings about (a model that never trained also has a flat loss; that is not the news). Causes, then
# symptoms (a constant output, dead units, a plateau), whose fixes depend on the cause.
RANK = (
    "untrained_model_submitted", "no_backward", "no_optimizer_step", "optimizer_not_on_model",
    "loss_not_connected", "missing_package", "no_network", "removed_api", "misspelled_name", "output_convention",
    "scaling_outside_model", "output_scale", "broadcast_shapes", "linear_model", "gradients_not_zeroed",
    "optimizer_recreated", "learning_rate_too_large", "dead_output", "output_range", "softmax_then_cross_entropy",
    "sigmoid_then_cross_entropy", "mse_for_classification", "unnormalised_inputs", "learning_rate_too_small",
    "linear_stack", "vanishing_gradients", "exploding_gradients", "sweep_settings_ignored", "ignores_device",
    "constant_output", "dead_relu", "overfitting", "sigmoid_then_bce", "underfitting", "plateau",
    "stopped_by_budget",
)  # fmt: skip
# Findings that a cause makes beside the point, or wrong as advice, once that cause is found.
_UNTRAINED = {
    "learning_rate_too_small", "learning_rate_too_large", "plateau", "underfitting", "constant_output",
    "dead_relu", "vanishing_gradients", "exploding_gradients", "overfitting", "gradients_not_zeroed",
    "linear_model", "linear_stack", "output_convention", "output_scale",
}  # fmt: skip
# What training looked like, beside the point once the model is known to be read or fed wrongly.
_SECONDARY = {
    "constant_output", "output_range", "overfitting", "plateau", "underfitting", "dead_relu",
    "vanishing_gradients", "exploding_gradients",
}  # fmt: skip
SUPERSEDES: dict[str, set[str]] = {
    "untrained_model_submitted": _UNTRAINED,
    "no_backward": _UNTRAINED,
    "no_optimizer_step": _UNTRAINED,
    "optimizer_not_on_model": _UNTRAINED,
    "loss_not_connected": _UNTRAINED,
    "output_convention": _SECONDARY,
    "output_scale": _SECONDARY,
    "scaling_outside_model": {
        "unnormalised_inputs", "overfitting", "constant_output", "dead_relu", "output_range", "output_scale",
        "plateau", "underfitting", "sigmoid_then_bce",
    },
    "broadcast_shapes": {"constant_output", "plateau", "underfitting", "overfitting"},
    "linear_model": {
        "linear_stack", "dead_relu", "learning_rate_too_small", "plateau", "underfitting", "constant_output",
        "vanishing_gradients",
    },
    "constant_output": {"plateau", "underfitting", "dead_relu"},
    "output_range": {"constant_output", "plateau", "underfitting"},
    "dead_output": {"constant_output", "output_range", "plateau", "underfitting", "dead_relu"},
    "underfitting": {"plateau"},  # still falling at the end: "stopped improving long ago" is then wrong
}  # fmt: skip


def rule(function: Rule) -> Rule:
    """Register a rule: a function of the evidence that returns a diagnosis or None."""
    RULES.append(function)
    return function


def g(value: float) -> str:
    """A number as people read it: 3 significant digits, thousands separated."""
    if value != value:  # NaN
        return "NaN"
    if abs(value) >= 1e5 or (0 < abs(value) < 1e-3):
        return f"{value:.2e}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"
