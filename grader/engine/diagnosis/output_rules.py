"""Rules read off what the trained model returns on public validation inputs, against the public targets.

The final model's outputs on the first public validation inputs come from the checks the harness
runs after training, before any hidden input (``runner/conventions.final_outputs``). They show a
correct model read under the wrong convention, outputs on another scale than the targets, a model
that answers the same for every input, inputs scaled outside the model in training but not at
evaluation, and a straight line where no straight line can do.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from grader.engine import conventions
from grader.engine.scoring import BadPredictions, metric_label, points

from .base import Diagnosis, g, rule
from .evidence import Evidence, graded_metric, number, numbers, shape, text
from .linear_fit import best_linear

AFFINE_TOLERANCE = 1e-4
LOGIT_TOLERANCE = 1e-3  # a float32 sigmoid or softmax undone by a logarithm loses a little
NEARLY_CONSTANT = 0.05  # outputs spread less than this share of the targets' spread


def _targets(e: Evidence) -> np.ndarray | None:
    if e.outputs is None or e.targets is None or len(e.targets) < len(e.outputs):
        return None
    return np.asarray(e.targets[: len(e.outputs)], dtype=np.float64)


def _scaler(e: Evidence, of: str) -> str:
    """The name of the scikit-learn scaler that scaled the inputs (``of="inputs"``) or the targets."""
    found = e.probes.get("scalers", {}).get("found")
    if not isinstance(found, list) or e.inputs is None or e.targets is None:
        return ""
    x_mean = np.asarray(e.inputs, dtype=np.float64).reshape(len(e.inputs), -1).mean(0)
    y_mean = float(np.mean(e.targets))
    best: tuple[float, str] | None = None
    for item in found:
        if not isinstance(item, dict):
            continue
        name, center = text(item, "name"), numbers(item, "center")
        if not name.isidentifier() or not center:
            continue
        if of == "inputs" and len(center) == len(x_mean):
            distance = float(np.max(np.abs(np.asarray(center) - x_mean) / (np.abs(x_mean) + 1e-9)))
        elif of == "targets" and len(center) == 1:
            distance = abs(center[0] - y_mean) / (abs(y_mean) + 1e-9)
        else:
            continue
        if best is None or distance < best[0]:
            best = (distance, name)
    return best[1] if best is not None else ""


@rule
def output_convention(e: Evidence) -> Diagnosis | None:
    targets = _targets(e)
    if targets is None or e.outputs is None:
        return None
    found = conventions.mismatch(e.spec.task, e.spec.grading, e.outputs, targets)
    if found is None:
        return None
    if found.reading == "rescaled":
        return _rescaled(e, found)
    fix = {
        "probability": "Return the logits: drop the final sigmoid from forward() and train with "
        "nn.BCEWithLogitsLoss() (it applies the sigmoid itself).",
        "logit": "End forward() with torch.sigmoid(...) so that it returns probabilities (train with "
        "nn.BCELoss() on them, or keep BCEWithLogitsLoss on the logits and apply the sigmoid only when returning).",
        "two_columns": "Return one value per input: a single output unit (nn.Linear(..., 1)) trained with "
        "nn.BCEWithLogitsLoss(), with the sigmoid at the end if the assignment reads probabilities.",
        "class_index": f"Return {e.spec.task.classes} scores per input (nn.Linear(..., {e.spec.task.classes})) "
        "and train with nn.CrossEntropyLoss() on integer class labels; the largest score is the prediction.",
    }[found.reading]
    accepted = (
        " This assignment accepts that reading, so your hidden-set score was computed that way."
        if e.spec.task.accept_other_reading
        else " Your score counts the assignment's reading."
    )
    return Diagnosis(
        "output_convention", "error", "Your model returns another kind of output than the assignment reads",
        conventions.describe(found, e.spec.points),
        "The grader reads your model's outputs one fixed way; outputs meant another way are misread, and "
        "a model that learned the task can score nothing." + accepted,
        fix,
        numbers={"reading": found.reading, "as_read": found.as_read, "as_other": found.as_other,
                 "points_as_read": found.points_as_read, "points_as_other": found.points_as_other},
    )  # fmt: skip


def _trained_on_scaled_targets(e: Evidence) -> str:
    """The targets the loss was given in training, when clearly on another scale than the task's."""
    if e.targets is None or not len(e.targets):
        return ""
    y_mean, y_std = float(np.mean(e.targets)), float(np.std(e.targets))
    for loss in e.losses_probed:
        mean, std = number(loss, "target_mean"), number(loss, "target_std")
        if mean is None or std is None or std <= 0 or y_std <= 0:
            continue
        if math.prod(shape(loss, "target_shape")) < 30:
            continue  # a handful of targets says little about their scale
        if abs(mean - y_mean) > y_std or not 0.6 <= std / y_std <= 1 / 0.6:
            return (
                f" In training the loss got targets with mean {g(mean)} and spread {g(std)}; the task's have "
                f"mean {g(y_mean)} and spread {g(y_std)}."
            )
    return ""


