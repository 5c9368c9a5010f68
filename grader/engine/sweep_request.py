"""A student's sweep request, checked against the assignment and expanded into its runs.

A sweep comes as a ``SWEEP = {...}`` literal in the uploaded Python file (read with
``ast.literal_eval``: never executed on the host) or as JSON beside the upload::

    {"grid": {"lr": [0.1, 0.01, 0.001], "optimizer": ["sgd", "adam"]}, "seeds": 1}
    {"random": {"lr": {"log_uniform": [1e-5, 0.1]}, "hidden": [16, 32, 64]}, "samples": 8}

``fixed`` settings apply to every point. Every refusal names the field, e.g. ``sweep.grid.lr[2]``.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import math
import random
from dataclasses import dataclass
from typing import Any

from grader.engine.sweep_rules import SweepPolicy
from grader.engine.sweep_settings import SETTINGS, SettingError, setting

DISTRIBUTIONS = ("log_uniform", "uniform", "int_uniform")
TOP_KEYS = ("grid", "random", "samples", "seeds", "fixed")
MAX_PLAN_BYTES = 64 * 1024  # stored with the sweep and with each run: kept small
MAX_CHOICES = 100  # values listed for one setting of a random search


class SweepRefused(SettingError):
    """The sweep cannot be run as asked; the message names the field and says how to fix it."""


@dataclass(frozen=True)
class SweepPlan:
    method: str  # "grid" or "random"
    space: dict[str, Any]  # what was asked, normalised (shown on the comparison page)
    points: list[dict[str, Any]]  # the settings of each point, fixed ones included
    seeds: int

    @property
    def runs(self) -> int:
        return len(self.points) * self.seeds

    def as_json(self) -> dict[str, Any]:
        return {"method": self.method, "space": self.space, "points": self.points, "seeds": self.seeds}


def from_source(source: bytes, filename: str) -> Any | None:
    """The ``SWEEP`` literal assigned at the top level of a Python file, or None if it has none."""
    try:
        tree = ast.parse(source, filename)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None  # the submission checks report the syntax error itself
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:  # SWEEP: dict = {...}
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "SWEEP" for t in targets):
            try:
                return ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                raise SweepRefused(
                    f"{filename}, line {node.lineno}: SWEEP must be written out as a literal dict of "
                    "numbers, strings and lists (no names, calls or arithmetic), e.g. "
                    "SWEEP = {'grid': {'lr': [0.1, 0.01, 0.001]}}"
                ) from None
    return None


def from_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SweepRefused(f"sweep: not valid JSON ({exc})") from None
    except RecursionError:
        raise SweepRefused("sweep: nested too deeply; a sweep is a dict of lists of values") from None


def plan(raw: Any, policy: SweepPolicy | None, salt: bytes, graded_seeds: int = 1) -> SweepPlan:
    """Check ``raw`` against the assignment's ``policy`` and expand it; SweepRefused otherwise.

    ``salt`` (the upload's digest) seeds a random search, so the same upload draws the same points.
    ``graded_seeds``: the seeds the assignment grades a submission on; a sweep the assignment is
    graded on must train each point on as many (its grade is the best point's median run).
    """
    try:
        result = _plan(raw, policy, salt)
    except SweepRefused:
        raise
    except SettingError as exc:  # a value a setting cannot take: the same refusal
        raise SweepRefused(str(exc)) from None
    if policy is not None and policy.require is not None and result.seeds < graded_seeds:
        raise SweepRefused(
            f"sweep.seeds: {result.seeds}; this assignment is graded on your sweep's best settings, on the "
            f'median of {graded_seeds} seeds as for any submission: set "seeds": {graded_seeds}'
        )
    return result


def _plan(raw: Any, policy: SweepPolicy | None, salt: bytes) -> SweepPlan:
    if policy is None:
        raise SweepRefused("sweep: this assignment does not take sweeps; upload the file without one")
    if not isinstance(raw, dict):
        raise SweepRefused(f"sweep: expected a dict with 'grid' or 'random', got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(TOP_KEYS))
    if unknown:
        raise SweepRefused(f"sweep.{unknown[0]}: unknown field; allowed: {', '.join(TOP_KEYS)}")
    if ("grid" in raw) == ("random" in raw):
        raise SweepRefused("sweep: give either 'grid' (every combination) or 'random' (drawn points)")
    seeds = _whole(raw.get("seeds", 1), "sweep.seeds", 1, 10)
    fixed = _fixed(raw.get("fixed", {}), policy)
    if "grid" in raw:
        if "samples" in raw:
            raise SweepRefused("sweep.samples: only for a random search; a grid runs every combination")
        space = _grid(raw["grid"], policy, set(fixed))
        # Counted before it is expanded: a grid of a few long lists is astronomically many points.
        shape = " x ".join(str(len(v)) for v in space.values())
        _check_cap(shape, math.prod(len(v) for v in space.values()), seeds, policy)
        names = list(space)
        points = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*space.values())]
        method = "grid"
    else:
        samples = _whole(raw.get("samples", 0), "sweep.samples", 1, policy.max_runs)
        space = _random(raw["random"], policy, set(fixed))
        rng = random.Random(int.from_bytes(hashlib.sha256(b"sweep:" + salt).digest()[:8], "big"))
        points = [{name: _draw(spec, name, rng) for name, spec in space.items()} for _ in range(samples)]
        method = "random"
    points = [{**p, **fixed} for p in points]
    result = SweepPlan(method, {**space, **({"fixed": fixed} if fixed else {})}, points, seeds)
    if method == "random":
        _check_cap(f"{len(points)} samples", len(points), seeds, policy)
    if len(json.dumps(result.as_json())) > MAX_PLAN_BYTES:
        raise SweepRefused(
            f"sweep: its settings take more than {MAX_PLAN_BYTES // 1024} KiB written out; list fewer or shorter values"
        )
    _check_requirement(result, policy)
    return result


def _check_cap(shape: str, points: int, seeds: int, policy: SweepPolicy) -> None:
    if points * seeds > policy.max_runs:
        raise SweepRefused(
            f"sweep: {shape} = {points} points x {seeds} seed(s) = {points * seeds} runs; this "
            f"assignment allows at most {policy.max_runs} runs per sweep: drop some values or seeds"
        )


def _whole(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SweepRefused(f"{field}: {value!r}; expected a whole number from {low} to {high}")
    return value


def _allowed(name: Any, policy: SweepPolicy, field: str) -> None:
    if not isinstance(name, str):
        raise SweepRefused(f"{field}: setting names are strings, got {name!r}")
    setting(name, f"{field}.{name}")  # unknown names are refused with the known ones listed
    if name not in policy.settings:
        raise SweepRefused(
            f"{field}.{name}: this assignment's sweeps may vary {', '.join(policy.settings)} only"
        )


def _fixed(raw: Any, policy: SweepPolicy) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SweepRefused(f"sweep.fixed: expected a dict of setting: value, got {raw!r}")
    fixed = {}
    for name, value in raw.items():
        _allowed(name, policy, "sweep.fixed")
        fixed[name] = SETTINGS[name].check(value, f"sweep.fixed.{name}")
    return fixed


def _grid(raw: Any, policy: SweepPolicy, fixed: set[str]) -> dict[str, list[Any]]:
    if not isinstance(raw, dict) or not raw:
        raise SweepRefused("sweep.grid: expected a dict of setting: [values], e.g. {'lr': [0.1, 0.01]}")
    space: dict[str, list[Any]] = {}
    for name, values in raw.items():
        _allowed(name, policy, "sweep.grid")
        if name in fixed:
            raise SweepRefused(f"sweep.grid.{name}: also in sweep.fixed; keep it in one of the two")
        field = f"sweep.grid.{name}"
        if not isinstance(values, list) or not values:
            raise SweepRefused(f"{field}: expected a non-empty list of values, got {values!r}")
        checked = [SETTINGS[name].check(v, f"{field}[{i}]") for i, v in enumerate(values)]
        if len({json.dumps(v) for v in checked}) != len(checked):
            raise SweepRefused(f"{field}: a value is listed twice")
        space[name] = checked
    return space


def _random(raw: Any, policy: SweepPolicy, fixed: set[str]) -> dict[str, Any]:
    if not isinstance(raw, dict) or not raw:
        raise SweepRefused(
            "sweep.random: expected a dict of setting: [choices] or {'log_uniform': [low, high]}, ..."
        )
    space: dict[str, Any] = {}
    for name, spec in raw.items():
        _allowed(name, policy, "sweep.random")
        if name in fixed:
            raise SweepRefused(f"sweep.random.{name}: also in sweep.fixed; keep it in one of the two")
        field = f"sweep.random.{name}"
        known = SETTINGS[name]
        if isinstance(spec, list):
            if not spec or len(spec) > MAX_CHOICES:
                raise SweepRefused(f"{field}: list from 1 to {MAX_CHOICES} choices, got {len(spec)}")
            space[name] = [known.check(v, f"{field}[{i}]") for i, v in enumerate(spec)]
            continue
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
            raise SweepRefused(
                f"{field}: expected a list of choices or one of {', '.join(DISTRIBUTIONS)}: [low, high]"
            )
        kind, bounds = next(iter(spec.items()))
        if known.kind not in ("float", "int"):
            raise SweepRefused(
                f"{field}.{kind}: {name!r} takes {known.kind} values; list its choices instead"
            )
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise SweepRefused(f"{field}.{kind}: expected [low, high], got {bounds!r}")
        low, high = (known.check(b, f"{field}.{kind}[{i}]") for i, b in enumerate(bounds))
        if not low < high:
            raise SweepRefused(f"{field}.{kind}: low ({low!r}) must be below high ({high!r})")
        if kind == "log_uniform" and low <= 0:
            raise SweepRefused(f"{field}.log_uniform: bounds must be above 0 for a log scale")
        space[name] = {kind: [low, high]}
    return space


def _draw(spec: Any, name: str, rng: random.Random) -> Any:
    if isinstance(spec, list):
        return rng.choice(spec)
    kind, (low, high) = next(iter(spec.items()))
    if kind == "int_uniform" or SETTINGS[name].kind == "int":
        if kind == "log_uniform":
            return round(math.exp(rng.uniform(math.log(low), math.log(high))))
        return rng.randint(int(low), int(high))
    value = (
        math.exp(rng.uniform(math.log(low), math.log(high)))
        if kind == "log_uniform"
        else rng.uniform(low, high)
    )
    return float(f"{value:.4g}")  # readable on the page; the spacing is what matters


def _check_requirement(result: SweepPlan, policy: SweepPolicy) -> None:
    need = policy.require
    if need is None:
        return
    # By their JSON (a list of layer sizes is not hashable); ordered as numbers where they are numbers.
    distinct = {json.dumps(p[need.setting]): p[need.setting] for p in result.points if need.setting in p}
    values = sorted(
        distinct.values(),
        key=lambda v: (not isinstance(v, (int, float)), v if isinstance(v, (int, float)) else 0),
    )
    where = f"sweep: {need.setting}"
    if len(values) < need.min_values:
        raise SweepRefused(
            f"{where}: {len(values)} value(s) {values}; this assignment asks for at least {need.min_values} "
            f"values of {need.setting}"
            + (f" spanning {need.span_decades:g} decades" if need.span_decades else "")
        )
    if need.span_decades:
        numbers = [v for v in values if isinstance(v, (int, float))]
        low, high = (numbers[0], numbers[-1]) if numbers else (0, 0)
        span = math.log10(high / low) if low > 0 else 0.0
        if span + 1e-9 < need.span_decades:
            raise SweepRefused(
                f"{where}: from {low:g} to {high:g} spans {span:.2g} decades; this assignment asks for at least "
                f"{need.span_decades:g} (e.g. from 1e-5 to 1e-1)"
            )
