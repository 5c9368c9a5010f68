"""What the diagnoses need beyond the curves: a look inside a few sampled training steps and the final model.

A global forward hook is armed for one step now and then (the first steps, then
every ``SAMPLE_EVERY``), never on every step, so the look costs next to nothing.
It records what the loss functions were given (their class, reduction and the
shapes and ranges of predictions and targets), the statistics of the inputs
reaching the first layer, and how many ReLU units are silent. After training,
the final model is probed once on public inputs: whether it is an affine map
(Linear layers with no nonlinearity between them), its last layer, and dead units.
Each probe is sent as one small ``probe`` record; the host treats them as claims.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

Send = Callable[..., None]

SAMPLE_FIRST = 3
SAMPLE_EVERY = 250
MAX_FEATURES = 16
HELDOUT_POINTS = 256  # public validation inputs predicted at each sampled step (the held-out curve)
MAX_HELDOUT_VALUES = 4096
WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Bilinear)
ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Mish)


def _stats(x: torch.Tensor) -> dict[str, Any]:
    flat = (
        x.detach().float().reshape(x.shape[0], -1)[:, :MAX_FEATURES]
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


class Probes:
    def __init__(self, send: Send, enabled: bool = True, heldout: torch.Tensor | None = None) -> None:
        self.send = send
        self.enabled = enabled  # off only in the benchmark that measures what the probes cost
        self.heldout = heldout[:HELDOUT_POINTS] if heldout is not None else None
        self.step = 0
        self._handle: Any = None
        self._pre_handle: Any = None
        self._depth = 0
        self._root: nn.Module | None = None  # the outermost module of the sampled forward pass
        self._sampled = False
        self._paused = False
        self._first_layer_seen = False
        self._last_leaf = ""
        self.losses: dict[str, dict[str, Any]] = {}
        self.first_layer: dict[str, Any] | None = None
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

    def disarm(self) -> None:
        self._previous_linear = None
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
        self._paused = True
        try:
            yield
        finally:
            self._paused = False

    def seen_backward(self) -> None:
        """The sampled step's forward pass is over: stop looking (a loop with no optimizer step too)."""
        if self._handle is not None:
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
        if not self._paused:
            self._depth += 1

    def predict_heldout(self, model: nn.Module, step: int) -> None:
        """The model's predictions on public validation inputs; the host scores them (a held-out curve).

        Eval mode and no_grad, every module's mode restored after: the student's training goes on
        exactly as it would have (no RNG is drawn, no BatchNorm statistic moves).
        """
        if self.heldout is None or not self.enabled:
            return
        modes = {m: m.training for m in model.modules()}
        try:
            model.eval()
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                device = next((p.device for p in model.parameters()), torch.device("cpu"))
                out = model(self.heldout.to(device))
            if isinstance(out, torch.Tensor) and 0 < out.numel() <= MAX_HELDOUT_VALUES:
                self.send("heldout", step=int(step), values=out.detach().float().cpu().tolist())
        except Exception:  # noqa: BLE001 - a curve is a courtesy; the training goes on regardless
            pass
        finally:
            for module, mode in modes.items():
                module.train(mode)

    def _hook(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if self._paused:
            return
        self._depth = max(0, self._depth - 1)
        if self._depth == 0 and not isinstance(module, nn.modules.loss._Loss):
            self._root = module
        try:
            if isinstance(module, nn.modules.loss._Loss):
                self._loss(module, args, output)
            elif isinstance(module, WEIGHTED) and args:
                self._weighted(module, args[0], output)
            elif not list(module.children()):
                self._previous_linear = None  # something ran between two Linear layers
            if (
                isinstance(module, nn.ReLU)
                and isinstance(output, torch.Tensor)
                and output.dim() >= 2
                and len(output) >= 16
            ):
                silent = (output.detach().reshape(output.shape[0], -1) <= 0).all(0).float().mean()
                self.silent[id(module)] = float(silent)
            if not list(module.children()) and not isinstance(module, nn.modules.loss._Loss):
                self._last_leaf = type(module).__name__
        except Exception:  # noqa: BLE001 - a probe must never break the student's training
            pass

    def _weighted(self, module: nn.Module, given: Any, output: Any) -> None:
        if not self._first_layer_seen:
            self._first_layer_seen = True
            if isinstance(given, torch.Tensor) and given.dim() >= 1 and given.shape[0] > 0:
                self.first_layer = {"layer": type(module).__name__, "step": self.step, **_stats(given)}
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

    def _loss(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if len(args) < 2 or not all(isinstance(a, torch.Tensor) for a in args[:2]):
            return
        prediction, target = args[0].detach(), args[1].detach()
        record: dict[str, Any] = {
            "cls": type(module).__name__,
            "reduction": str(getattr(module, "reduction", "")),
            "prediction_shape": list(prediction.shape),
            "target_shape": list(target.shape),
            "prediction_min": float(prediction.float().min()) if prediction.numel() else 0.0,
            "prediction_max": float(prediction.float().max()) if prediction.numel() else 0.0,
            "output_module": self._last_leaf,
            "step": self.step,
        }
        if prediction.dim() == 2 and prediction.shape[1] > 1 and prediction.numel():
            sums = prediction.float().sum(1)
            record["rows_sum_to_one"] = bool(torch.allclose(sums, torch.ones_like(sums), atol=1e-3))
        self.losses.setdefault(record["cls"], record)  # the first call shows the set-up
        self.losses[record["cls"]] = {**self.losses[record["cls"]], "last_step": self.step}

    # -- the final model --------------------------------------------------------
    def final(self, model: nn.Module, inputs: torch.Tensor | None) -> None:
        self.disarm()
        if not self.enabled:
            return
        self.predict_heldout(model, self.step)
        for name, data in self.losses.items():
            self.send("probe", name=f"loss/{name}"[:100], data=data)
        if self.first_layer is not None:
            self.send("probe", name="first_layer_input", data=self.first_layer)
        names = {id(m): n for n, m in model.named_modules()}
        leaves = [m for m in model.modules() if not list(m.children())]
        final: dict[str, Any] = {
            "linear_layers": sum(isinstance(m, nn.Linear) for m in leaves),
            "activations": sorted({type(m).__name__ for m in leaves if isinstance(m, ACTIVATIONS)}),
            "last_module": "",  # the last layer that runs (not the last declared): set by _affine
            "silent_relu": {names[i]: round(v, 4) for i, v in self.silent.items() if i in names},
            "chained_linear": sorted(
                [names[a], names[b]] for a, b in self.chained if a in names and b in names
            )[:20],
            "device": str(next((p.device.type for p in model.parameters()), "cpu")),
        }
        if inputs is not None and len(inputs) >= 8:
            final |= self._affine(model, inputs)
        self.send("probe", name="final_model", data=final)

    @staticmethod
    def _affine(model: nn.Module, inputs: torch.Tensor) -> dict[str, Any]:
        """Whether the trained model is an affine map: f(a·u + (1−a)·v) = a·f(u) + (1−a)·f(v)."""
        modes = {m: m.training for m in model.modules()}
        ran: list[str] = []

        def leaf(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            if not list(module.children()):
                ran.append(type(module).__name__)

        try:
            model.eval()
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                u, v = inputs[:64], inputs.flip(0)[:64]
                a = 0.3
                handle = nn.modules.module.register_module_forward_hook(leaf)
                try:
                    mixed = model(a * u + (1 - a) * v)
                finally:
                    handle.remove()
                expected = a * model(u) + (1 - a) * model(v)
                if not isinstance(mixed, torch.Tensor) or not isinstance(expected, torch.Tensor):
                    return {}
                outputs = torch.cat([model(u), model(v)]).float()
                scale = float(outputs.abs().max()) + 1e-12
                deviation = float((mixed - expected).float().abs().max()) / scale
                spread = float(outputs.std(0).max()) / scale if len(outputs) > 1 else 0.0
            return {
                "affine_deviation": deviation,
                "output_spread": spread,
                "last_module": ran[-1] if ran else "",
            }
        except Exception:  # noqa: BLE001 - the model may not take these inputs; then no claim is made
            return {}
        finally:
            for module, mode in modes.items():
                module.train(mode)
