"""The checks on the trained model, on public validation inputs, before any hidden input arrives.

One observed call of the model, as the evaluation will make it (eval mode, no gradients, the
student's ``submit(inputs=..., outputs=...)`` around it), records:

* the outputs (the last point of the held-out curve; the host reads the output convention and
  scale off them against the public targets);
* which operations ran, functional ones included (``F.relu``, ``torch.sigmoid``, ``x.tanh()``), and
  the last one that shapes the output, through a ``TorchFunctionMode``;
* what reached the first weighted layer, to set against what reached it in training (inputs scaled
  outside the model in training and raw at evaluation);
* the exception, if the model raises: its type, message and the student's line. When the model
  later fails on the evaluation inputs, this message is the one shown (nothing said after hidden
  inputs entered the sandbox ever reaches a person).

Then whether the model is an affine map: f(a·u + (1−a)·v) = a·f(u) + (1−a)·f(v).
Every call is bounded by ``calls.time_budget``.
"""

from __future__ import annotations

import traceback
from collections import deque
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from . import calls

WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Bilinear)
# How torch names what a forward pass calls (modules call the same functions): layers that apply a
# weight, arithmetic that keeps a map affine, and operations that only move or copy numbers. Anything
# else (relu, sigmoid, log, norm, where, a product of two activations...) counts as nonlinear.
LAYERS = {"linear", "conv1d", "conv2d", "conv3d", "bilinear", "addmm", "matmul", "__matmul__", "mm", "bmm",
          "baddbmm", "einsum"}  # fmt: skip
ARITHMETIC = {"__add__", "__radd__", "add", "__sub__", "__rsub__", "sub", "__mul__", "__rmul__", "mul",
              "__truediv__", "div", "__neg__", "neg", "sum", "mean", "batch_norm", "dropout", "alpha_dropout",
              "feature_alpha_dropout", "dropout1d", "dropout2d", "dropout3d"}  # fmt: skip
NEUTRAL = {"view", "reshape", "flatten", "squeeze", "unsqueeze", "permute", "transpose", "t", "contiguous",
           "__getitem__", "cat", "concat", "stack", "split", "chunk", "expand", "expand_as", "repeat", "to",
           "float", "double", "half", "type", "detach", "clone", "size", "dim", "numel", "__len__", "__get__",
           "cpu", "cuda", "numpy", "tolist", "item", "__format__", "__repr__", "__bool__", "__iter__",
           "unbind", "narrow", "select", "identity", "ones_like", "zeros_like", "full_like", "new_tensor",
           "new_zeros", "new_ones", "is_floating_point", "requires_grad_", "_has_compatible_shallow_copy_type",
           "__torch_function__", "dtype", "device", "shape", "data", "ndim", "__hash__", "__eq__", "from_numpy",
           "as_tensor", "tensor", "asarray"}  # fmt: skip
PRODUCTS = {"__mul__", "__rmul__", "mul", "__truediv__", "div", "__rtruediv__", "matmul", "__matmul__", "mm",
            "bmm", "einsum"}  # fmt: skip
MAX_STATS_FEATURES = 16
KEEP_OPS = 64  # the last operations, for the one that shapes the output


def _activations(args: Any, kwargs: Any) -> int:
    """How many of a call's tensor arguments are computed values (not parameters, not single numbers)."""
    values = [*args, *(kwargs or {}).values()]
    return sum(
        1 for a in values if isinstance(a, torch.Tensor) and not isinstance(a, nn.Parameter) and a.numel() > 1
    )


class _Ops(TorchFunctionMode):
    """What one forward pass calls, in order: its nonlinear operations, the last few, and whether anything
    nonlinear ran before the last layer that applies a weight."""

    def __init__(self) -> None:
        super().__init__()
        self.nonlinear: set[str] = set()
        self.recent: deque[str] = deque(maxlen=KEEP_OPS)
        self.nonlinear_since_layer = False  # a nonlinear op after the latest weighted layer
        self.nonlinear_inside = False  # a nonlinear op before some weighted layer
        self.recording = True  # off while the harness's own hooks compute their statistics

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if self.recording:
            name = str(getattr(func, "__name__", ""))[:40] or "?"
            if name.endswith("_") and not name.endswith("__"):
                name = name[:-1]  # in place (relu_) or not, the same operation
            if name in PRODUCTS and _activations(args, kwargs) >= 2:
                name = "product"  # x * x, h @ h.T: nonlinear in the input
            self._seen(name)
        return func(*args, **(kwargs or {}))

    def _seen(self, name: str) -> None:
        if name in NEUTRAL:
            return
        self.recent.append(name)
        if name in LAYERS:
            self.nonlinear_inside = self.nonlinear_inside or self.nonlinear_since_layer
            self.nonlinear_since_layer = False
        elif name not in ARITHMETIC:
            self.nonlinear.add(name)
            self.nonlinear_since_layer = True


def input_stats(x: torch.Tensor) -> dict[str, Any]:
    flat = (
        x.detach().float().reshape(x.shape[0], -1)[:, :MAX_STATS_FEATURES]
        if x.dim() >= 2
        else x.detach().float()[:, None]
    )
    return {
        "mean": flat.mean(0).tolist(),
        "std": flat.std(0, unbiased=False).tolist() if flat.shape[0] > 1 else [0.0] * flat.shape[1],
        "min": flat.min(0).values.tolist(),
        "max": flat.max(0).values.tolist(),
        "features": int(x[0].numel()) if x.dim() >= 1 and x.shape[0] else 0,
        "rows": int(x.shape[0]) if x.dim() else 1,
    }


