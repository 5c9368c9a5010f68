"""The variables of a spec: inputs the model sees and latent ones it does not, and how each is drawn."""

from __future__ import annotations

import math
from dataclasses import dataclass

from grader.engine import expression
from grader.engine.fields import NUMBER, SpecError, Table

DISTRIBUTIONS = ("uniform", "log-uniform", "normal", "choice")
FIELDS = {
    "distribution",
    "low",
    "high",
    "mean",
    "std",
    "values",
    "weights",
    "expression",
    "unit",
    "description",
}


@dataclass(frozen=True)
class Variable:
    name: str
    latent: bool
    distribution: str | None  # None when the variable is an expression of earlier ones
    low: float | None = None  # the declared range (bounds of uniform draws; documentation otherwise)
    high: float | None = None
    mean: float = 0.0
    std: float = 1.0
    values: tuple[float, ...] = ()
    weights: tuple[float, ...] = ()
    expression: str | None = None
    unit: str = ""
    description: str = ""


def parse_variable(
    name: str, raw: object, where: str, latent: bool, known: set[str], from_file: bool = False
) -> Variable:
    """One ``[inputs]`` or ``[latent]`` entry; ``known`` are the variables defined before it.

    With a data file (``from_file``), an input that gives neither a distribution nor an
    expression is a column of the file.
    """
    if not name.isidentifier() or name in expression.FUNCTIONS or name in expression.CONSTANTS:
        raise SpecError(f"{where}: {name!r} cannot be a variable name (use a Python-style identifier)")
    t = Table(raw, where, FIELDS)
    unit, description = t.get("unit", str, ""), t.get("description", str, "")
    low, high = t.number("low", None), t.number("high", None)
    if "expression" in t:
        if "distribution" in t:
            raise SpecError(f"{where}: give either 'distribution' or 'expression', not both")
        text = t.get("expression", str)
        try:
            expression.parse(text, known)
        except expression.ExpressionError as exc:
            raise SpecError(f"{t.field('expression')}: {text!r} {exc}") from None
        _check_range(t, low, high)
        return Variable(name, latent, None, low, high, expression=text, unit=unit, description=description)
    if from_file and "distribution" not in t:
        if latent:
            raise SpecError(f"{where}: latent variables are drawn, not read from the data file")
        _check_range(t, low, high)
        return Variable(name, latent, None, low, high, unit=unit, description=description)
    kind = t.choice("distribution", DISTRIBUTIONS, "uniform")
    if kind in ("uniform", "log-uniform"):
        low, high = t.number("low"), t.number("high")
        _check_range(t, low, high)
        if kind == "log-uniform" and low <= 0:
            raise SpecError(f"{t.field('low')}: a log-uniform range must start above 0, got {low:g}")
        return Variable(name, latent, kind, low, high, unit=unit, description=description)
    if kind == "normal":
        std = t.positive("std")
        _check_range(t, low, high)
        return Variable(
            name, latent, kind, low, high, mean=t.number("mean"), std=std, unit=unit, description=description
        )
    values = t.get("values", list)
    if not values or not all(
        isinstance(v, NUMBER) and not isinstance(v, bool) and math.isfinite(v) for v in values
    ):
        raise SpecError(f"{t.field('values')}: give a non-empty list of numbers, got {values!r}")
    weights = t.get("weights", list, [1.0] * len(values))
    if len(weights) != len(values) or not all(
        isinstance(w, NUMBER) and not isinstance(w, bool) and math.isfinite(w) and w >= 0 for w in weights
    ):
        raise SpecError(f"{t.field('weights')}: give {len(values)} non-negative numbers, one per value")
    if sum(weights) <= 0:
        raise SpecError(f"{t.field('weights')}: at least one weight must be above 0")
    return Variable(
        name, latent, kind, float(min(values)), float(max(values)),
        values=tuple(float(v) for v in values), weights=tuple(float(w) for w in weights), unit=unit,
        description=description,
    )  # fmt: skip


def _check_range(t: Table, low: float | None, high: float | None) -> None:
    if low is not None and high is not None and not low < high:
        raise SpecError(f"{t.where}: need low < high, got low = {low:g}, high = {high:g}")


def parse_constraint(text: object, where: str, names: set[str]) -> str:
    if not isinstance(text, str):
        raise SpecError(f'{where}: a constraint is a string such as "x2 <= x1", got {text!r}')
    try:
        tree = expression.parse(text, names)
    except expression.ExpressionError as exc:
        raise SpecError(f"{where}: {text!r} {exc}") from None
    if not expression.is_condition(tree):
        raise SpecError(f'{where}: {text!r} is not a comparison; write e.g. "1 <= x2 <= x1"')
    return text
