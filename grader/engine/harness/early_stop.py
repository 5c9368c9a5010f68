"""Early stopping: the held-out loss on the public validation set, and a stop when it plateaus.

When to look: after optimizer step 1 (the nearly untrained model, the baseline a stall is measured
against) and then every ``every`` steps. Unless the job fixes ``every``, it is the step budget / 100
(about a hundred looks per run) and never under ``MIN_EVERY`` steps; the budget is the job's
``max_steps``, or the TRAINING dict's own step count when that is smaller; with no step budget
known at all, every ``EVERY_WITHOUT_BUDGET`` steps.

When to stop: the best loss so far counts as improved only when a look beats it by at least
``min_delta`` × best; after ``patience`` looks in a row without that, ``after_step`` says stop and the
recorder raises ``StopTraining("plateau")``. The model then evaluated is the final one, not the best
one seen: restoring the best would mean copying the weights at every improvement behind the
student's back (their optimizer and any references they hold would no longer match the model),
and the student's own code decides what a model is in script mode. Patience keeps the gap small.

The public validation targets are public data (they are in the sandbox's data folder anyway);
nothing of the hidden set is involved.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import calls
from .protocol import HELDOUT_LOSSES

Send = Callable[..., None]

MAX_POINTS = 2048  # a steady estimate at a small fraction of a training step's cost
EVALUATIONS = 100
MIN_EVERY = 10
EVERY_WITHOUT_BUDGET = 50
DEFAULT_PATIENCE = 5  # as grader/assignments/sweep_rules.EarlyStopping (a test keeps them equal)
DEFAULT_MIN_DELTA = 0.01


def default_every(budget: int | None) -> int:
    if budget is None or budget <= 0:
        return EVERY_WITHOUT_BUDGET
    return max(MIN_EVERY, math.ceil(budget / EVALUATIONS))


class EarlyStopper:
    def __init__(
        self, send: Send, settings: dict[str, Any], x: torch.Tensor, y: torch.Tensor, max_steps: int | None
    ) -> None:
        self.send = send
        self.patience = max(1, int(settings.get("patience") or DEFAULT_PATIENCE))
        min_delta = settings.get("min_delta")
        self.min_delta = float(DEFAULT_MIN_DELTA if min_delta is None else min_delta)
        self.loss = str(settings.get("loss") or "mse")
        self.fixed_every = settings.get("every")
        self.max_steps = max_steps
        self.every = int(self.fixed_every) if self.fixed_every else default_every(max_steps)
        self.x, self.y = x, y
        self.model: nn.Module | None = None  # module mode: the built model
        self.find_model: Callable[[], nn.Module | None] = lambda: None  # script mode: the probes' root
        self.call_seconds: float | None = calls.CALL_SECONDS
        self.first: float | None = None
        self.best: float | None = None
        self.best_step: int | None = None
        self.evaluations = 0
        self.since_best = 0
        self.stopped_at: int | None = None
        self._placed: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    def plan(self, steps: int) -> None:
        """The run's own step count became known (a TRAINING dict): spread the looks over it."""
        if not self.fixed_every:
            self.every = default_every(steps if self.max_steps is None else min(steps, self.max_steps))

    def due(self, step: int) -> bool:
        return step == 1 or step % self.every == 0

    def after_step(self, step: int) -> bool:
        """Look at the held-out loss after this step; True when training should stop (a plateau)."""
        model = self.model if self.model is not None else self.find_model()
        if model is None:
            return False  # a script whose model has not been seen yet: no look, no claim
        value = self.evaluate(model)
        if value is None:
            return False  # the model does not take these inputs: early stopping stays out of the way
        finite = math.isfinite(value)
        self.send("points", series="heldout_loss", x=[int(step)], y=[value if finite else None])
        self.evaluations += 1
        if self.evaluations == 1:
            self.first = value
        if finite and (self.best is None or value < self.best - self.min_delta * abs(self.best)):
            self.best, self.best_step, self.since_best = value, step, 0
        else:
            self.since_best += 1  # a diverged (non-finite) loss is no improvement either
        if self.since_best >= self.patience:
            self.stopped_at = step
            return True
        return False

    def evaluate(self, model: nn.Module) -> float | None:
        """The loss on the validation points, in eval mode and without gradients; modes restored after.

        The RNG is forked so the student's random stream goes on exactly as without the look.
        """
        try:
            what = "the model's forward() (early stopping's look at the held-out loss)"
            with calls.evaluating(model), calls.time_budget(self.call_seconds, what):
                x, y = self._on(model)
                out = calls.predict(model, x, calls.transforms_of(model))
                return float(self._loss(out.float().to(y.device), y))
        except Exception:  # noqa: BLE001 - a look the model cannot take is skipped, never the student's error
            return None

    def _on(self, model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        first = next(iter(calls.parameters(model)), None)
        device = first.device if first is not None else torch.device("cpu")
        dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
        key = (device, dtype)
        if key not in self._placed:
            self._placed[key] = (self.x.to(device=device, dtype=dtype), self.y.to(device))
        return self._placed[key]

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.loss == "cross_entropy":
            return F.cross_entropy(out.reshape(len(y), -1), y.long().reshape(-1))
        prediction = out.squeeze(-1) if out.dim() == y.dim() + 1 and out.shape[-1] == 1 else out
        if prediction.shape != y.shape:
            if prediction.numel() != y.numel():
                raise ValueError("the outputs do not match the targets")
            prediction = prediction.reshape(y.shape)
        target = y.float()
        if self.loss == "bce":
            return F.binary_cross_entropy(prediction.clamp(0.0, 1.0), target)
        if self.loss == "bce_with_logits":
            return F.binary_cross_entropy_with_logits(prediction, target)
        return F.mse_loss(prediction, target)

    def summary(self) -> dict[str, Any]:
        """The ``early_stopping`` record: what the host reads to tell a stalled run (non-finite: None)."""

        def number(value: float | None) -> float | None:
            return value if value is not None and math.isfinite(value) else None

        return {
            "loss": self.loss, "every": self.every, "patience": self.patience, "min_delta": self.min_delta,
            "evaluations": self.evaluations, "first": number(self.first), "best": number(self.best),
            "best_step": self.best_step, "stopped_at": self.stopped_at,
        }  # fmt: skip


def early_stopper(
    settings: dict[str, Any] | None, data_dir: str, max_steps: int | None, send: Send
) -> EarlyStopper | None:
    """The job's early stopping, or None when it asks for none or there is no validation set to look at."""
    if not isinstance(settings, dict) or settings.get("loss") not in HELDOUT_LOSSES:
        return None
    try:
        x = np.load(os.path.join(data_dir, "x_val.npy"), allow_pickle=False)[:MAX_POINTS]
        y = np.load(os.path.join(data_dir, "y_val.npy"), allow_pickle=False)[:MAX_POINTS]
    except (OSError, ValueError):
        return None
    if len(x) == 0 or len(x) != len(y):
        return None
    return EarlyStopper(send, settings, torch.from_numpy(x), torch.from_numpy(y), max_steps)
