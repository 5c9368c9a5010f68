"""Training that never happened: the graded model's weights never moved, and the counters say why.

Read off the ``training`` probe (harness/effect.py): how many of the graded model's parameters were
remembered when it first ran and how many changed since, how many an optimizer held, how many
optimizers were made and stepped, how many steps found no gradient at all, and the lines of the
first backward, step and optimizer. Each cause gets its own words and line; they are errors, because
nothing else about such a run (its learning rate, its plateau) matters until it trains.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Diagnosis, rule
from .evidence import Evidence, graded_metric, number, text, where

DETACHED_WORDS = ("does not require grad and does not have a grad_fn",)


def _training(e: Evidence) -> dict[str, Any]:
    data = e.probes.get("training", {})
    return data if isinstance(data, dict) else {}


def _count(data: dict[str, Any], key: str) -> int:
    value = number(data, key)
    return int(value) if value is not None and value >= 0 else 0


def _frozen(data: dict[str, Any]) -> bool:
    """The graded model ran in training, and not one of its remembered weights changed."""
    return _count(data, "remembered") > 0 and _count(data, "changed") == 0


def _line(data: dict[str, Any], key: str) -> str:
    at = data.get(key)
    return where(at) if isinstance(at, dict) and text(at, "file").startswith("/workspace/") else ""


@rule
def training_never_happened(e: Evidence) -> Diagnosis | None:
    data = _training(e)
    if not data or e.failure:
        return None
    backward, steps = e.counters.get("backward", 0), e.counters.get("steps", 0)
    frozen = _frozen(data)
    if frozen and backward == 0:
        return Diagnosis(
            "no_backward", "error", "loss.backward() is never called",
            f"{steps:,} optimizer steps ran, but no backward() at all: the model's weights never changed.",
            "The optimizer steps along the gradients, and only backward() computes them: without it every "
            "step has nothing to follow, and the model stays as it was initialised.",
            "Call loss.backward() after computing the loss and before optimizer.step(), every iteration.",
            _line(data, "step_at"), {"steps": steps, "backward": backward},
        )  # fmt: skip
    if frozen and steps == 0:
        return Diagnosis(
            "no_optimizer_step", "error", "optimizer.step() is never called",
            f"loss.backward() ran {backward:,} times, but no optimizer step: the model's weights never changed.",
            "backward() only computes the gradients; the optimizer's step() is what moves the weights.",
            "Call optimizer.step() right after loss.backward() in every iteration (and optimizer.zero_grad() "
            "before the next backward()).",
            _line(data, "backward_at"), {"backward": backward},
        )  # fmt: skip
    params, held = _count(data, "parameters"), _count(data, "in_optimizer")
    if frozen and steps and params and held == 0:
        return Diagnosis(
            "optimizer_not_on_model", "error", "The optimizer updates another model's parameters",
            f"{steps:,} optimizer steps ran, but none of the graded model's {params} parameter tensors was "
            "among the optimizer's: its weights never changed.",
            "An optimizer holds the parameters it was given when it was made. Made from another model, or "
            "before the model was created again (model = Net() a second time), it trains that other one.",
            "Create the optimizer from the model you train and submit, after its last model = ...: "
            f"optimizer = torch.optim.{text(data, 'optimizer') or 'Adam'}(model.parameters(), ...).",
            _line(data, "created_at"), {"steps": steps, "parameters": params},
        )  # fmt: skip
    without = _count(data, "steps_without_grad")
    if frozen and steps and without >= max(1, int(0.9 * steps)):
        return _detached(
            f"{without:,} of {steps:,} optimizer steps found no gradient on any parameter, though "
            f"backward() ran {backward:,} times: the model's weights never changed.",
            _line(data, "backward_at"),
        )
    seen = _count(data, "models_seen")
    if _count(data, "remembered") == 0 and seen and params and steps and _no_better_than_at_the_start(e):
        return Diagnosis(
            "untrained_model_submitted", "error", "The graded model is not the one that trained",
            f"A model ran during training ({steps:,} optimizer steps), but the model left for grading never "
            "ran a forward pass: it is a new, untrained one.",
            "The grader scores the model object your script leaves (or submit() names). Creating it again "
            "after training (model = Net()), or submitting another instance, throws the training away.",
            "Submit the object you trained: keep one model = Net() before the loop, and submit(model) after it.",
            numbers={"steps": steps},
        )  # fmt: skip
    return None


def _no_better_than_at_the_start(e: Evidence) -> bool:
    """The graded model does no better on the public inputs than the model training started from.

    A model that never ran in training may still be a trained one (copy.deepcopy of the best epoch, a
    state_dict loaded into a fresh instance): only its results can tell it is untrained.
    """
    graded = graded_metric(e)
    start = e.heldout[np.isfinite(e.heldout)][:1]
    if graded is None or not len(start) or e.passed:
        return False
    first = float(start[0])
    if e.spec.grading.lower_is_better:
        return graded >= 0.8 * first
    return graded <= first + 0.05


def _detached(seen: str, line: str) -> Diagnosis:
    return Diagnosis(
        "loss_not_connected", "error", "The loss is not connected to the model",
        seen,
        "Gradients flow back only through torch operations on tensors that came from the model. "
        "Going through .item(), .detach(), .numpy() or torch.tensor(...) cuts that path, and setting "
        "requires_grad=True on the result only hides the error: no gradient reaches the weights.",
        "Compute the loss from the model's output with torch operations only, e.g. "
        "loss = criterion(model(x), y), and keep .item() for printing.",
        line,
    )  # fmt: skip


@rule
def loss_not_connected_error(e: Evidence) -> Diagnosis | None:
    """The runtime error torch raises when backward() meets a loss cut off from the model."""
    message = text(e.failure, "message")
    if not any(words in message for words in DETACHED_WORDS):
        return None
    file, line = text(e.failure, "file"), number(e.failure, "line")
    at = f"{file}:{int(line)}" if file and line is not None else ""
    return _detached(f"backward() raised: {message.splitlines()[0][:200]}", at)


@rule
def optimizer_recreated(e: Evidence) -> Diagnosis | None:
    data = _training(e)
    made, steps = _count(data, "optimizers_created"), e.counters.get("steps", 0)
    if made < 10 or made < steps // 2:
        return None
    name = text(data, "optimizer") or "optimizer"
    stateful = data.get("stateful") is True
    return Diagnosis(
        "optimizer_recreated",
        "error" if stateful else "hint",
        "A new optimizer is created in every iteration",
        f"{made:,} optimizers were created for {steps:,} steps: a new {name} each time.",
        (
            f"{name} keeps running averages of the gradients from step to step; a new one each "
            "iteration starts from nothing every time, so every step is its first (in Adam, a step of "
            "about the learning rate in every weight, whatever the gradient)."
            if stateful
            else "Plain SGD keeps nothing between steps, so this trains, but it costs time for nothing."
        ),
        "Create the optimizer once, before the training loop, and reuse it.",
        _line(data, "created_at"),
        {"optimizers_created": made, "steps": steps},
    )
