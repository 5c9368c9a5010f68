"""Assignment specs: one ``assignment.toml`` per folder under ``assignments/``.

This is the subset the runner needs (inputs, target expression, data sizes,
metric and grading rule, budgets); every error names the file, the field and
what is allowed.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import expression

REPO_ASSIGNMENTS = Path(__file__).resolve().parents[2] / "assignments"
METRICS = {"mse": "lower", "mae": "lower", "max_error": "lower", "relative_error": "lower", "r2": "higher"}
TASKS = {"regression"}


class SpecError(ValueError):
    pass


@dataclass(frozen=True)
class InputSpec:
    name: str
    low: float
    high: float
    distribution: str = "uniform"  # or "log-uniform"


@dataclass(frozen=True)
class Budget:
    wall_seconds: float = 180.0
    train_seconds: float = 120.0
    max_steps: int | None = None
    eval_seconds: float = 30.0
    memory_mb: int = 2048


@dataclass(frozen=True)
class Assignment:
    slug: str
    title: str
    description: str
    task: str
    inputs: tuple[InputSpec, ...]
    target: str
    target_public: bool
    train_size: int
    validation_size: int
    hidden_size: int
    metric: str
    full_marks_at: float
    zero_at: float
    points: float
    budget: Budget
    folder: Path

    @property
    def target_tree(self) -> ast.Expression:
        return expression.parse(self.target, {i.name for i in self.inputs})

    @property
    def reference(self) -> Path:
        return self.folder / "reference.py"

    @property
    def wrong_solutions(self) -> list[Path]:
        return sorted((self.folder / "wrong").glob("*.py"))


def _get(
    table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any = ...
) -> Any:
    if key not in table:
        if default is ...:
            raise SpecError(f"{where}: missing field {key!r}")
        return default
    value = table[key]
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise SpecError(f"{where}.{key}: expected {names}, got {value!r}")
    return value


def _no_extra(table: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise SpecError(f"{where}: unknown field {extra[0]!r}; allowed: {', '.join(sorted(allowed))}")


def load(folder: Path) -> Assignment:
    path = folder / "assignment.toml"
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(f"{path}: no assignment.toml in {folder}") from None
    return parse(text, folder, str(path))


def parse(text: str, folder: Path, where: str) -> Assignment:
    """A spec from its text (the service stores each published version's text)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{where}: not valid TOML: {exc}") from None
    w = where
    _no_extra(
        raw, {"slug", "title", "description", "task", "inputs", "target", "data", "metric", "budget"}, w
    )
    slug = _get(raw, "slug", str, w)
    task = _get(raw, "task", str, w)
    if task not in TASKS:
        raise SpecError(f"{w}: task {task!r} is not supported yet; allowed: {', '.join(sorted(TASKS))}")
    inputs = []
    for name, table in _get(raw, "inputs", dict, w).items():
        where = f"{w}: inputs.{name}"
        _no_extra(table, {"distribution", "low", "high"}, where)
        low, high = (
            float(_get(table, "low", (int, float), where)),
            float(_get(table, "high", (int, float), where)),
        )
        dist = _get(table, "distribution", str, where, "uniform")
        if dist not in ("uniform", "log-uniform"):
            raise SpecError(f"{where}.distribution: {dist!r}; allowed: uniform, log-uniform")
        if not low < high or (dist == "log-uniform" and low <= 0):
            raise SpecError(f"{where}: need low < high (and low > 0 for log-uniform), got [{low}, {high}]")
        inputs.append(InputSpec(name, low, high, dist))
    target = _get(raw, "target", dict, w)
    _no_extra(target, {"expression", "public"}, f"{w}: target")
    text = _get(target, "expression", str, f"{w}: target")
    try:
        expression.parse(text, {i.name for i in inputs})
    except expression.ExpressionError as exc:
        raise SpecError(f"{w}: target.expression {text!r} {exc}") from None
    data = _get(raw, "data", dict, w)
    _no_extra(data, {"train_size", "validation_size", "hidden_size"}, f"{w}: data")
    metric = _get(raw, "metric", dict, w)
    _no_extra(metric, {"name", "full_marks_at", "zero_at", "points"}, f"{w}: metric")
    name = _get(metric, "name", str, f"{w}: metric")
    if name not in METRICS:
        raise SpecError(f"{w}: metric.name {name!r}; allowed: {', '.join(METRICS)}")
    full, zero = (
        float(_get(metric, "full_marks_at", (int, float), f"{w}: metric")),
        float(_get(metric, "zero_at", (int, float), f"{w}: metric")),
    )
    if (METRICS[name] == "lower") != (full < zero):
        raise SpecError(
            f"{w}: metric: full_marks_at must be {'below' if METRICS[name] == 'lower' else 'above'} zero_at for {name}"
        )
    budget_table = _get(raw, "budget", dict, w, {})
    _no_extra(budget_table, set(Budget.__dataclass_fields__), f"{w}: budget")
    budget = Budget(**budget_table)
    return Assignment(
        slug=slug,
        title=_get(raw, "title", str, w),
        description=_get(raw, "description", str, w, ""),
        task=task,
        inputs=tuple(inputs),
        target=text,
        target_public=_get(target, "public", bool, f"{w}: target", False),
        train_size=_get(data, "train_size", int, f"{w}: data", 0),
        validation_size=_get(data, "validation_size", int, f"{w}: data"),
        hidden_size=_get(data, "hidden_size", int, f"{w}: data"),
        metric=name,
        full_marks_at=full,
        zero_at=zero,
        points=float(_get(metric, "points", (int, float), f"{w}: metric", 100)),
        budget=budget,
        folder=folder,
    )


def find(slug_or_path: str) -> Assignment:
    """A built-in assignment by slug, or an assignment folder by path."""
    path = Path(slug_or_path)
    if (path / "assignment.toml").exists():
        return load(path)
    folder = REPO_ASSIGNMENTS / slug_or_path
    if not (folder / "assignment.toml").exists():
        known = sorted(p.parent.name for p in REPO_ASSIGNMENTS.glob("*/assignment.toml"))
        raise SpecError(f"no assignment {slug_or_path!r}; built-in ones: {', '.join(known)}")
    return load(folder)
