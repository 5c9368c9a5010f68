"""Does the trained model owe its predictions to training? Two looks, for the staff.

A forward() that computes the answer itself (the public target formula, a lookup) scores full
marks with a token parameter and learns nothing. After training, on the public held-out inputs
and with each call within its budget, the harness looks twice:

* with the weights the model had when it first ran (kept from then): these predictions are the
  held-out curve's point at step 0, which the host scores; a model that meets the pass mark there
  did not need training;
* with every parameter moved by noise as large as the weights themselves: predictions that do
  not change at all do not depend on the weights.

The trained weights are put back exactly afterwards. Both looks are the sandbox's claims, so
they only ever raise a question for the instructor; they never change a grade.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch

from . import calls

MAX_NUMBERS = 4_000_000  # weights kept from the first run, at most (16 MB of float32)


class FirstWeights:
    """The parameters of the models seen running, as they were before any step."""

    def __init__(self) -> None:
        self._kept: dict[int, tuple[weakref.ref[torch.Tensor], torch.Tensor]] = {}
        self._numbers = 0

    def remember(self, root: torch.nn.Module) -> None:
        params = _params(root)
        size = sum(p.numel() for p in params)
        if not params or self._numbers + size > MAX_NUMBERS:
            return
        with torch.no_grad():
            for param in params:
                if id(param) not in self._kept:
                    self._kept[id(param)] = (weakref.ref(param), param.detach().clone())
                    self._numbers += param.numel()

    def of(self, params: list[torch.Tensor]) -> list[torch.Tensor] | None:
        """The first values of exactly these parameters, or None if any one is unknown or reshaped."""
        values = []
        for param in params:
            kept = self._kept.get(id(param))
            if kept is None or kept[0]() is not param or kept[1].shape != param.shape:
                return None
            values.append(kept[1])
        return values


def _params(model: torch.nn.Module) -> list[torch.Tensor]:
    return [
        p
        for p in calls.parameters(model)
        if not isinstance(p, torch.nn.parameter.UninitializedParameter) and p.is_floating_point()
    ]


def _put(params: list[torch.Tensor], values: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for param, value in zip(params, values, strict=True):
            param.copy_(value)


def _predict(
    model: torch.nn.Module, inputs: torch.Tensor, transforms: calls.Transforms, seconds: float | None
) -> torch.Tensor:
    with calls.evaluating(model), calls.time_budget(seconds, "the model's forward()"):
        return calls.predict(model, inputs, transforms).detach().float().cpu()


def look(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    transforms: calls.Transforms,
    seconds: float | None,
    first: FirstWeights,
    trained_out: torch.Tensor,
) -> tuple[torch.Tensor | None, dict[str, Any]]:
    """Predictions at step 0 (None if the first weights are not known), and whether noise moved any."""
    params = _params(model)
    if not params or sum(p.numel() for p in params) > MAX_NUMBERS:
        return None, {}
    trained = [p.detach().clone() for p in params]
    step0: torch.Tensor | None = None
    try:
        initial = first.of(params)
        if initial is not None:
            _put(params, initial)
            step0 = _predict(model, inputs, transforms, seconds)
        generator = torch.Generator().manual_seed(0)
        noisy = []
        for value in trained:
            scale = float(value.abs().float().mean()) + 0.1
            noise = torch.randn(value.shape, generator=generator) * scale
            noisy.append(value + noise.to(device=value.device, dtype=value.dtype))
        _put(params, noisy)
        moved = _predict(model, inputs, transforms, seconds)
    finally:
        _put(params, trained)
    expected = trained_out.detach().float().cpu()
    same = moved.shape == expected.shape and bool(
        torch.allclose(moved, expected, rtol=0.0, atol=1e-6, equal_nan=True)
    )
    return step0, {"unchanged_by_noise": same, "parameters": len(params)}
