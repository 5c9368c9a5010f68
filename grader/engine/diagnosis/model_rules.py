"""Rules read off the model and what reached it: shapes, layers, inputs, output range, loss pairing."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from .base import Diagnosis, g, rule
from .evidence import STUDENT_DIR, Evidence, number, numbers, shape, text, where

AFFINE_TOLERANCE = 1e-4
WARNED_TARGET = re.compile(r"target size \(torch\.Size\(\[([\d, ]*)\]\)\)")
BROADCAST_WORDS = (
    "target size"  # torch's UserWarning: "Using a target size (...) that is different to the input size"
)


def _broadcast(prediction: list[int], target: list[int]) -> list[int] | None:
    """The shape the two broadcast to, when they differ and broadcasting makes it larger."""
    if not prediction or not target or prediction == target:
        return None
    try:
        out = list(np.broadcast_shapes(tuple(prediction), tuple(target)))
    except ValueError:
        return None
    return out if math.prod(out) > max(math.prod(prediction), math.prod(target)) else None


def _warned_target(warning: dict[str, Any] | None) -> list[int]:
    """The target's shape as torch's broadcast warning names it ("Using a target size (torch.Size([N]))")."""
    found = WARNED_TARGET.search(text(warning, "message")) if warning else None
    if found is None:
        return []
    return [int(v) for v in found.group(1).replace(" ", "").split(",") if v.isdigit()][:8]


@rule
def broadcast_shapes(e: Evidence) -> Diagnosis | None:
    warning = next((w for w in e.warnings if BROADCAST_WORDS in text(w, "message")), None)
    for loss in e.losses_probed:
        prediction, target = shape(loss, "prediction_shape"), shape(loss, "target_shape")
        combined = shape(loss, "broadcast_to")
        if combined:  # the loss broadcast the predictions: the targets' own shape is the warning's
            target = _warned_target(warning) or target
        else:
            combined = _broadcast(prediction, target) or []
        if not combined:
            continue
        line = where(warning) if warning and text(warning, "file").startswith(STUDENT_DIR) else ""
        return Diagnosis(
            "broadcast_shapes", "error", "Predictions and targets have different shapes",
            f"{text(loss, 'cls')} got predictions of shape {prediction} and targets of shape {target}; "
            f"they broadcast to {combined}, so every prediction is compared with every target.",
            "The loss is then minimised by predicting the average target for every input: the "
            "network cannot learn the function however long it trains.",
            "Make the shapes equal: squeeze the output (model(x).squeeze(-1)) or give the targets "
            "a second dimension (y.unsqueeze(-1)).",
            line, {"prediction_shape": prediction, "target_shape": target},
        )  # fmt: skip
    if warning is not None:
        return Diagnosis(
            "broadcast_shapes", "error", "Predictions and targets have different shapes",
            f"PyTorch warned: {text(warning, 'message').splitlines()[0][:200]}",
            "The loss compares every prediction with every target and learns only their average.",
            "Make the shapes equal: model(x).squeeze(-1), or y.unsqueeze(-1).",
            where(warning) if text(warning, "file").startswith(STUDENT_DIR) else "",
        )  # fmt: skip
    return None


def _chained(final: dict[str, Any]) -> list[list[str]]:
    pairs = final.get("chained_linear")
    if not isinstance(pairs, list):
        return []
    return [[str(a)[:60], str(b)[:60]] for a, b in (p for p in pairs if isinstance(p, list) and len(p) == 2)]


@rule
def linear_stack(e: Evidence) -> Diagnosis | None:
    final = e.final_model
    deviation, spread = number(final, "affine_deviation"), number(final, "output_spread")
    layers = int(number(final, "linear_layers") or 0)
    chained = _chained(final)
    if chained:
        links = "; ".join(f"{a} → {b}" for a, b in chained[:4])
        seen = (
            f"In training, Linear layers fed straight into each other with nothing in between: {links}. "
            "Whatever surrounds them, that stack computes a single linear map."
        )
    elif (
        deviation is not None
        and deviation <= AFFINE_TOLERANCE
        and layers >= 2
        and (spread or 0) > 1e-6
        and not final.get("activations")
        and not final.get("ops")  # F.relu, torch.tanh, x.sigmoid() in forward() are activations too
    ):
        seen = (
            f"The trained model has {layers} Linear layers and no activation, and "
            f"f(0.3·u + 0.7·v) = 0.3·f(u) + 0.7·f(v) holds to within {deviation:.0e}: it is one linear map."
        )
    else:
        return None
    return Diagnosis(
        "linear_stack", "warning", "Linear layers with no nonlinearity between them",
        seen,
        "A product of linear maps is linear, so the extra layers add nothing: the model can only "
        "draw a flat surface or a straight boundary.",
        "Put an activation after each hidden Linear layer: nn.ReLU(), nn.Tanh() or nn.SiLU().",
        numbers={"linear_layers": layers, "chained": chained[:4], "affine_deviation": deviation},
    )  # fmt: skip


@rule
def dead_relu(e: Evidence) -> Diagnosis | None:
    dead = {k: v for k, v in e.silent_relu.items() if v >= 0.5}
    if not dead or e.passed:
        return None
    name, share = max(dead.items(), key=lambda kv: kv[1])
    layer = f"layer {name} (a ReLU)" if name.isdigit() else name
    return Diagnosis(
        "dead_relu", "warning", "Many ReLU units are dead",
        f"In {layer}, {share:.0%} of the units output 0 for every input of a sampled batch.",
        "A dead ReLU has no gradient, so it never recovers: the layer works with fewer units "
        "than it has.",
        "Lower the learning rate, scale the inputs, or use nn.LeakyReLU / a Kaiming initialisation.",
        numbers={"layer": name, "silent_share": share},
    )  # fmt: skip


def _raw_inputs(e: Evidence, means: list[float]) -> bool:
    """Whether the first layer got the assignment's inputs as they are (so their names fit), not a
    transform of them (log(Re) is no longer "Re")."""
    if e.inputs is None or not len(e.inputs):
        return True
    raw = np.asarray(e.inputs, dtype=np.float64).reshape(len(e.inputs), -1).mean(0)
    return len(raw) == len(means) and all(
        abs(m - r) <= 0.5 * abs(r) + 1e-9 for m, r in zip(means, raw.tolist(), strict=True)
    )


@rule
def unnormalised_inputs(e: Evidence) -> Diagnosis | None:
    first = e.probes.get("first_layer_input", {})
    means, stds = numbers(first, "mean"), numbers(first, "std")
    lows, highs = numbers(first, "min"), numbers(first, "max")
    if not means or len(means) != len(stds):
        return None
    names = (
        e.input_names
        if len(means) == len(e.input_names) and _raw_inputs(e, means)
        else [f"feature {i} of what reached it" for i in range(len(means))]
    )
    problems = []
    for name, mean, std, low, high in zip(names, means, stds, lows or means, highs or means, strict=False):
        if abs(mean) > 4 * max(std, 1e-12) and abs(mean) > 2:
            problems.append(f"{name} has mean {g(mean)} but spread (std) only {g(std)}")
        elif max(abs(low), abs(high)) > 1e3:
            problems.append(f"{name} reaches {g(max(abs(low), abs(high)))}")
    positive = [s for s in stds if s > 0]
    if not problems and len(positive) > 1 and max(positive) / min(positive) > 1e3:
        problems.append(f"the features' spreads range from {g(min(positive))} to {g(max(positive))}")
    if not problems:
        return None
    layer = text(first, "layer") or "first"
    return Diagnosis(
        "unnormalised_inputs", "warning", "Inputs are not normalised",
        f"The {layer} layer received inputs where " + "; ".join(problems[:3]) + ".",
        "Large or off-centre inputs make the first layer's gradients huge for the weights and tiny "
        "for the bias (or the other way round): no single learning rate suits both, so training "
        "stalls or diverges.",
        "Standardise inside your model (subtract the training mean, divide by the standard deviation, "
        "stored with register_buffer), take a logarithm of quantities spanning decades, or start "
        "with nn.BatchNorm1d.",
        numbers={"mean": means[:8], "std": stds[:8]},
    )  # fmt: skip


def _unit_range(loss: dict[str, Any]) -> bool:
    """What the loss was given lay within [0, 1] at the first sampled step and the latest."""
    bounds = [
        b
        for k in ("prediction_min", "prediction_max", "last_min", "last_max")
        if (b := number(loss, k)) is not None
    ]
    return len(bounds) == 4 and min(bounds) >= 0.0 and max(bounds) <= 1.0


def _range_at_end(loss: dict[str, Any], e: Evidence | None = None) -> str:
    """The predictions' range as training ended: the final model's on public inputs when known."""
    if e is not None and e.outputs is not None and e.outputs.size:
        return f"from {g(float(e.outputs.min()))} to {g(float(e.outputs.max()))} at the end of training"
    low = next((v for k in ("last_min", "prediction_min") if (v := number(loss, k)) is not None), 0.0)
    high = next((v for k in ("last_max", "prediction_max") if (v := number(loss, k)) is not None), 0.0)
    step = number(loss, "last_step")
    at = f" at step {int(step):,}" if step else ""
    return f"from {g(low or 0.0)} to {g(high or 0.0)}{at}"


@rule
def loss_pairing(e: Evidence) -> Diagnosis | None:
    for loss in e.losses_probed:
        cls = text(loss, "cls")
        squashed = text(loss, "squashed_by")
        if cls == "CrossEntropyLoss" and squashed == "softmax" and loss.get("rows_sum_to_one") is not False:
            return Diagnosis(
                "softmax_then_cross_entropy", "warning", "Softmax is applied twice",
                "CrossEntropyLoss received rows that are already probabilities (each sums to 1): "
                "your model ends with a softmax.",
                "CrossEntropyLoss applies log-softmax itself; a second softmax flattens the scores and "
                "shrinks the gradients, so training is slow and never confident.",
                "Return the raw scores (logits) from forward(); the largest score is still the "
                "prediction.",
            )  # fmt: skip
        if cls == "CrossEntropyLoss" and squashed == "sigmoid":
            return Diagnosis(
                "sigmoid_then_cross_entropy", "warning", "A sigmoid before CrossEntropyLoss",
                f"CrossEntropyLoss received scores that all lay between 0 and 1 ({_range_at_end(loss, e)}): "
                "your model squashes its outputs (a sigmoid) before the loss.",
                "CrossEntropyLoss expects raw scores (logits) and applies the softmax itself; scores held "
                "between 0 and 1 can differ by at most 1, so the loss can never become confident and "
                "learns slowly.",
                "Remove the sigmoid (or softmax) at the end of forward() and return the raw scores.",
            )  # fmt: skip
        if cls == "MSELoss" and e.spec.task.classification:
            probabilities = bool(squashed) or _unit_range(loss)
            return Diagnosis(
                "mse_for_classification", "warning", "A classifier trained with the mean squared error",
                f"Training used MSELoss on {'probabilities' if probabilities else 'predictions'} "
                f"{_range_at_end(loss, e)}, for a {e.spec.task.type} classification.",
                "With a sigmoid, MSE's gradient vanishes exactly when a prediction is confidently wrong, so "
                "the model learns slowly or gets stuck; cross-entropy does not have that problem.",
                "Train with nn.BCEWithLogitsLoss() on the logits (binary) or nn.CrossEntropyLoss() on one "
                "score per class (multi-class).",
            )  # fmt: skip
        if cls == "BCELoss":
            before = text(loss, "output_module")
            return Diagnosis(
                "sigmoid_then_bce", "hint", "BCEWithLogitsLoss is the safer choice",
                f"Training used BCELoss on probabilities {_range_at_end(loss, e)}"
                f"{f' (the layer before it: {before})' if before else ''}.",
                "A sigmoid followed by BCELoss loses precision when the probability is close to 0 or "
                "1; BCEWithLogitsLoss computes the same loss from the logits, stably.",
                "Train with nn.BCEWithLogitsLoss() on the logits and apply torch.sigmoid only where a "
                "probability must be returned (the end of forward(), if the assignment asks for one).",
            )  # fmt: skip
    return None


# What the last operation of forward() bounds the output to (module or functional, by torch's name).
BOUNDED = {
    "sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "softmax": (0.0, 1.0), "relu": (0.0, math.inf),
    "softplus": (0.0, math.inf), "relu6": (0.0, 6.0), "hardtanh": (-1.0, 1.0), "hardsigmoid": (0.0, 1.0),
}  # fmt: skip


@rule
def output_range(e: Evidence) -> Diagnosis | None:
    last = text(e.final_model, "last_op") or text(e.final_model, "last_module").lower()
    if last not in BOUNDED or e.predictions is None or e.targets is None or e.spec.task.classification:
        return None
    low, high = BOUNDED[last]
    outside = (e.targets < low - 1e-6) | (e.targets > high + 1e-6)
    share = float(outside.mean()) if len(e.targets) else 0.0
    if share < 0.05:
        return None
    reach = f"between {g(low)} and {g(high)}" if math.isfinite(high) else f"at least {g(low)}"
    return Diagnosis(
        "output_range", "error", "The output layer cannot reach the targets",
        f"The model ends with {last}, so it predicts {reach}; {share:.0%} of the targets lie outside "
        f"(they range from {g(float(e.targets.min()))} to {g(float(e.targets.max()))}).",
        "No amount of training can produce a value the last layer cannot output.",
        "End a regression model with a plain nn.Linear (no activation after it), or rescale the "
        "output inside forward().",
        numbers={"last_module": last, "share_outside": share},
    )  # fmt: skip
