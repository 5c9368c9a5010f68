"""Rules read off how training went: zero_grad, the learning rate, gradients, plateaus, budgets."""

from __future__ import annotations

import numpy as np

from grader.engine.scoring import metric_label

from .base import Diagnosis, g, rule
from .evidence import Evidence, shape, text, where

MIN_STEPS = 50
VANISHING_RATIO = 1e-2  # first layer's gradient against the last one's
TINY_LR = 1e-4  # at or below this, a loss that barely moves is the learning rate's doing


def _window(values: np.ndarray, first: bool, share: float = 0.05) -> float:
    """Median of the first or last ``share`` of the finite losses (at least 5 of them)."""
    finite = values[np.isfinite(values)]
    size = max(5, int(len(finite) * share))
    part = finite[:size] if first else finite[-size:]
    return float(np.median(part)) if len(part) else float("nan")


def _sum_note(e: Evidence) -> tuple[str, dict[str, float]]:
    """With reduction='sum', the loss (and its gradient) grows with the batch: say so, with the batch."""
    for loss in e.losses_probed:
        batch = shape(loss, "prediction_shape")
        if text(loss, "reduction") == "sum" and batch and e.lr is not None:
            effective = e.lr * batch[0]
            note = (
                f" With reduction='sum' the loss adds up the {batch[0]} examples of each batch, so "
                f"lr {g(e.lr)} moves the weights like lr {g(effective)} would with the mean."
            )
            return note, {"batch": batch[0], "effective_lr": effective}
    return "", {}


