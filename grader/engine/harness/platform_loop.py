"""The platform's own training loop, for module-mode submissions with a TRAINING dict."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from . import calls


class TrainingSpecError(ValueError):
    pass


OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}
LOSSES = {
    "mse": torch.nn.MSELoss,
    "l1": torch.nn.L1Loss,
    "huber": torch.nn.HuberLoss,
    "bce": torch.nn.BCELoss,
    "bce_with_logits": torch.nn.BCEWithLogitsLoss,
    "cross_entropy": torch.nn.CrossEntropyLoss,
}
SCHEDULERS = ("none", "step", "cosine", "plateau")
KEYS: dict[str, type | tuple[type, ...]] = {
    "optimizer": str,
    "lr": (int, float),
    "steps": int,
    "epochs": int,
    "batch_size": int,
    "loss": str,
    "scheduler": str,
    "momentum": (int, float),
    "weight_decay": (int, float),
}


def _check(spec: dict[str, Any]) -> None:
    for key, value in spec.items():
        if key not in KEYS:
            raise TrainingSpecError(f"TRAINING has an unknown key {key!r}; allowed keys: {', '.join(KEYS)}.")
        if isinstance(value, bool) or not isinstance(value, KEYS[key]):
            raise TrainingSpecError(f"TRAINING[{key!r}] = {value!r} has the wrong type.")
    if spec.get("optimizer", "adam").lower() not in OPTIMIZERS:
        raise TrainingSpecError(f"TRAINING['optimizer'] must be one of {', '.join(OPTIMIZERS)}.")
    if spec.get("loss", "mse").lower() not in LOSSES:
        raise TrainingSpecError(f"TRAINING['loss'] must be one of {', '.join(LOSSES)}.")
    if spec.get("scheduler", "none").lower() not in SCHEDULERS:
        raise TrainingSpecError(f"TRAINING['scheduler'] must be one of {', '.join(SCHEDULERS)}.")
    if "steps" in spec and "epochs" in spec:
        raise TrainingSpecError("TRAINING sets both 'steps' and 'epochs': keep one.")
    for key in ("lr", "steps", "epochs", "batch_size"):
        if key in spec and spec[key] <= 0:
            raise TrainingSpecError(f"TRAINING[{key!r}] must be positive.")


def train_with_spec(
    model: torch.nn.Module,
    data: Any,
    spec: dict[str, Any],
    announce: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Train as ``spec`` says; ``announce`` hears the settings in effect, defaults filled in, first."""
    _check(spec)
    if data.x_train is None or data.y_train is None:
        raise TrainingSpecError(
            "This assignment hands out no training data, so a TRAINING dict has nothing to train "
            "on: write train(model, data, log) and make your data there."
        )
    x, y = data.x_train, data.y_train
    n = x.shape[0]
    batch = min(spec.get("batch_size", 64), n)
    steps = spec.get("steps") or spec.get("epochs", 0) * ((n + batch - 1) // batch) or 1000
    options: dict[str, Any] = {"lr": spec.get("lr", 1e-3)}
    name = spec.get("optimizer", "adam").lower()
    if name in ("sgd", "rmsprop") and "momentum" in spec:
        options["momentum"] = spec["momentum"]
    if "weight_decay" in spec:
        options["weight_decay"] = spec["weight_decay"]
    optimizer = OPTIMIZERS[name](calls.parameters(model), **options)
    loss_fn = LOSSES[spec.get("loss", "mse").lower()]()
    kind = spec.get("scheduler", "none").lower()
    scheduler: Any = None
    if kind == "step":
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, steps // 3), gamma=0.1)
    elif kind == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    elif kind == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=max(10, steps // 50))
    if announce is not None:
        announce({"optimizer": name, "loss": spec.get("loss", "mse").lower(), "scheduler": kind,
                  "batch_size": batch, "steps": steps} | options)  # fmt: skip
    calls.set_training(model, True)
    generator = torch.Generator(device="cpu").manual_seed(int(torch.initial_seed()) % (2**63))
    for _ in range(steps):
        index = torch.randint(0, n, (batch,), generator=generator).to(x.device)
        prediction = model(x[index])
        target = y[index]
        if prediction.dim() == target.dim() + 1 and prediction.shape[-1] == 1:
            prediction = prediction.squeeze(-1)
        loss = loss_fn(prediction, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(loss.detach())
        elif scheduler is not None:
            scheduler.step()
