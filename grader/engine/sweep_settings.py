"""The settings a sweep may vary, what values each takes, and where each goes in the student's code.

Pure (no Flask, no torch): the upload, ``grader run --sweep`` and the assignment spec all check
against it. The harness applies the values (``grader/engine/harness/sweep.py``): the training ones
override module mode's ``TRAINING`` dict, the model ones go to ``build_model(**params)``, ``init``
re-initialises the model's layers, and in a script ``gradekit.params()`` returns all of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")  # as the platform's training loop
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "leaky_relu", "elu", "silu")
INITS = ("default", "xavier", "he", "normal")
MAX_LAYERS = 64  # as the "layers" setting allows


class SettingError(ValueError):
    """A value a setting cannot take; the message says which and why."""


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str  # "float", "int", "choice", "sizes"
    where: str  # "training" (TRAINING dict), "model" (build_model), "init" (the platform)
    choices: tuple[str, ...] = ()
    low: float | None = None  # inclusive lower bound
    high: float | None = None  # exclusive upper bound
    positive: bool = False
    log_scale: bool = False  # drawn and plotted on a log axis
    help: str = ""

    def check(self, value: Any, field: str) -> Any:
        """The value, normalised (ints for int settings); SettingError naming ``field`` otherwise."""
        if self.kind == "choice":
            if not isinstance(value, str) or value.lower() not in self.choices:
                raise SettingError(f"{field}: {value!r} is not one of {', '.join(self.choices)}")
            return value.lower()
        if self.kind == "sizes":
            sizes = [value] if isinstance(value, int) and not isinstance(value, bool) else value
            if (
                not isinstance(sizes, list)
                or not 0 < len(sizes) <= MAX_LAYERS
                or not all(isinstance(s, int) and not isinstance(s, bool) and 0 < s <= 65536 for s in sizes)
            ):
                raise SettingError(
                    f"{field}: {value!r} is not a layer size or a list of at most {MAX_LAYERS} "
                    "(whole numbers from 1 to 65536)"
                )
            return sizes[0] if isinstance(value, int) else list(sizes)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingError(f"{field}: {value!r} is not a number")
        if self.kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise SettingError(f"{field}: {value!r} is not a whole number")
            value = int(value)
        elif not math.isfinite(value):
            raise SettingError(f"{field}: {value!r} is not a finite number")
        else:
            value = float(value)
        if self.positive and value <= 0:
            raise SettingError(f"{field}: {value!r} must be greater than 0")
        if self.low is not None and value < self.low:
            raise SettingError(f"{field}: {value!r} must be at least {self.low:g}")
        if self.high is not None and value >= self.high:
            raise SettingError(f"{field}: {value!r} must be less than {self.high:g}")
        return value


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("lr", "float", "training", positive=True, high=10.0, log_scale=True, help="learning rate"),
        Setting("optimizer", "choice", "training", choices=OPTIMIZERS, help="the optimizer"),
        Setting("momentum", "float", "training", low=0.0, high=1.0, help="SGD and RMSProp momentum"),
        Setting("weight_decay", "float", "training", low=0.0, high=1.0, help="L2 penalty"),
        Setting("batch_size", "int", "training", positive=True, high=1_000_001, log_scale=True, help="batch size"),
        Setting("steps", "int", "training", positive=True, high=10_000_001, log_scale=True, help="optimizer steps"),
        Setting("epochs", "int", "training", positive=True, high=100_001, help="passes over the training set"),
        Setting("hidden", "sizes", "model", help="hidden layer sizes: one size, or a list (one per layer)"),
        Setting("layers", "int", "model", positive=True, high=65, help="number of hidden layers"),
        Setting("activation", "choice", "model", choices=ACTIVATIONS, help="the hidden layers' activation"),
        Setting("init", "choice", "init", choices=INITS, help="weight initialisation (Xavier, He, ...)"),
    )
}  # fmt: skip
TRAINING_SETTINGS = frozenset(n for n, s in SETTINGS.items() if s.where == "training")
MODEL_SETTINGS = frozenset(n for n, s in SETTINGS.items() if s.where == "model")


def setting(name: str, field: str) -> Setting:
    """The setting called ``name``; SettingError naming ``field`` and the known names otherwise."""
    known = SETTINGS.get(name)
    if known is None:
        raise SettingError(f"{field}: unknown setting {name!r}; a sweep can vary {', '.join(SETTINGS)}")
    return known