def _rescaled(e: Evidence, found: conventions.Mismatch) -> Diagnosis | None:
    trained_on = _trained_on_scaled_targets(e)
    if not trained_on:
        return None  # the outputs are off for another reason (a model fitted to a few points, say)
    scaler = _scaler(e, "targets")
    fix = (
        f"Give the grader the way back: submit(model, outputs={scaler}.inverse_transform) (from gradekit), "
        "or undo the scaling at the end of forward()."
        if scaler
        else "If you scaled the targets for training, undo it at the end of forward() (y * std + mean, with "
        "std and mean stored by register_buffer), or give it to the grader: "
        "submit(model, outputs=lambda y: y * std + mean)."
    )
    return Diagnosis(
        "output_scale", "error", "Your model's outputs are on another scale than the targets",
        conventions.describe(found, e.spec.points) + trained_on,
        "The outputs follow the targets closely but on another scale, as a model trained on scaled targets "
        "does: the grader compares them with the targets as they are.",
        fix,
        numbers={"as_read": found.as_read, "as_other": found.as_other},
    )  # fmt: skip


def _one_answer(e: Evidence, targets: np.ndarray) -> str | None:
    """How the outputs answer the same for every input, in words; None when they do not."""
    assert e.outputs is not None
    task, outputs = e.spec.task, e.outputs
    if task.type == "regression":
        values = outputs.reshape(len(outputs), -1)[:, 0]
        if targets.std() > 0 and values.std() <= NEARLY_CONSTANT * targets.std():
            return (
                f"On {len(values)} public validation inputs your model's outputs stay within "
                f"{g(float(values.min()))} to {g(float(values.max()))} (spread {g(float(values.std()))}), while "
                f"the targets spread {g(float(targets.std()))} around {g(float(targets.mean()))}."
            )
        return None
    try:
        if task.type == "binary":
            classes = conventions.read(task.output, outputs, task)
        elif outputs.shape == (len(outputs), task.classes):
            classes = np.argmax(outputs, axis=1)
        else:
            return None  # not one score per class: output_convention says what they are
    except (BadPredictions, ValueError):
        return None
    values = np.unique(classes)
    if len(values) == 1 and len(np.unique(targets)) > 1:
        return f"On {len(outputs)} public validation inputs your model predicts class {int(values[0])} for every one."
    return None


@rule
def dead_output(e: Evidence) -> Diagnosis | None:
    """A ReLU at the very end whose input went negative everywhere: 0 out, no gradient back, stuck."""
    last = text(e.final_model, "last_op") or text(e.final_model, "last_module").lower()
    targets = _targets(e)
    if last != "relu" or e.outputs is None or targets is None or not np.any(targets != 0):
        return None
    if float(np.abs(e.outputs).max()) > 1e-7:
        return None
    return Diagnosis(
        "dead_output", "error", "The ReLU at the end of your model outputs 0 for every input",
        f"On {len(e.outputs)} public validation inputs your model returned 0 every time; its last operation is "
        f"a ReLU, and the targets range from {g(float(targets.min()))} to {g(float(targets.max()))}.",
        "Once the last layer's output is negative for every input, the ReLU returns 0 and passes back no "
        "gradient, so nothing can pull the model out again: it is stuck for good.",
        "End the model with a plain nn.Linear, without an activation after it. To keep a prediction positive, "
        "predict its logarithm and return torch.exp(...) of it, or use nn.Softplus() at the end.",
    )  # fmt: skip


