"""Runs a submission in script mode or module mode and returns the trained model.

Script mode executes the student's file unchanged, as ``__main__``, in a
namespace the harness keeps, so the model can still be found when a budget
stops the loop half-way. Module mode calls ``build_model()`` and either the
student's ``train(model, data, log)`` or the platform's loop driven by a
``TRAINING`` dict.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import gradekit

from . import calls
from .discover import NoModel, find_model
from .instrument import StopTraining
from .platform_loop import TrainingSpecError, train_with_spec
from .sweep import ParamsError, Point


class SubmissionError(Exception):
    """The submission does not follow the contract (not a crash of the student's code)."""


@dataclass
class Data:
    """What module mode's ``train(model, data, log)`` receives."""

    x_train: torch.Tensor | None
    y_train: torch.Tensor | None
    x_val: torch.Tensor | None
    y_val: torch.Tensor | None
    device: torch.device

    def __repr__(self) -> str:
        shape = None if self.x_train is None else tuple(self.x_train.shape)
        return f"Data(x_train={shape}, device={self.device})"


def load_data(folder: str, device: torch.device) -> Data:
    def tensor(name: str) -> torch.Tensor | None:
        path = os.path.join(folder, f"{name}.npy")
        if not os.path.exists(path):
            return None
        return torch.from_numpy(np.load(path, allow_pickle=False)).to(device)

    return Data(tensor("x_train"), tensor("y_train"), tensor("x_val"), tensor("y_val"), device)


def run_script(path: str, outcome: dict[str, Any]) -> torch.nn.Module:
    """Execute a student's script top to bottom; the model is found in its globals."""
    with open(path, "rb") as handle:
        source = handle.read()
    code = compile(source, path, "exec", dont_inherit=True)
    sys.argv = [path]
    # A real __main__ module, so pickling and `if __name__ == "__main__"` behave as at home;
    # its namespace stays with us even when a budget stops the script half-way.
    main = types.ModuleType("__main__")
    main.__file__ = path
    sys.modules["__main__"] = main
    namespace = main.__dict__
    outcome["namespace"] = namespace
    try:
        exec(code, namespace)
    except StopTraining as stop:
        outcome["reason"] = stop.reason
    except SystemExit as exit_:
        if exit_.code not in (None, 0):
            raise
    return find_model(namespace, gradekit._submitted)[1]


def run_module(
    path: str,
    data: Data,
    log: Any,
    outcome: dict[str, Any],
    point: Point | None = None,
    on_built: Callable[[torch.nn.Module], None] | None = None,
) -> torch.nn.Module:
    """Module mode: build_model() plus train(model, data, log) or a TRAINING dict.

    A sweep point's model settings go to build_model as keyword arguments, its training settings
    replace the TRAINING dict's (a student's own train() reads them from gradekit.params()).
    """
    directory, filename = os.path.split(path)
    name = os.path.splitext(filename)[0]
    sys.path.insert(0, directory)
    module = __import__(name)
    build = getattr(module, "build_model", None)
    if not callable(build):
        raise SubmissionError(f"{filename} has no build_model() function.")
    point = point or Point({}, 0, lambda *args, **fields: None)
    try:
        model = point.build(build)
    except ParamsError as exc:
        raise SubmissionError(str(exc)) from None
    if not isinstance(model, torch.nn.Module):
        raise SubmissionError(
            f"build_model() returned {type(model).__name__}; it must return a torch.nn.Module."
        )
    point.prepare(model)
    if on_built is not None:
        on_built(model)  # its size is known before any training: over the budget, it stops here
    model = calls.move(model, data.device)
    train = getattr(module, "train", None)
    spec = getattr(module, "TRAINING", None)
    if train is not None and spec is not None:
        raise SubmissionError(f"{filename} defines both train() and TRAINING: keep one of them.")
    try:
        if callable(train):
            point.announce()
            result = train(model, data, log)
            if isinstance(result, torch.nn.Module):
                model = result
        elif isinstance(spec, dict):
            try:
                train_with_spec(model, data, _overridden(spec, point), announce=point.announce)
            except TrainingSpecError as exc:
                raise SubmissionError(str(exc)) from None
        else:
            raise SubmissionError(
                f"{filename} defines build_model() but neither train(model, data, log) nor a "
                "TRAINING dict, so nothing would train the model. Add one of the two."
            )
    except StopTraining as stop:
        outcome["reason"] = stop.reason
    return model


def _overridden(spec: dict[str, Any], point: Point) -> dict[str, Any]:
    try:
        return point.train_with(spec)
    except ParamsError as exc:
        raise SubmissionError(str(exc)) from None


__all__ = ["Data", "NoModel", "SubmissionError", "load_data", "run_module", "run_script"]
