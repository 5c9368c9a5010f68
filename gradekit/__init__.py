"""The student-facing helpers of the grader, small on purpose.

    from gradekit import submit, load_training_data, params

    x_train, y_train = load_training_data()   # the assignment's public training set
    lr = params().get("lr", 1e-3)             # this sweep point's settings ({} when not a sweep)
    ...
    submit(model)                             # only needed when the grader cannot tell
    submit(model, inputs=scaler.transform)    # scaling outside the model: the grader applies it too

Outside the grader, ``submit`` does nothing, ``load_training_data`` reads the
files the grader's ``grader data ASSIGNMENT`` command writes (or the path in
``GRADEKIT_DATA``) and ``params`` reads a JSON object from ``GRADEKIT_PARAMS``
(``{}`` without it), so the same script runs unchanged on a laptop.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

__all__ = ["load_training_data", "params", "submit"]

_submitted: list[Any] = []
# The scaling a script does outside its model, by the model it belongs to: (model, inputs, outputs).
_transforms: list[tuple[Any, Any, Any]] = []
_data_dir: str | None = None
_device: str = "cpu"
_params: dict[str, Any] | None = None  # set by the grader; None outside it
_params_read = False  # whether the code asked for its settings (the grader warns a sweep that never did)


def submit(model: Any, *, inputs: Any = None, outputs: Any = None) -> Any:
    """Name the model to be graded. Returns the model, so ``model = submit(Net())`` works.

    ``inputs``: a function the grader applies to the raw inputs before your model sees them, when
    your script scales them outside the model (``inputs=scaler.transform`` for a scikit-learn
    scaler). ``outputs``: one it applies to your model's outputs (``outputs=y_scaler.inverse_transform``
    when you trained on scaled targets). They get and may return numpy arrays (2-D) or tensors.
    """
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is always present in the grader
        return model
    if not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"submit() expects your torch.nn.Module, got {type(model).__name__}. "
            "Pass the model object itself, e.g. submit(model)."
        )
    for name, function in (("inputs", inputs), ("outputs", outputs)):
        if function is not None and not callable(function):
            raise TypeError(
                f"submit({name}=...) expects a function, got {type(function).__name__}: pass the method "
                f"itself, without calling it, e.g. submit(model, {name}=scaler."
                f"{'transform' if name == 'inputs' else 'inverse_transform'})."
            )
    _submitted.append(model)
    if inputs is not None or outputs is not None:
        _transforms.append((model, inputs, outputs))
    return model


def transforms_of(model: Any) -> tuple[Any, Any]:
    """The ``inputs`` and ``outputs`` functions submitted with ``model`` (the last ones), or None."""
    for submitted, inputs, outputs in reversed(_transforms):
        if submitted is model:
            return inputs, outputs
    return None, None


def load_training_data() -> tuple[Any, Any]:
    """The assignment's public training set as two float32 tensors ``(x_train, y_train)``."""
    import numpy as np
    import torch

    folder = _data_dir or os.environ.get("GRADEKIT_DATA")
    if not folder:
        raise RuntimeError(
            "load_training_data() has no data here. Inside the grader it returns the "
            "assignment's public training set; on your own machine run "
            "`grader data ASSIGNMENT` and set GRADEKIT_DATA to the folder it prints."
        )
    x_path = os.path.join(folder, "x_train.npy")
    if not os.path.exists(x_path):
        raise RuntimeError(
            "This assignment hands out no training data: make your own from the target "
            "function given in the assignment's description."
        )
    x = np.load(x_path, allow_pickle=False)
    y = np.load(os.path.join(folder, "y_train.npy"), allow_pickle=False)
    return torch.from_numpy(x).to(_device), torch.from_numpy(y).to(_device)


def params() -> dict[str, Any]:
    """This run's settings when it is one point of a sweep, e.g. ``{"lr": 0.01, "hidden": 32}``.

    An empty dict when the run is no sweep point, so ``params().get("lr", 0.01)`` gives your own
    default then. A copy: changing it changes nothing for the grader.
    """
    global _params_read
    _params_read = True
    if _params is not None:
        return copy.deepcopy(_params)
    raw = os.environ.get("GRADEKIT_PARAMS")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ValueError(
            "GRADEKIT_PARAMS must hold a JSON object of settings, e.g. "
            '{"lr": 0.01, "hidden": 32}; unset it to get {} from params().'
        )
    return value


def _configure(data_dir: str | None, device: str, params: dict[str, Any] | None = None) -> None:
    """Called by the grader's harness before the student's code runs."""
    global _data_dir, _device, _params, _params_read
    _data_dir = data_dir
    _device = device
    _params = dict(params or {})
    _params_read = False
    _submitted.clear()
    _transforms.clear()
