"""Finds the model a script trained, or explains in plain words why it cannot."""

from __future__ import annotations

from typing import Any

import torch

from . import calls


class NoModel(Exception):
    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


def _describe(name: str, module: torch.nn.Module) -> str:
    count = sum(p.numel() for p in calls.parameters(module))
    return f"`{name}` ({type(module).__name__}, {count:,} parameters)"


def find_model(namespace: dict[str, Any], submitted: list[Any]) -> tuple[str, torch.nn.Module]:
    """The model named by ``submit()``, else the single trainable module among the globals."""
    if submitted:
        chosen = submitted[-1]
        name = next((k for k, v in namespace.items() if v is chosen), "submitted model")
        return name, chosen

    modules: dict[int, tuple[str, torch.nn.Module]] = {}
    for name, value in namespace.items():
        if name.startswith("__") or not isinstance(value, torch.nn.Module):
            continue
        modules.setdefault(id(value), (name, value))

    trainable = {k: v for k, v in modules.items() if calls.parameters(v[1])}
    inner = {id(sub) for _, m in trainable.values() for sub in calls.modules(m) if sub is not m}
    candidates = [v for k, v in trainable.items() if k not in inner]
    if len(candidates) == 1:
        return candidates[0]

    line = "from gradekit import submit; submit(model)"
    if not candidates:
        others = [f"`{n}` ({type(m).__name__})" for n, m in modules.values()]
        seen = f" Found only modules without parameters: {', '.join(others)}." if others else ""
        by_hand = [
            name
            for name, value in namespace.items()
            if isinstance(value, torch.Tensor)
            and value.is_leaf
            and value.requires_grad
            and not name.startswith("_")
        ][:6]
        if by_hand:
            listed = ", ".join(f"`{name}`" for name in by_hand)
            raise NoModel(
                f"Your code trained tensors by hand ({listed}), but the grader grades a torch.nn.Module: "
                "it calls model(x) on new inputs. Make your parameters part of one, for example "
                "class Line(nn.Module) with self.w = nn.Parameter(...) and a forward(self, x) that "
                "computes your prediction, or use nn.Linear, and train its parameters as you did.",
                by_hand,
            )
        raise NoModel(
            "Your code finished, but no torch.nn.Module with parameters was left in its global "
            f"variables, so there is no model to grade.{seen} If your model is created inside a "
            f"function, add this line after training, with your model's name:\n\n    {line}\n",
            [n for n, _ in modules.values()],
        )
    listed = ", ".join(_describe(n, m) for n, m in candidates)
    first = candidates[0][0]
    raise NoModel(
        f"Your code left {len(candidates)} models in its global variables: {listed}. "
        "Add one line at the end of your script to say which one to grade:\n\n"
        f"    from gradekit import submit; submit({first})\n",
        [n for n, _ in candidates],
    )


SCALER_CENTERS = ("mean_", "center_")  # StandardScaler, RobustScaler; MinMaxScaler: data_min_..data_max_


def scalers(namespace: dict[str, Any]) -> list[dict[str, Any]]:
    """The fitted scikit-learn transformers a script left in its globals (scaling done outside the model).

    Their names go into the fix a diagnosis proposes (``submit(model, inputs=scaler.transform)``);
    their centres tell the host which of them scaled the inputs and which the targets.
    """
    found: list[dict[str, Any]] = []
    for name, value in list(namespace.items()):
        cls = type(value)
        if not str(getattr(cls, "__module__", "")).startswith("sklearn.") or not hasattr(value, "transform"):
            continue
        features = getattr(value, "n_features_in_", None)
        if not isinstance(features, int) or isinstance(features, bool):
            continue  # never fitted: it scaled nothing
        center = next(
            (getattr(value, a, None) for a in SCALER_CENTERS if getattr(value, a, None) is not None), None
        )
        low, high = getattr(value, "data_min_", None), getattr(value, "data_max_", None)
        if center is None and low is not None and high is not None:
            center = (low + high) / 2
        try:
            centre = [float(v) for v in list(center)[:16]] if center is not None else []
        except (TypeError, ValueError):
            centre = []
        found.append({"name": name[:60], "cls": cls.__name__[:60], "features": features, "center": centre})
        if len(found) >= 8:
            break
    return found
