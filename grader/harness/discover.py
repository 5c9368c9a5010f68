"""Finds the model a script trained, or explains in plain words why it cannot."""

from __future__ import annotations

from typing import Any

import torch


class NoModel(Exception):
    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


def _describe(name: str, module: torch.nn.Module) -> str:
    count = sum(p.numel() for p in module.parameters())
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

    trainable = {k: v for k, v in modules.items() if any(True for _ in v[1].parameters())}
    inner = {id(sub) for _, m in trainable.values() for sub in m.modules() if sub is not m}
    candidates = [v for k, v in trainable.items() if k not in inner]
    if len(candidates) == 1:
        return candidates[0]

    line = "from gradekit import submit; submit(model)"
    if not candidates:
        others = [f"`{n}` ({type(m).__name__})" for n, m in modules.values()]
        seen = f" Found only modules without parameters: {', '.join(others)}." if others else ""
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