def _student_error(exc: BaseException, workdir: str | None) -> dict[str, Any]:
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if workdir and f.filename.startswith(workdir + "/")
    ]
    data: dict[str, Any] = {"type": type(exc).__name__[:100], "message": str(exc)[:600]}
    if frames:
        data |= {
            "file": frames[-1].filename,
            "line": frames[-1].lineno or 0,
            "code": (frames[-1].line or "")[:200],
        }
    return data


def observe(
    model: nn.Module,
    inputs: torch.Tensor,
    transforms: calls.Transforms,
    seconds: float | None,
    workdir: str | None,
) -> tuple[torch.Tensor | None, dict[str, Any]]:
    """The model's outputs on ``inputs`` as the evaluation computes them, and what was seen on the way."""
    seen: dict[str, Any] = {}
    leaves: list[str] = []
    ops = _Ops()

    def before(module: nn.Module, args: tuple[Any, ...]) -> None:
        if "first_layer_eval" not in seen and isinstance(module, WEIGHTED) and args:
            given = args[0]
            if isinstance(given, torch.Tensor) and given.dim() >= 1 and given.shape[0] > 0:
                ops.recording = False
                try:
                    seen["first_layer_eval"] = {"layer": type(module).__name__, **input_stats(given)}
                finally:
                    ops.recording = True

    def after(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if not calls.children(module) and not isinstance(module, nn.modules.loss._Loss):
            leaves.append(type(module).__name__)

    handles = [
        nn.modules.module.register_module_forward_pre_hook(before),
        nn.modules.module.register_module_forward_hook(after),
    ]
    out: torch.Tensor | None = None
    try:
        with calls.evaluating(model), calls.time_budget(seconds, "the trained model's forward()"), ops:
            out = calls.predict(model, inputs, transforms)
    except calls.HarnessStop:
        raise
    except Exception as exc:  # noqa: BLE001 - the student's model failed: recorded, shown if evaluation fails too
        seen["model_call_error"] = _student_error(exc, workdir)
    finally:
        for handle in handles:
            handle.remove()
    seen["ops"] = sorted(ops.nonlinear)[:40]
    seen["last_op"] = ops.recent[-1] if ops.recent else ""
    # A linear map with only a squashing at its end (a sigmoid, a softmax) still draws a straight
    # decision boundary: what matters is whether anything nonlinear ran before its last layer.
    seen["nonlinear_inside"] = ops.nonlinear_inside
    seen["last_module"] = leaves[-1] if leaves else ""
    return out, seen


def _logits(out: torch.Tensor, squash: str) -> torch.Tensor:
    """Scores with the model's final squashing undone: what a linear classifier's are affine in."""
    flat = out.reshape(len(out), -1).double()
    if squash == "log_softmax":
        return flat - flat[:, :1]
    if squash in ("sigmoid", "softmax"):
        p = flat.clamp(1e-7, 1 - 1e-7)
        return torch.log(p) - (torch.log1p(-p) if flat.shape[1] == 1 else torch.log(p[:, :1]))
    return flat


def _deviation(mixed: torch.Tensor, fu: torch.Tensor, fv: torch.Tensor, a: float) -> float:
    """How far f(a·u + (1−a)·v) is from a·f(u) + (1−a)·f(v), relative to the outputs' size."""
    scale = max(float(torch.cat([fu, fv]).abs().max()), 1e-3)
    return float((mixed - (a * fu + (1 - a) * fv)).abs().max()) / scale


def affine(
    model: nn.Module,
    inputs: torch.Tensor,
    transforms: calls.Transforms,
    seconds: float | None,
    squash: str = "",
) -> dict[str, Any]:
    """Whether the trained model is an affine map, on pairs of public inputs; ``squash``, the operation
    that ended its forward pass (sigmoid, softmax, log_softmax), is undone for the logits' test."""
    try:
        with calls.evaluating(model), calls.time_budget(seconds, "the trained model's forward()"):
            u, v = inputs[:64], inputs.flip(0)[:64]
            a = 0.3
            mixed = calls.predict(model, a * u + (1 - a) * v, transforms).float()
            fu, fv = calls.predict(model, u, transforms).float(), calls.predict(model, v, transforms).float()
            outputs = torch.cat([fu, fv])
            # Outputs all within rounding of zero (a model that learnt a constant 0) are not a scale
            # to measure the deviation against: their noise would pass for a nonlinearity.
            scale = max(float(outputs.abs().max()), 1e-3)
            spread = float(outputs.std(0).max()) / scale if len(outputs) > 1 else 0.0
        return {
            "affine_deviation": _deviation(mixed, fu, fv, a),
            "logit_affine_deviation": _deviation(
                _logits(mixed, squash), _logits(fu, squash), _logits(fv, squash), a
            ),
            "output_spread": spread,
        }
    except calls.HarnessStop:
        raise
    except Exception:  # noqa: BLE001 - the model may not take these inputs; then no claim is made
        return {}
