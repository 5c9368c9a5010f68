"""How the harness touches the student's objects: through the base classes, and within a time budget.

Students redefine names freely: a model class with its own ``train(x, y, epochs)``, ``fit()`` or
``predict()`` is common in beginner code. So the harness never calls a method by a name the student
may have redefined: modes are set on each module's ``training`` flag directly, parameters and
modules are listed through ``nn.Module`` itself.

Every call the harness makes into the student's code after training has started (the model's
forward pass for the probes, the held-out predictions, the checks on the final model) runs under a
time budget of its own: a forward() that hangs in eval mode is named as such, never as the
training's time limit. The budget is an interval timer (SIGALRM) in the main thread; the host keeps
a deadline of its own for the checks after training, for a hang that no signal interrupts.

Harness code that runs inside the student's calls (hooks on backward, optimizer steps, warnings)
is of two kinds. What only records may fail without touching the student's run: it costs a curve
or a diagnosis (instrument.py counts such failures). What enforces the budgets is the harness's
duty: an exception there becomes a ``HarnessFault``, which the student's ``except Exception``
cannot swallow and which is reported as the platform's failure.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

import gradekit

from . import protocol

CALL_SECONDS = protocol.MODEL_CALL_SECONDS  # one call of the model on a few hundred public inputs


class HarnessStop(BaseException):
    """The harness's own control flow through the student's code (a budget ran out, a call hung).

    A BaseException, so that a student's ``except Exception`` does not swallow it.
    """


class CallTimeout(HarnessStop):
    def __init__(self, seconds: float, what: str) -> None:
        super().__init__(f"{what} did not return within {seconds:g} s")
        self.seconds, self.what = seconds, what


class OverBudget(HarnessStop):
    """The model has more parameters than the assignment allows: stopped when it first trains."""

    def __init__(self, params: int, allowed: int, name: str = "") -> None:
        super().__init__(f"{params} parameters, {allowed} allowed")
        self.params, self.allowed, self.name = params, allowed, name


class HarnessFault(BaseException):
    """An exception in the harness's own code: the platform's failure, never the student's."""

    def __init__(self, where: str, error: BaseException) -> None:
        super().__init__(f"{where}: {type(error).__name__}: {error}")
        self.where, self.error = where, error


# -- the student's objects, through nn.Module itself ----------------------------------------------
def modules(model: nn.Module) -> list[nn.Module]:
    return list(nn.Module.modules(model))


def named_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return list(nn.Module.named_modules(model))


def parameters(model: nn.Module) -> list[nn.Parameter]:
    return list(nn.Module.parameters(model))


def named_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return list(nn.Module.named_parameters(model))


def children(module: nn.Module) -> list[nn.Module]:
    return list(nn.Module.children(module))


def count(model: nn.Module) -> int:
    """How many parameters the model has; a lazy layer not yet run has none yet."""
    return sum(
        p.numel()
        for p in nn.Module.parameters(model)
        if not isinstance(p, nn.parameter.UninitializedParameter)
    )


def state_dict(model: nn.Module) -> dict[str, Any]:
    return dict(nn.Module.state_dict(model))


def move(model: nn.Module, device: torch.device) -> nn.Module:
    """``model.to(device)``, through nn.Module itself."""
    moved = nn.Module.to(model, device)
    return moved if isinstance(moved, nn.Module) else model


def device_of(model: nn.Module) -> torch.device:
    return next((p.device for p in nn.Module.parameters(model)), torch.device("cpu"))


def set_training(model: nn.Module, mode: bool) -> None:
    """What ``model.train(mode)`` does, without calling anything the student may have redefined."""
    for module in modules(model):
        object.__setattr__(module, "training", mode)


@contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode, no gradients and a forked RNG for the harness's own look; every module's mode restored.

    The student's training goes on exactly as it would have: no random number is drawn from their
    stream, no BatchNorm statistic moves, no mode changes behind their back.
    """
    modes = [(module, module.training) for module in modules(model)]
    try:
        for module, _ in modes:
            object.__setattr__(module, "training", False)
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            yield
    finally:
        for module, mode in modes:
            object.__setattr__(module, "training", mode)


@contextmanager
def time_budget(seconds: float | None, what: str) -> Iterator[None]:
    """Raise ``CallTimeout`` in the block once ``seconds`` have passed (main thread only).

    Python runs the handler between bytecodes, so a loop, a sleep or a wait in forward() is
    interrupted; one long native operation is not, which the host's own deadline covers.
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getitimer(signal.ITIMER_REAL)[0] > 0:
        yield  # the student's own alarm is set: left alone (the host's deadline still holds)
        return

    def expire(signum: int, frame: Any) -> None:
        raise CallTimeout(seconds, what)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- the prediction path: the one way the harness asks the student's model for outputs ---------------
class Transforms:
    """``submit(model, inputs=..., outputs=...)``: the student's scaling outside the model.

    ``inputs`` gets the raw inputs as a float32 numpy array ``[N, number of inputs]``; ``outputs`` the
    model's outputs as a 2-D numpy array (``[N, 1]`` for one output). Each may return a numpy array
    or a tensor.
    """

    def __init__(
        self, inputs: Callable[[Any], Any] | None = None, outputs: Callable[[Any], Any] | None = None
    ):
        self.inputs, self.outputs = inputs, outputs

    def __bool__(self) -> bool:
        return self.inputs is not None or self.outputs is not None


NONE = Transforms()


def transforms_of(model: nn.Module) -> Transforms:
    """What the student handed over with ``submit(model, inputs=..., outputs=...)`` for this model."""
    return Transforms(*gradekit.transforms_of(model))


def _as_tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} returned {type(value).__name__}, not an array of numbers") from exc
    return torch.from_numpy(np.ascontiguousarray(array))


def predict(model: nn.Module, inputs: torch.Tensor, transforms: Transforms = NONE) -> torch.Tensor:
    """The model's outputs for raw inputs, as the evaluation computes them (call inside ``evaluating``).

    The student's own input and output transforms run here, around the model: what the grader
    scores, the held-out curve and the checks on the final model all come through this one path.
    """
    x = inputs
    if transforms.inputs is not None:
        x = _as_tensor(transforms.inputs(inputs.detach().cpu().numpy()), "submit(inputs=...)")
        x = x.to(dtype=torch.float32)
    out = model(x.to(device_of(model)))
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the model returned {type(out).__name__}, not a tensor")
    if transforms.outputs is not None:
        raw = out.detach().float().cpu()
        raw = raw.reshape(len(raw), -1) if raw.dim() != 2 else raw
        out = _as_tensor(transforms.outputs(raw.numpy()), "submit(outputs=...)")
    return out