@rule
def constant_output(e: Evidence) -> Diagnosis | None:
    final = e.final_model
    dead = {k: v for k, v in e.silent_relu.items() if v >= 0.9}
    targets = _targets(e)
    seen = _one_answer(e, targets) if targets is not None else None
    spread = final.get("output_spread")
    if seen is None and isinstance(spread, (int, float)) and spread <= 1e-6:
        seen = "On 128 public inputs the trained model's outputs did not vary."
    if seen is None:
        return None
    if dead:
        cause = f" In {', '.join(sorted(dead))}, every unit was silent (ReLU output 0) on a sampled batch."
        fix = (
            "Dead ReLUs come from a too-large step or a bad start: lower the learning rate, use "
            "nn.LeakyReLU, or a Kaiming initialisation."
        )
    elif e.lr is not None and e.lr <= 1e-4:
        cause = f" The learning rate was {g(e.lr)}: the weights hardly moved from where they started."
        fix = "Raise the learning rate by factors of 10 (Adam's 1e-3 is a good start) until the loss falls."
    else:
        cause = ""
        fix = (
            "Check that the inputs reach the model unchanged and that predictions and targets have the same "
            "shape; then train longer or with a larger learning rate. Stopping earlier will not help."
        )
    return Diagnosis(
        "constant_output", "error", "The model gives the same answer for every input",
        seen + cause,
        "A model that ignores its input can at best predict the average target (or the commonest class): "
        "nothing of the function was learned.",
        fix,
        numbers={"dead_layers": dead},
    )  # fmt: skip


def _differs(train: dict[str, Any], evaluation: dict[str, Any]) -> list[str]:
    means, stds = numbers(train, "mean"), numbers(train, "std")
    lows, highs = numbers(train, "min"), numbers(train, "max")
    e_means, e_stds = numbers(evaluation, "mean"), numbers(evaluation, "std")
    if not means or not (len(means) == len(stds) == len(lows) == len(highs) == len(e_means) == len(e_stds)):
        return []
    standardised = all(abs(m) < 0.15 and abs(s - 1) < 0.1 for m, s in zip(means, stds, strict=True))
    min_maxed = all(lo >= -0.02 and hi <= 1.02 and hi - lo > 0.9 for lo, hi in zip(lows, highs, strict=True))
    found = []
    for i, (m, s, lo, hi, em, es) in enumerate(zip(means, stds, lows, highs, e_means, e_stds, strict=True)):
        spread = max(s, 1e-12)
        shifted = abs(em - m) > 2 * spread or es > 3 * spread or es < spread / 3
        outside = em < lo or em > hi
        if shifted and (standardised or min_maxed or outside):
            found.append(
                f"feature {i}: mean {g(m)}, spread {g(s)} in training; mean {g(em)}, spread {g(es)} at evaluation"
            )
    return found


@rule
def scaling_outside_model(e: Evidence) -> Diagnosis | None:
    if e.passed:
        return None  # inputs from another range that the model handles (randn training data) are no mistake
    train, evaluation = e.probes.get("first_layer_input", {}), e.probes.get("first_layer_eval", {})
    problems = _differs(train, evaluation)
    if not problems:
        return None
    names = e.input_names
    described = [p.replace(f"feature {i}", names[i]) if i < len(names) else p for i, p in enumerate(problems)]
    scaler = _scaler(e, "inputs")
    fix = (
        f"Keep your scaling and tell the grader: from gradekit import submit; submit(model, inputs={scaler}.transform)"
        if scaler
        else "Scale inside the model (store the training mean and std with register_buffer and standardise "
        "at the start of forward()), or tell the grader how: submit(model, inputs=lambda x: (x - mean) / std), "
        "with the mean and std your script computed from its training data. If you did not scale at all, "
        "train on inputs drawn from the assignment's own ranges" + (f" ({_ranges(e)})" if _ranges(e) else "")
    )
    return Diagnosis(
        "scaling_outside_model", "error", "Your inputs are scaled in training but not when the grader evaluates",
        "The first layer saw differently distributed inputs in training than on the grader's inputs: "
        + "; ".join(described[:3]) + ".",
        "The grader sends your model the raw inputs, as the assignment describes them. Scaling done "
        "outside the model (a scikit-learn scaler, or arithmetic on the data before the loop) is not "
        "applied to them, so the model sees values it never trained on.",
        fix + ".",
        numbers={"features": len(problems)},
    )  # fmt: skip


