"""What the loss was, read off the autograd graph at ``backward()`` on a sampled step.

``loss.grad_fn`` tells which loss function made the loss, module or functional alike (nn.MSELoss
and F.mse_loss both leave an ``MseLossBackward0``), and its node keeps what the loss was given: the
predictions, the targets and the reduction. The nodes before it tell what shaped the predictions
(a sigmoid or a softmax before ``CrossEntropyLoss``, a broadcast before ``MSELoss``). Nothing of
torch is replaced to see this: code compiled with torch.jit, pickled references to torch's
functions and torch's own warnings are exactly as without the grader.
"""

from __future__ import annotations

from typing import Any

import torch

# The autograd node a loss function leaves, by the loss module's name.
NODES = {
    "MseLossBackward0": "MSELoss", "NllLossBackward0": "NLLLoss", "BinaryCrossEntropyBackward0": "BCELoss",
    "BinaryCrossEntropyWithLogitsBackward0": "BCEWithLogitsLoss", "SmoothL1LossBackward0": "SmoothL1Loss",
    "HuberLossBackward0": "HuberLoss",
}  # fmt: skip
REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}
# Nodes that only reshape, select, scale or reduce: looked through on the way to what matters.
THROUGH = ("View", "Reshape", "Squeeze", "Unsqueeze", "TBackward", "Permute", "Transpose", "Slice", "Select",
           "Clone", "Expand", "Mean", "Sum", "Mul", "Div", "ToCopy", "Alias", "Unsafe")  # fmt: skip
SQUASHES = {"SigmoidBackward0": "sigmoid", "SoftmaxBackward0": "softmax"}
MAX_NODES = 24


def _name(node: Any) -> str:
    return type(node).__name__


def _inputs(node: Any) -> list[Any]:
    return [n for n, _ in getattr(node, "next_functions", ()) if n is not None]


def _find_loss(root: Any) -> Any:
    """The loss function's node: the loss itself, or reached through a mean, a sum or a scaling."""
    frontier, seen = [root], 0
    while frontier and seen < MAX_NODES:
        node = frontier.pop(0)
        seen += 1
        if _name(node) in NODES:
            return node
        if _name(node).startswith(THROUGH):
            frontier.extend(_inputs(node))
    return None


def _before(node: Any) -> tuple[Any, list[int] | None]:
    """The first node that computes something before ``node``'s input, and the shape the input had
    before a broadcast (when the loss broadcast it)."""
    original: list[int] | None = None
    current = _inputs(node)[:1]
    for _ in range(8):
        if not current:
            return None, original
        node = current[0]
        name = _name(node)
        if name.startswith("Expand") and original is None:
            sizes = getattr(node, "_saved_self_sym_sizes", None)
            original = [int(s) for s in sizes] if sizes is not None else None
        if not name.startswith(THROUGH):
            return node, original
        current = _inputs(node)[:1]
    return None, original


def read(loss: torch.Tensor) -> dict[str, Any] | None:
    """The loss's record for the probes, or None when no known loss function made it."""
    node = _find_loss(loss.grad_fn) if loss.grad_fn is not None else None
    if node is None:
        return None
    cls = NODES[_name(node)]
    prediction: torch.Tensor = node._saved_self
    target: torch.Tensor = node._saved_target
    maker, unbroadcast = _before(node)
    squash = ""
    values: torch.Tensor | None = prediction
    if cls == "NLLLoss" and maker is not None and _name(maker) == "LogSoftmaxBackward0":
        cls = "CrossEntropyLoss"  # cross_entropy is log_softmax then nll_loss
        maker, _ = _before(maker)
        values = None  # the scores before the log-softmax are not kept: only a squash's output is
    if maker is not None and _name(maker) in SQUASHES:
        squash = SQUASHES[_name(maker)]
        values = maker._saved_result
    record: dict[str, Any] = {
        "cls": cls,
        "reduction": REDUCTIONS.get(int(getattr(node, "_saved_reduction", 1)), "mean"),
        "prediction_shape": unbroadcast or list(prediction.shape),
        "target_shape": list(target.shape),
        "target_dtype": str(target.dtype).replace("torch.", ""),
        "squashed_by": squash,
    }
    if unbroadcast is not None and unbroadcast != list(prediction.shape):
        record["broadcast_to"] = list(prediction.shape)
    if values is not None and values.numel():
        flat = values.detach().float()
        record["prediction_min"], record["prediction_max"] = float(flat.min()), float(flat.max())
        if squash == "softmax" and flat.dim() == 2:
            sums = flat.sum(1)
            record["rows_sum_to_one"] = bool(torch.allclose(sums, torch.ones_like(sums), atol=1e-3))
    if target.is_floating_point() and target.numel() > 1:
        # The targets as the loss got them: scaled ones (a StandardScaler on y) differ from the task's.
        flat = target.detach().float().reshape(-1)
        record["target_mean"], record["target_std"] = float(flat.mean()), float(flat.std())
    return record