@rule
def gradients_not_zeroed(e: Evidence) -> Diagnosis | None:
    missing, steps = e.counters.get("steps_without_zero_grad", 0), e.steps
    if steps < 10 or missing < max(2, steps // 10):
        return None
    at = e.probes.get("missing_zero_grad", {})
    return Diagnosis(
        "gradients_not_zeroed", "error", "Gradients are never zeroed",
        f"{missing:,} of {steps:,} optimizer steps ran with no zero_grad() since the step before.",
        "PyTorch adds each backward() to the gradients already stored, so every step follows the sum "
        "of all gradients so far: a stale, ever-growing direction instead of the current slope.",
        "Call optimizer.zero_grad() once per step, before loss.backward().",
        where(at), {"steps_without_zero_grad": missing, "steps": steps},
    )  # fmt: skip


@rule
def learning_rate_too_large(e: Evidence) -> Diagnosis | None:
    finite = np.isfinite(e.loss)
    if len(e.loss) < 2:
        return None
    lr = f" at lr {g(e.lr)}" if e.lr is not None else ""
    if not finite.all():
        step = int(e.loss_steps[int(np.argmin(finite))])
        seen = f"The loss became NaN or infinite at step {step:,}{lr}."
    else:
        start, end = _window(e.loss, True), _window(e.loss, False)
        jumps = _jumpiness(e)
        if len(e.loss) >= MIN_STEPS and end > 10 * start and end > 1e-8:
            seen = f"The loss rose from {g(start)} to {g(end)} over {e.steps:,} steps{lr}."
        elif (
            jumps is not None
            and jumps > 2
            and end > 0.5 * start
            and not e.passed
            and (e.lr is None or e.lr > TINY_LR)  # a tiny rate cannot overshoot
            and e.counters.get("steps_without_zero_grad", 0) <= e.steps // 10  # piled-up gradients can
        ):
            seen = (
                f"Over the second half of training the loss jumped by a factor of {jumps:.1f} from one "
                f"recorded step to the next (median), and ended at {g(end)}, from {g(start)}{lr}."
            )
        else:
            return None
    note, extra = _sum_note(e)
    return Diagnosis(
        "learning_rate_too_large", "error", "The learning rate is too large: training diverged",
        seen + note,
        "Each step overshoots the minimum by more than it gains, so the weights grow until the "
        "numbers overflow.",
        "Lower the learning rate by a factor of 10 at a time until the loss falls steadily "
        "(or scale the inputs, which also makes larger rates safe).",
        numbers={"lr": e.lr, **extra},
    )  # fmt: skip


def _jumpiness(e: Evidence) -> float | None:
    """Median factor between neighbouring losses in the second half, for batches large enough to judge.

    With batches of a few examples the loss jumps from batch to batch by nature: no claim then.
    """
    batches = [shape(x, "prediction_shape") for x in e.losses_probed]
    if not batches or not batches[0] or batches[0][0] < 16:
        return None
    late = e.loss[len(e.loss) // 2 :]
    late = late[np.isfinite(late) & (late > 0)]
    if len(late) < 20:
        return None
    return float(np.exp(np.median(np.abs(np.diff(np.log(late))))))


@rule
def learning_rate_too_small(e: Evidence) -> Diagnosis | None:
    if e.passed or len(e.loss) < 200 or not np.isfinite(e.loss).all():
        return None
    start, end = _window(e.loss, True), _window(e.loss, False)
    if not start > 0 or (start - end) / start > 0.05:
        return None
    if e.lr is None or e.lr > TINY_LR:
        return None  # a flat loss at a usual rate means the model cannot do better, not a slow crawl
    note, extra = _sum_note(e)
    lr = f" at lr {g(e.lr)}" if e.lr is not None else ""
    return Diagnosis(
        "learning_rate_too_small", "warning", "The learning rate is too small: the loss barely moved",
        f"The loss went from {g(start)} to {g(end)} ({(end - start) / start:+.1%}) over "
        f"{e.steps:,} steps{lr}." + note,
        "Each step changes the weights so little that the whole budget ends near the random start.",
        "Raise the learning rate by a factor of 10 at a time (Adam's default, 1e-3, is a good start) "
        "and watch the loss fall.",
        numbers={"lr": e.lr, "loss_start": start, "loss_end": end, **extra},
    )  # fmt: skip


@rule
def plateau(e: Evidence) -> Diagnosis | None:
    finite = e.loss[np.isfinite(e.loss)]
    if e.passed or e.steps < 1 or len(finite) < 500 or len(finite) != len(e.loss):
        return None  # no optimizer steps (weights updated by hand): there is no step to name
    kernel = max(5, len(finite) // 50)
    smooth = np.convolve(finite, np.ones(kernel) / kernel, mode="valid")
    best = float(smooth.min())
    scale = max(abs(best), 1e-12)
    reached = int(np.argmax(smooth <= best + 0.01 * (smooth[0] - best) + 1e-3 * scale))
    if reached > 0.6 * len(smooth) or smooth[0] - best <= 0.5 * abs(smooth[0]):
        return None
    step = int(e.loss_steps[min(reached + kernel // 2, len(e.loss_steps) - 1)])
    return Diagnosis(
        "plateau", "hint", "The loss stopped improving long before training ended",
        f"The loss was within 1% of its best by step {step:,} of {e.steps:,}.",
        "The remaining steps cost time without improving the model.",
        "Stop when the loss on held-out data has not improved for a while (early stopping), or "
        "lower the learning rate when it plateaus (torch.optim.lr_scheduler.ReduceLROnPlateau).",
        numbers={"plateau_step": step, "steps": e.steps},
    )  # fmt: skip


@rule
def still_improving(e: Evidence) -> Diagnosis | None:
    if e.passed or len(e.loss) < 200 or not np.isfinite(e.loss).all():
        return None
    last = e.loss[-max(20, len(e.loss) // 5) :]
    half = len(last) // 2
    earlier, later = float(np.median(last[:half])), float(np.median(last[half:]))
    if not earlier > 0 or (earlier - later) / earlier < 0.1:
        return None
    stopped = {"step_budget": "the step budget", "time_budget": "the time budget"}.get(e.trained_reason)
    how = f"Training was stopped by {stopped}" if stopped else "Your loop ended"
    return Diagnosis(
        "underfitting", "hint", "Training ended while the loss was still falling",
        f"{how} while the loss still fell by {(earlier - later) / earlier:.0%} over its last "
        f"{len(last):,} recorded steps (to {g(later)}).",
        "The model had not finished learning: more steps at this rate would have helped.",
        "Raise the learning rate (if the loss falls smoothly) or train for more steps within the budget.",
        numbers={"recent_drop": (earlier - later) / earlier},
    )  # fmt: skip


@rule
def gradient_scale(e: Evidence) -> Diagnosis | None:
    layers = [(name, v[np.isfinite(v)]) for name, v in e.grad_norms.items() if name != "other"]
    layers = [(name, v[len(v) // 2 :]) for name, v in layers if len(v) >= 4]
    if len(layers) < 2:
        return None
    medians = [(name, float(np.median(v))) for name, v in layers]
    (first, low), (last, high) = medians[0], medians[-1]
    if high > 0 and low / high < VANISHING_RATIO and not e.passed:
        return Diagnosis(
            "vanishing_gradients", "warning", "Gradients vanish before they reach the first layers",
            f"Median gradient norm {g(low)} in {first} against {g(high)} in {last}: "
            f"{high / max(low, 1e-30):,.0f} times smaller.",
            "The first layers barely learn: saturated activations (sigmoid, tanh) or a deep stack "
            "multiply the gradient by small factors layer after layer.",
            "Use ReLU-family activations, a sensible initialisation (Kaiming for ReLU), normalisation "
            "layers, or fewer layers.",
            numbers={"first_layer_norm": low, "last_layer_norm": high},
        )  # fmt: skip
    biggest = max(medians, key=lambda pair: pair[1])
    if biggest[1] > 1e4 and not e.passed:
        return Diagnosis(
            "exploding_gradients", "warning", "Gradients are huge",
            f"Median gradient norm {g(biggest[1])} in {biggest[0]} over the second half of training.",
            "Steps that large throw the weights far from where the loss was measured.",
            "Scale the inputs and targets, lower the learning rate, or clip gradients "
            "(torch.nn.utils.clip_grad_norm_).",
            numbers={"layer": biggest[0], "norm": biggest[1]},
        )  # fmt: skip
    return None


@rule
def budget_and_device(e: Evidence) -> Diagnosis | None:
    device = text(e.final_model, "device")
    if device == "cpu" and e.device == "cuda":
        return Diagnosis(
            "ignores_device", "warning", "The model stayed on the CPU although a GPU was given",
            "The job ran with a GPU, but the trained model's parameters are on the CPU.",
            "Training on the CPU is many times slower and may hit the time budget.",
            "Move the model and each batch to the device: device = 'cuda' if "
            "torch.cuda.is_available() else 'cpu'; model.to(device); x.to(device).",
        )  # fmt: skip
    budget = e.spec.budget
    if e.trained_reason == "step_budget" and budget.max_steps:
        return Diagnosis(
            "stopped_by_budget", "hint", "Training was stopped at the step budget",
            f"Your loop was still running after the {budget.max_steps:,} optimizer steps allowed.",
            "The grader stopped it there and scored the model as it was.",
            "Plan your loop within the budget: fewer epochs, larger batches, or stop when the "
            "loss stops improving.",
            numbers={"max_steps": budget.max_steps},
        )  # fmt: skip
    if e.trained_reason == "time_budget":
        seconds = budget.train_seconds
        return Diagnosis(
            "stopped_by_budget", "hint", "Training was stopped at the time budget",
            f"Your loop was still running after the {g(seconds)} s of training allowed, at step {e.steps:,}.",
            "The grader stopped it there and scored the model as it was.",
            "Use fewer steps or a smaller model, or stop when the loss stops improving.",
            numbers={"train_seconds": seconds, "steps": e.steps},
        )  # fmt: skip
    return None


def _heldout_turn(e: Evidence) -> Diagnosis | None:
    """The held-out metric got worse after its best while the training loss kept falling."""
    ok = np.isfinite(e.heldout)
    steps, values = e.heldout_steps[ok], e.heldout[ok]
    if len(values) < 4 or not np.isfinite(e.loss).all() or len(e.loss) < 20:
        return None
    lower = e.spec.grading.lower_is_better
    best = int(np.argmin(values) if lower else np.argmax(values))
    final = float(values[-1])
    worse = final > 1.3 * values[best] + 1e-12 if lower else final < values[best] - 0.03
    if not worse or best >= len(values) - 1:
        return None
    at_best = e.loss[e.loss_steps <= steps[best]]
    if not len(at_best) or not _window(e.loss, False) < 0.9 * _window(at_best, False):
        return None
    label = metric_label(e.spec.grading.metric)
    return Diagnosis(
        "overfitting", "warning", "The model fits its training points, not the function",
        f"On public held-out points the {label} was best at step {int(steps[best]):,} ({g(float(values[best]))}) "
        f"and ended at {g(final)}, while the training loss kept falling "
        f"({g(_window(at_best, False))} → {g(_window(e.loss, False))}).",
        "After that step the network learned the training examples themselves, not the function "
        "between them.",
        "Stop at the best held-out step (early stopping), train on more data, use a smaller network "
        "or weight decay.",
        numbers={"best_step": int(steps[best]), "best": float(values[best]), "final": final},
    )  # fmt: skip


@rule
def overfitting(e: Evidence) -> Diagnosis | None:
    """The held-out metric rising (or accuracy falling) while the training loss keeps falling."""
    return None if e.passed else _heldout_turn(e)