def _ranges(e: Evidence) -> str:
    """The public inputs' ranges, by name: where the grader's inputs come from."""
    if e.inputs is None or not len(e.inputs):
        return ""
    x = np.asarray(e.inputs, dtype=np.float64).reshape(len(e.inputs), -1)
    names = e.input_names if len(e.input_names) == x.shape[1] else [f"input {i}" for i in range(x.shape[1])]
    return ", ".join(
        f"{n} from {g(float(lo))} to {g(float(hi))}"
        for n, lo, hi in zip(names, x.min(0), x.max(0), strict=True)
    )


def _linear(final: dict[str, Any], classification: bool) -> bool:
    """The trained model draws a straight line (plane, boundary), by what ran and by what it computes.

    Regression: no nonlinear operation ran, and f(a·u + (1−a)·v) = a·f(u) + (1−a)·f(v). Classes: nothing
    nonlinear ran before its last layer (a sigmoid or softmax at the end leaves the boundary straight),
    and its scores are affine once that squashing is undone (the logits); both, so that code the
    operations' record cannot see into (a torch.jit.script submodule) is judged by what it computes.
    """
    if classification:
        deviation = final.get("logit_affine_deviation")
        return (
            final.get("nonlinear_inside") is False
            and isinstance(deviation, (int, float))
            and deviation <= LOGIT_TOLERANCE
        )
    deviation = final.get("affine_deviation")
    ops, activations = final.get("ops"), final.get("activations")
    return (
        not ops and not activations and isinstance(deviation, (int, float)) and deviation <= AFFINE_TOLERANCE
    )


@rule
def linear_model(e: Evidence) -> Diagnosis | None:
    if not _linear(e.final_model, e.spec.task.classification) or e.inputs is None or e.targets is None:
        return None
    best = best_linear(e.spec.task, e.spec.grading, e.inputs, e.targets)
    if best is None or points(best, e.spec.grading) >= e.spec.points:
        return None  # a straight line can do it: no claim
    graded = graded_metric(e)
    if graded is not None and e.outputs is not None:
        # On the very points the graded outputs are for, a model clearly better than the best straight
        # line is not one, whatever the checks above concluded.
        n = len(e.outputs)
        on_same = best_linear(e.spec.task, e.spec.grading, e.inputs[:n], e.targets[:n])
        if on_same is not None and (
            graded < 0.8 * on_same if e.spec.grading.lower_is_better else graded > on_same + 0.03
        ):
            return None
        # The student's own straight line is one too: the best found is at least as good as theirs.
        best = min(best, graded) if e.spec.grading.lower_is_better else max(best, graded)
        if points(best, e.spec.grading) >= e.spec.points:
            return None
    label = metric_label(e.spec.metric)
    layers = (
        int(e.final_model.get("linear_layers") or 0)
        if isinstance(e.final_model.get("linear_layers"), int)
        else 0
    )
    shape = (
        "a single Linear layer"
        if layers <= 1
        else f"{layers} Linear layers with nothing nonlinear between them"
    )
    line = "boundary" if e.spec.task.classification else "surface"
    return Diagnosis(
        "linear_model", "error", "A straight line cannot solve this task, and your model can only draw one",
        f"Your model is {shape}: it computes a straight {line} of its inputs. The best straight {line} the "
        f"grader found on the public validation set reaches only {label} {g(best)} "
        f"({points(best, e.spec.grading):g}/{e.spec.points:g}).",
        "However long it trains and whatever the learning rate, a linear model cannot bend: the task needs "
        "at least one hidden layer with a nonlinear activation.",
        "Add a hidden layer and an activation: nn.Sequential(nn.Linear(n_inputs, 32), nn.ReLU(), "
        "nn.Linear(32, n_outputs)).",
        numbers={"best_linear": best},
    )  # fmt: skip
