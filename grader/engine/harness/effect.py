"""Did training change the model that is graded, and if not, what the counters say about why.

Beginners' loops fail silently in a handful of ways: ``loss.backward()`` never called, ``step()``
never called, the optimizer built over another model's parameters (the model re-created after the
optimizer), the loss cut off from the model (``.item()``, ``.detach()``, ``torch.tensor(...)``), an
optimizer created anew in every iteration. Each leaves a trace here: a few weights of every model
that ran a forward pass are remembered when it first runs and compared with the graded model's at
the end, the optimizers are counted as they are made and as they step, and steps that found no
gradient at all are counted. The host turns the ``training`` probe into a diagnosis with the line.

Parameters are tracked by id with a weak reference that confirms the object is still the same one
(tensors cannot be keys of weak containers: their ``==`` compares elements).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch

from . import calls

MAX_ROOTS = 4
MAX_PARAMETERS = 512  # per model remembered
SAMPLE_VALUES = 16
MAX_OPTIMIZERS_TRACKED = 20
# Optimizers whose state carries over from one step to the next: making one anew each step loses it.
STATEFUL = {
    "Adam",
    "AdamW",
    "Adamax",
    "NAdam",
    "RAdam",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "LBFGS",
    "SparseAdam",
}


def _positive(value: Any) -> bool:
    """A momentum setting that keeps state: a positive number, or a tuple or list holding one."""
    values = value if isinstance(value, (tuple, list)) else [value]
    return any(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values)


def _sample(param: torch.Tensor) -> torch.Tensor:
    flat = param.detach().reshape(-1)
    stride = max(1, flat.numel() // SAMPLE_VALUES)
    return flat[::stride][:SAMPLE_VALUES].clone()


class TrainingEffect:
    def __init__(self, where: Callable[[], dict[str, Any]]) -> None:
        self.where = where  # the student's line calling into us now
        self._first: dict[int, tuple[weakref.ref[torch.Tensor], torch.Tensor]] = {}
        self._roots: list[weakref.ref[torch.nn.Module]] = []
        self._stepped: dict[int, weakref.ref[torch.Tensor]] = {}  # parameters some optimizer held
        self._optimizers: weakref.WeakSet[torch.optim.Optimizer] = weakref.WeakSet()
        self.optimizers_stepped = 0
        self.optimizers_created = 0
        self.optimizer_class = ""
        self.stateful = False
        self.created_at: dict[str, Any] | None = None
        self.step_at: dict[str, Any] | None = None
        self.backward_at: dict[str, Any] | None = None
        self.steps_without_grad = 0

    # -- while training ---------------------------------------------------------
    def remember(self, root: torch.nn.Module) -> None:
        """A model's weights as they were when it first ran (before any step it takes)."""
        if len(self._roots) >= MAX_ROOTS or any(ref() is root for ref in self._roots):
            return
        self._roots.append(weakref.ref(root))
        for param in calls.parameters(root)[:MAX_PARAMETERS]:
            if isinstance(param, torch.nn.parameter.UninitializedParameter) or not param.numel():
                continue  # a lazy layer not run yet: nothing to remember
            known = self._first.get(id(param))
            if known is None or known[0]() is not param:  # an id can be reused once its object is gone
                self._first[id(param)] = (weakref.ref(param), _sample(param))

    def created(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizers_created += 1
        if self.created_at is None:
            self.created_at = self.where()
        name = type(optimizer).__name__
        self.optimizer_class = name
        momentum = any(_positive(g.get("momentum")) for g in getattr(optimizer, "param_groups", []))
        self.stateful = name in STATEFUL or momentum

    def backward(self) -> None:
        if self.backward_at is None:
            self.backward_at = self.where()

    def stepped(self, optimizer: torch.optim.Optimizer, found_gradient: bool) -> bool:
        """Count a step; True the first time this optimizer steps."""
        if self.step_at is None:
            self.step_at = self.where()
        if not found_gradient:
            self.steps_without_grad += 1
        if optimizer in self._optimizers:
            return False
        self._optimizers.add(optimizer)
        self.optimizers_stepped += 1
        if self.optimizers_stepped <= MAX_OPTIMIZERS_TRACKED:
            for group in optimizer.param_groups:
                for param in group["params"]:
                    self._stepped[id(param)] = weakref.ref(param)
        return True

    # -- at the end -------------------------------------------------------------
    def report(self, model: torch.nn.Module) -> dict[str, Any]:
        """The ``training`` probe: how much of the graded model's weights trained, and the counters."""
        params = [
            p
            for p in calls.parameters(model)
            if not isinstance(p, torch.nn.parameter.UninitializedParameter) and p.numel()
        ]
        remembered = [(p, self._first[id(p)]) for p in params if id(p) in self._first]
        known = [(p, first) for p, (ref, first) in remembered if ref() is p]
        changed = sum(1 for p, first in known if not torch.equal(_sample(p).to(first.device), first))
        held = sum(1 for p in params if (ref := self._stepped.get(id(p))) is not None and ref() is p)
        data: dict[str, Any] = {
            "parameters": len(params),
            "remembered": len(known),
            "changed": changed,
            "in_optimizer": held,
            "optimizers_created": self.optimizers_created,
            "optimizers_stepped": self.optimizers_stepped,
            "optimizer": self.optimizer_class,
            "stateful": self.stateful,
            "steps_without_grad": self.steps_without_grad,
            "models_seen": len(self._roots),
        }
        for name in ("created_at", "step_at", "backward_at"):
            value = getattr(self, name)
            if value:
                data[name] = value
        return data
