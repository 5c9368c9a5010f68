"""A sweep point's settings, applied to a run: TRAINING overrides, build_model(**kwargs), initialisation.

The host has checked the values already (``grader/engine/sweep_settings.py``). The harness may not import
that module (nothing of ``grader`` but this package is mounted in the sandbox), so the few names it
needs are repeated here; ``tests/test_sweep_runs.py`` asserts that both lists agree.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from . import calls
from .early_stop import EarlyStopper

Send = Callable[..., None]

TRAINING_SETTINGS = frozenset(
    {"lr", "optimizer", "momentum", "weight_decay", "batch_size", "steps", "epochs"}
)
MODEL_SETTINGS = frozenset({"hidden", "layers", "activation"})
INITS = ("default", "xavier", "he", "normal")
# What a student would write as the parameter's default, for the message that asks them to add it.
EXAMPLES = {"hidden": "32", "layers": "2", "activation": '"relu"'}
# Conv covers the transposed ones too: both are the layers whose initialisation a sweep compares.
INIT_LAYERS = (nn.Linear, nn.modules.conv._ConvNd)


class ParamsError(ValueError):
    """The submission cannot take this sweep point's settings; the message says what to change."""


def build_kwargs(build: Callable[..., Any], params: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The keyword arguments for ``build_model`` and whether ``init`` is among them (build_model takes it)."""
    wanted = {k: v for k, v in params.items() if k in MODEL_SETTINGS}
    try:
        signature = inspect.signature(build)
    except (TypeError, ValueError):
        return wanted, False  # cannot tell: the call itself will name what is wrong
    named = {
        name
        for name, p in signature.parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    any_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    missing = [name for name in sorted(wanted) if name not in named and not any_keyword]
    if missing:
        quoted = " and ".join(repr(name) for name in missing)
        defaults = ", ".join(f"{name}={EXAMPLES.get(name, '...')}" for name in missing)
        raise ParamsError(
            f"build_model() does not take {quoted}, which this sweep varies: write "
            f"def build_model({defaults}, ...) and build the model from {'them' if len(missing) > 1 else 'it'}."
        )
    # Only a parameter build_model names itself: a **kwargs catch-all did not ask for the initialisation.
    takes_init = "init" in params and "init" in named
    if takes_init:
        wanted["init"] = params["init"]
    return wanted, takes_init


def initialise(model: nn.Module, init: str, seed: int) -> int:
    """Re-initialise the Linear and Conv layers' weights (biases to zero); the count of layers done.

    A generator of its own, seeded with the run's seed: the same point with another ``init`` draws the
    same batches afterwards, so only the initialisation differs between them.
    """
    if init not in INITS or init == "default":
        return 0
    generators: dict[torch.device, torch.Generator] = {}
    done = 0
    with torch.no_grad():
        for module in calls.modules(model):
            weight = getattr(module, "weight", None)
            if not isinstance(module, INIT_LAYERS) or not isinstance(weight, torch.Tensor):
                continue
            if isinstance(weight, nn.parameter.UninitializedParameter):
                continue  # a lazy layer has no shape yet: it keeps its own initialisation
            generator = generators.get(weight.device)
            if generator is None:
                generator = torch.Generator(device=weight.device).manual_seed(seed % 2**63)
                generators[weight.device] = generator
            if init == "xavier":
                nn.init.xavier_uniform_(weight, generator=generator)
            elif init == "he":
                nn.init.kaiming_uniform_(weight, nonlinearity="relu", generator=generator)
            else:
                nn.init.normal_(weight, 0.0, 0.02, generator=generator)
            bias = getattr(module, "bias", None)
            if isinstance(bias, torch.Tensor):
                nn.init.zeros_(bias)
            done += 1
    return done


def training_spec(spec: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The module's TRAINING dict with the point's training settings in place of its own."""
    training = {k: v for k, v in params.items() if k in TRAINING_SETTINGS}
    if "steps" in training and "epochs" in training:
        raise ParamsError(
            "This sweep point sets both 'steps' and 'epochs': a sweep may set one of them; drop the other."
        )
    # A point's length replaces the module's, whichever way either is counted, so the two never clash.
    length = {"steps", "epochs"} if {"steps", "epochs"} & training.keys() else set()
    return {k: v for k, v in spec.items() if k not in length} | training


class Point:
    """One run's sweep settings (empty when the run is no sweep point) and its early stopping."""

    def __init__(
        self, params: dict[str, Any], seed: int, send: Send, stopper: EarlyStopper | None = None
    ) -> None:
        self.params = dict(params)
        self.seed = seed
        self.send = send
        self.stopper = stopper
        self.kwargs: dict[str, Any] = {}
        self.init_by = "none"
        self.applied: set[str] = set()  # the settings the platform put in place itself

    @property
    def init(self) -> str:
        value = self.params.get("init", "default")
        return value if isinstance(value, str) else "default"

    def build(self, build: Callable[..., Any]) -> Any:
        """Call build_model with the point's model settings (ParamsError if it cannot take them)."""
        self.kwargs, takes_init = build_kwargs(build, self.params)
        if takes_init:
            self.init_by = "build_model"
        self.applied |= self.kwargs.keys()
        return build(**self.kwargs)

    def prepare(self, model: nn.Module) -> None:
        """Right after build_model: the platform's initialisation, and the model early stopping watches."""
        if self.init_by != "build_model" and initialise(model, self.init, self.seed):
            self.init_by = "platform"
        self.applied.add("init")  # the platform's part in module mode, even with no layer to initialise
        if self.stopper is not None:
            self.stopper.model = model

    def announce(self, training: dict[str, Any] | None = None) -> None:
        """Say what the run trains with (the platform loop's resolved settings, when it is the loop)."""
        if training is not None and self.stopper is not None and isinstance(training.get("steps"), int):
            self.stopper.plan(training["steps"])
        self.send(
            "settings", params=self.params, training=training or {}, build_kwargs=self.kwargs,
            init=self.init, init_by=self.init_by,
        )  # fmt: skip

    def train_with(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The module's TRAINING dict with this point's training settings in place (see training_spec)."""
        overridden = training_spec(spec, self.params)
        self.applied |= self.params.keys() & TRAINING_SETTINGS
        return overridden

    def unread(self, asked: bool) -> list[str]:
        """The settings that never reached the code: neither put in place here nor asked for through
        gradekit.params() (a script or a train() that ignores them trains every point alike)."""
        if asked:
            return []
        return sorted(
            k for k in self.params.keys() - self.applied if not (k == "init" and self.init == "default")
        )

    def announce_script(self) -> None:
        """A script reads its settings from gradekit.params(): say so only when there are any."""
        if self.params:
            self.init_by = "script" if self.init != "default" else "none"
            self.announce()
