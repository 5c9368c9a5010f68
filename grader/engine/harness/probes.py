"""What the diagnoses need beyond the curves: a look inside a few sampled training steps.

A global forward hook is armed for one step now and then (the first steps, then every
``SAMPLE_EVERY``), never on every step, so the look costs next to nothing. It records the statistics
of the inputs reaching the first layer (pooled over the sampled steps) and how many ReLU units are
silent; at the step's backward, what the loss was given, read off its autograd graph (``losses``:
the loss's class, reduction, the shapes and ranges of predictions and targets, at the first sampled
step and the latest). The first time a model runs, its weights are remembered (``effect``). The
checks on the final model are in ``final``. Each probe is sent as one small ``probe`` record; the
host treats them as claims.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from . import calls, final, losses

Send = Callable[..., None]

SAMPLE_FIRST = 3
SAMPLE_EVERY = 250
HELDOUT_POINTS = 256  # public validation inputs predicted at each sampled step (the held-out curve)
MAX_HELDOUT_VALUES = 4096
WEIGHTED = final.WEIGHTED


def _tracing() -> bool:
    """The student's torch.jit.trace is running: the probes keep out of what it records."""
    return bool(torch._C._get_tracing_state())


class Probes:
    def __init__(
        self,
        send: Send,
        enabled: bool = True,
        heldout: torch.Tensor | None = None,
        on_root: Callable[[nn.Module], None] | None = None,
        call_seconds: float | None = calls.CALL_SECONDS,
    ) -> None:
        self.send = send
        self.enabled = enabled  # off only in the benchmark that measures what the probes cost
        self.heldout = heldout[:HELDOUT_POINTS] if heldout is not None else None
        self.on_root = on_root  # a model seen running for the first time (its weights are remembered)
        self.call_seconds = call_seconds
        self.step = 0
        self._handle: Any = None
        self._pre_handle: Any = None
        self._depth = 0
        self._root: nn.Module | None = None  # the outermost module of the sampled forward pass
        self._roots_seen: list[weakref.ref[nn.Module]] = []
        self._sampled = False
        self._paused = False
        self.looking = False  # armed and not paused: the backward coming is the student's sampled step's
        self._first_layer_seen = False
        self._last_leaf = ""
        self.losses: dict[str, dict[str, Any]] = {}
        self._inputs: dict[str, Any] | None = None  # the first layer's inputs, pooled over sampled steps
        self.silent: dict[int, float] = {}
        self.chained: set[tuple[int, int]] = set()  # Linear layers fed straight from another's output
        self._previous_linear: tuple[int, Any, int] | None = None

    # -- sampled steps --------------------------------------------------------
    def arm(self) -> None:
        if self._handle is None and self.enabled:
            self._sampled = True
            self._first_layer_seen = False
            self._depth = 0
            self._pre_handle = nn.modules.module.register_module_forward_pre_hook(self._enter)
            self._handle = nn.modules.module.register_module_forward_hook(self._hook)
            self.looking = not self._paused

    def disarm(self) -> None:
        self._previous_linear = None
        self.looking = False
        for handle in (self._handle, self._pre_handle):
            if handle is not None:
                handle.remove()
        self._handle = self._pre_handle = None

    @property
    def root(self) -> nn.Module | None:
        """The model a script trains, as far as a sampled forward pass has shown it."""
        return self._root

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The platform's own forward passes (early stopping's looks) are not the student's step."""
        self._paused, looking, self.looking = True, self.looking, False
        try:
            yield
        finally:
            self._paused, self.looking = False, looking

    def seen_backward(self, loss: torch.Tensor) -> None:
        """The sampled step's forward pass is over: read what the loss was given, and stop looking
        (a loop with no optimizer step too)."""
        if self._handle is None:
            return
        if self.looking and loss.numel() == 1:
            try:
                record = losses.read(loss)
                if record is not None:
                    self._loss(record)
            except Exception:  # noqa: BLE001 - a probe must never break the student's training
                pass
        self.disarm()

    def after_step(self, step: int) -> None:
        """Called after each optimizer step: arm for the coming step when it is a sampled one."""
        self.step = step
        if not self._sampled and step >= SAMPLE_FIRST and step % SAMPLE_EVERY:
            return  # the common case, kept cheap: nothing was sampled and nothing will be
        sampled, self._sampled = self._sampled, False
        self.disarm()
        if sampled and self._root is not None:
            self.predict_heldout(self._root, step)
        if step < SAMPLE_FIRST or step % SAMPLE_EVERY == 0:
            self.arm()

    def _enter(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if not self._paused and not _tracing():
            self._depth += 1

    def predict_heldout(self, model: nn.Module, step: int) -> None:
        """The model's predictions on public validation inputs; the host scores them (a held-out curve).

        Made as the evaluation makes them (``calls.predict``, with the student's submitted transforms
        once known), within the call budget; a model that hangs here stops the run with that said.
        """
        if self.heldout is None or not self.enabled:
            return
        try:
            transforms = calls.transforms_of(model)
            with calls.evaluating(model), calls.time_budget(self.call_seconds, "the model's forward()"):
                out = calls.predict(model, self.heldout, transforms)
            self.send_heldout(out, step)
        except calls.HarnessStop:
            raise
        except Exception:  # noqa: BLE001 - a curve is a courtesy; the training goes on regardless
            pass

    def send_heldout(self, out: torch.Tensor | None, step: int, final: bool = False) -> None:
        if isinstance(out, torch.Tensor) and 0 < out.numel() <= MAX_HELDOUT_VALUES:
            values = out.detach().float().cpu().tolist()
            self.send("heldout", step=int(step), values=values)
            if final:
                self.send("final_outputs", values=values)

    def _hook(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if self._paused or _tracing():
            return  # the platform's own passes; the student's torch.jit.trace must not record the probes
        self._depth = max(0, self._depth - 1)
        if self._depth == 0 and not isinstance(module, nn.modules.loss._Loss):
            self._root = module
            known = any(seen() is module for seen in self._roots_seen) or len(self._roots_seen) >= 64
            if not known and self.on_root is not None:
                self._roots_seen.append(weakref.ref(module))
                self.on_root(module)
        try:
            if isinstance(module, WEIGHTED) and args:
                self._weighted(module, args[0], output)
            elif not calls.children(module) and not isinstance(module, nn.modules.loss._Loss):
                self._previous_linear = None  # something ran between two Linear layers
            if (
                isinstance(module, nn.ReLU)
                and isinstance(output, torch.Tensor)
                and output.dim() >= 2
                and len(output) >= 16
            ):
                silent = (output.detach().reshape(output.shape[0], -1) <= 0).all(0).float().mean()
                self.silent[id(module)] = float(silent)
            if not calls.children(module) and not isinstance(module, nn.modules.loss._Loss):
                self._last_leaf = type(module).__name__
        except Exception:  # noqa: BLE001 - a probe must never break the student's training
            pass

    def _weighted(self, module: nn.Module, given: Any, output: Any) -> None:
        if not self._first_layer_seen:
            self._first_layer_seen = True
            if isinstance(given, torch.Tensor) and given.dim() >= 1 and given.shape[0] > 0:
                self._pool_inputs(module, given)
        if isinstance(module, nn.Linear):
            # The very tensor another Linear returned, unchanged since (an in-place activation would have
            # bumped its version): nothing happened in between.
            previous = self._previous_linear
            if (
                previous is not None
                and given is previous[1]
                and getattr(given, "_version", -1) == previous[2]
            ):
                self.chained.add((previous[0], id(module)))
            self._previous_linear = (id(module), output, getattr(output, "_version", -2))

    def _pool_inputs(self, module: nn.Module, given: torch.Tensor) -> None:
        """The first layer's inputs over all sampled steps: one batch may show only part of the data."""
        stats = final.input_stats(given)
        pooled = self._inputs
        if (
            pooled is None
            or pooled["features"] != stats["features"]
            or len(pooled["mean"]) != len(stats["mean"])
        ):
            self._inputs = {"layer": type(module).__name__, "step": self.step, **stats, "batches": 1}
            return
        n, m = pooled["rows"], stats["rows"]
        total = n + m
        means, variances = [], []
        for mean_a, std_a, mean_b, std_b in zip(
            pooled["mean"], pooled["std"], stats["mean"], stats["std"], strict=True
        ):
            mean = (n * mean_a + m * mean_b) / total
            variance = (n * (std_a**2 + (mean_a - mean) ** 2) + m * (std_b**2 + (mean_b - mean) ** 2)) / total
            means.append(mean)
            variances.append(variance)
        pooled |= {
            "mean": means,
            "std": [v**0.5 for v in variances],
            "min": [min(a, b) for a, b in zip(pooled["min"], stats["min"], strict=True)],
            "max": [max(a, b) for a, b in zip(pooled["max"], stats["max"], strict=True)],
            "rows": total,
            "batches": pooled["batches"] + 1,
        }

    def _loss(self, record: dict[str, Any]) -> None:
        cls = record["cls"]
        low, high = record.get("prediction_min"), record.get("prediction_max")
        if cls in self.losses:  # the first call shows the set-up; the latest, where training got to
            self.losses[cls] |= {"last_step": self.step, "last_min": low, "last_max": high}
            return
        self.losses[cls] = record | {
            "output_module": self._last_leaf, "step": self.step,
            "last_step": self.step, "last_min": low, "last_max": high,
        }  # fmt: skip

    # -- at the end -------------------------------------------------------------
    def report(self, model: nn.Module) -> dict[str, Any]:
        """Send what the sampled steps saw; the ``final_model`` fields they contribute."""
        self.disarm()
        for name, data in self.losses.items():
            self.send("probe", name=f"loss/{name}"[:100], data=data)
        if self._inputs is not None:
            self.send("probe", name="first_layer_input", data=self._inputs)
        names = {id(m): n for n, m in calls.named_modules(model)}
        leaves = [m for m in calls.modules(model) if not calls.children(m)]
        return {
            "linear_layers": sum(isinstance(m, nn.Linear) for m in leaves),
            "activations": sorted(
                {
                    type(m).__name__
                    for m in leaves
                    if type(m).__module__.startswith("torch.nn.modules.activation")
                }
            ),
            "silent_relu": {names[i]: round(v, 4) for i, v in self.silent.items() if i in names},
            "chained_linear": sorted(
                [names[a], names[b]] for a, b in self.chained if a in names and b in names
            )[:20],
            "device": str(calls.device_of(model).type),
        }
