"""The parts of a spec besides its variables: task, target, data, grading, budgets, policy, solutions."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from grader.engine import expression
from grader.engine.fields import SpecError, Table
from grader.engine.gpu_kinds import GPU_KIND, GPU_KIND_FORM
from grader.engine.verdicts import Verdict

OUTPUTS = {"regression": ("value",), "binary": ("probability", "logit"), "multiclass": ("scores",)}
# What each output convention asks of a model, in words ({K}: the classes); the pages and the API show it.
OUTPUT_TEXT = {
    "value": "one value per input: a tensor of shape [N, 1] or [N]",
    "probability": "the probability of class 1 for each input, in [0, 1]: shape [N, 1] or [N]",
    "logit": "a logit for each input (class 1 when it is at least 0): shape [N, 1] or [N]",
    "scores": "{K} class scores (logits or probabilities) per input: shape [N, {K}]; the largest wins",
}
# metric -> whether lower is better
REGRESSION_METRICS = {"mse": True, "mae": True, "relative_error": True, "max_error": True, "r2": False}
CLASSIFICATION_METRICS = {"accuracy": False, "macro_f1": False}
RULES = ("log-linear", "linear", "all-or-nothing")
LATE_POLICIES = ("refuse", "accept", "penalty")
OUTCOMES = ("pass", "fail")


@dataclass(frozen=True)
class Task:
    type: str  # regression | binary | multiclass
    output: str  # value | probability | logit | scores
    classes: int = 0  # multiclass only
    # Grade a model whose outputs clearly follow the other convention (probabilities where logits are
    # read, one column where scores are read, ...) under that reading; off by default: it is then only
    # explained (grader/engine/conventions.py).
    accept_other_reading: bool = False

    @property
    def classification(self) -> bool:
        return self.type != "regression"


@dataclass(frozen=True)
class Target:
    name: str  # what the target is called (column name in data files, label on charts)
    expression: str | None = None
    function: str | None = None  # "file.py:name", trusted instructor code run on the host
    column: str | None = None  # from the data file
    public: bool = False


@dataclass(frozen=True)
class Data:
    train_size: int
    validation_size: int
    hidden_size: int
    train_file: str | None = None  # a CSV handed out as the public training set instead of a draw
    file: str | None = None  # a CSV all splits are drawn from


DISCLOSURES = ("rounded", "exact")


@dataclass(frozen=True)
class Grading:
    metric: str
    full_marks_at: float
    zero_at: float
    points: float = 100.0
    rule: str = "log-linear"
    floor: float = 0.0  # relative error: |error| / max(|target|, floor)
    seeds: int = 1
    # Relative error: each point counts at most this much, so a few points near a zero of the
    # target (where any error is a large fraction) cannot swing the mean from one hidden set to the next.
    cap: float | None = None
    # What students are shown of the hidden-set metric: "rounded" to SHOWN_DIGITS significant digits
    # (the score follows from the rounded value), so that differencing many submissions' scores
    # reveals little of the hidden targets; "exact" shows full precision. Staff always see it exact.
    disclosure: str = "rounded"

    @property
    def lower_is_better(self) -> bool:
        return {**REGRESSION_METRICS, **CLASSIFICATION_METRICS}[self.metric]


@dataclass(frozen=True)
class Budget:
    wall_seconds: float = 180.0
    train_seconds: float = 120.0
    max_steps: int | None = None
    eval_seconds: float = 30.0
    memory_mb: int = 2048
    max_parameters: int | None = None
    device: str = "cpu"  # "gpu": graded by the gpu queue's workers (one GPU per worker slot)
    gpu_kind: str | None = None  # e.g. "a100": graded by the gpu-a100 queue's workers only


@dataclass(frozen=True)
class SubmissionPolicy:
    per_day: int = 10
    total: int | None = None
    deadline: datetime | None = None  # a default; the course may set its own when publishing
    late: str = "refuse"
    late_penalty_percent_per_day: float = 0.0
    late_days: int = 0
    # Done in teams of team_min to team_max students (None: alone); a default the course may change.
    team_min: int = 1
    team_max: int | None = None


@dataclass(frozen=True)
class Solution:
    file: str
    expect: str  # pass | fail | a verdict such as runtime_error
    why: str = ""
    diagnoses: tuple[str, ...] = ()  # the diagnoses this solution must get (its bug, named)


def parse_task(top: Table) -> Task:
    if isinstance(top.raw.get("task"), str):  # the short form: task = "regression"
        kind = top.choice("task", tuple(OUTPUTS))
        t = Table({"type": kind}, top.field("task"), {"type"})
    else:
        t = top.table("task", {"type", "output", "classes", "accept_other_reading"})
        kind = t.choice("type", tuple(OUTPUTS))
    output = t.choice("output", OUTPUTS[kind], OUTPUTS[kind][0])
    classes = 0
    if kind == "multiclass":
        classes = t.get("classes", int)
        if classes < 3:
            raise SpecError(f"{t.field('classes')}: a multiclass task has at least 3 classes (use binary)")
    elif "classes" in t:
        raise SpecError(f"{t.field('classes')}: only a multiclass task declares its classes")
    other = t.get("accept_other_reading", bool, False)
    if other and kind == "regression":
        raise SpecError(
            f"{t.field('accept_other_reading')}: only a classification task has another reading of its outputs"
        )
    return Task(kind, output, classes, other)


def parse_target(
    top: Table, names: set[str], read: Callable[[str], bytes], files: dict[str, bytes]
) -> Target:
    t = top.table("target", {"expression", "function", "column", "public", "name"})
    given = [k for k in ("expression", "function", "column") if k in t]
    if len(given) != 1:
        raise SpecError(f"{t.where}: give exactly one of 'expression', 'function' or 'column'")
    name = t.get("name", str, "target")
    public = t.get("public", bool, False)
    data = top.raw.get("data")
    has_file = isinstance(data, dict) and "file" in data
    if has_file and "column" not in t:
        raise SpecError(
            f'{t.where}: with a data file ([data] file), the target is one of its columns: column = "..."'
        )
    if "expression" in t:
        text = t.get("expression", str)
        try:
            expression.parse(text, names)
        except expression.ExpressionError as exc:
            raise SpecError(f"{t.field('expression')}: {text!r} {exc}") from None
        return Target(name, expression=text, public=public)
    if "function" in t:
        ref = t.get("function", str)
        file, _, function = ref.partition(":")
        if not file.endswith(".py") or not function.isidentifier():
            raise SpecError(f'{t.field("function")}: {ref!r}; write it as "file.py:function_name"')
        files[file] = read(file)
        return Target(name, function=ref, public=public)
    if not has_file:
        raise SpecError(f"{t.field('column')}: a target column needs a data file ([data] file = ...)")
    return Target(name, column=t.get("column", str), public=public)


def parse_data(top: Table, inputs: list[str], read: Callable[[str], bytes], files: dict[str, bytes]) -> Data:
    t = top.table("data", {"train_size", "validation_size", "hidden_size", "train_file", "file"})
    sizes = {}
    for key, default in (("train_size", 0), ("validation_size", ...), ("hidden_size", ...)):
        value = t.get(key, int, default)
        if value < 0 or (key == "hidden_size" and value < 10) or value > 1_000_000:
            low = 10 if key == "hidden_size" else 0
            raise SpecError(f"{t.field(key)}: {value} is outside the allowed {low}..1000000")
        sizes[key] = value
    train_file, file = t.get("train_file", str, None), t.get("file", str, None)
    for name in (train_file, file):
        if name is not None:
            if not name.endswith(".csv"):
                raise SpecError(f"{t.where}: {name!r}: data files are CSV files with a header row")
            files[name] = read(name)
    if train_file and sizes["train_size"]:
        raise SpecError(f"{t.where}: give 'train_file' or 'train_size', not both")
    return Data(train_file=train_file, file=file, **sizes)


def parse_grading(top: Table, task: Task) -> Grading:
    m = top.table("metric", {"name", "full_marks_at", "zero_at", "points", "rule", "floor", "cap"})
    fits = CLASSIFICATION_METRICS if task.classification else REGRESSION_METRICS
    name = m.get("name", str)
    if name not in fits:
        other = REGRESSION_METRICS if task.classification else CLASSIFICATION_METRICS
        hint = (
            f" ({name} is for {'regression' if task.classification else 'classification'})"
            if name in other
            else ""
        )
        raise SpecError(
            f"{m.field('name')}: {name!r} does not fit a {task.type} task{hint}; allowed: {', '.join(fits)}"
        )
    lower = fits[name]
    full, zero = m.number("full_marks_at"), m.number("zero_at")
    if not (math.isfinite(full) and math.isfinite(zero)):
        raise SpecError(f"{m.where}: full_marks_at and zero_at must be finite numbers")
    if lower != (full < zero):
        side = "below" if lower else "above"
        raise SpecError(
            f"{m.where}: full_marks_at must be {side} zero_at for {name} ({'lower' if lower else 'higher'} is better)"
        )
    if name in CLASSIFICATION_METRICS and not (0 <= min(full, zero) and max(full, zero) <= 1):
        raise SpecError(f"{m.where}: {name} lies in 0..1; full_marks_at and zero_at must too")
    rule = m.choice("rule", RULES, "log-linear" if lower else "linear")
    if rule == "log-linear" and (not lower or full <= 0):
        raise SpecError(
            f"{m.field('rule')}: log-linear needs a lower-is-better metric and full_marks_at > 0; use linear"
        )
    floor = m.number("floor", 0.0)
    if (floor and name != "relative_error") or floor < 0:
        raise SpecError(f"{m.field('floor')}: only relative_error takes a floor, and it must be ≥ 0")
    cap = m.number("cap", None)
    if cap is not None and (name != "relative_error" or cap < zero):
        raise SpecError(
            f"{m.field('cap')}: only relative_error takes a cap, and it must be at least zero_at "
            f"({zero:g}), or no submission could score zero"
        )
    g = top.table("grading", {"seeds", "disclosure"}, {})
    seeds = g.get("seeds", int, 1)
    if not 1 <= seeds <= 9:
        raise SpecError(f"{g.field('seeds')}: {seeds}; allowed: 1 to 9 training seeds (the median is kept)")
    disclosure = g.choice("disclosure", DISCLOSURES, "rounded")
    return Grading(
        name, full, zero, m.positive("points", default=100.0), rule, floor, seeds, cap, disclosure=disclosure
    )


def parse_budget(top: Table) -> Budget:
    b = top.table(
        "budget",
        {
            "wall_seconds",
            "train_seconds",
            "max_steps",
            "eval_seconds",
            "memory_mb",
            "max_parameters",
            "device",
            "gpu_kind",
        },
        {},
    )
    budget = Budget(
        wall_seconds=b.positive("wall_seconds", default=Budget.wall_seconds),
        train_seconds=b.positive("train_seconds", default=Budget.train_seconds),
        max_steps=b.positive("max_steps", int, None),
        eval_seconds=b.positive("eval_seconds", default=Budget.eval_seconds),
        memory_mb=b.positive("memory_mb", int, Budget.memory_mb),
        max_parameters=b.positive("max_parameters", int, None),
        device=b.choice("device", ("cpu", "gpu"), "cpu"),
        gpu_kind=_gpu_kind(b),
    )
    if budget.train_seconds + budget.eval_seconds > budget.wall_seconds:
        raise SpecError(
            f"{b.where}: train_seconds + eval_seconds ({budget.train_seconds:g} + {budget.eval_seconds:g}) must fit in wall_seconds ({budget.wall_seconds:g})"
        )
    if budget.memory_mb < 256:
        raise SpecError(f"{b.field('memory_mb')}: {budget.memory_mb}; PyTorch alone needs at least 256")
    return budget


def _gpu_kind(b: Table) -> str | None:
    kind: str | None = b.get("gpu_kind", str, None)
    if kind is None:
        return None
    if b.raw.get("device") != "gpu":
        raise SpecError(f'{b.field("gpu_kind")}: only for a GPU assignment; set device = "gpu" too')
    if not GPU_KIND.fullmatch(kind):
        raise SpecError(
            f"{b.field('gpu_kind')}: {kind!r} is not allowed; write it as {GPU_KIND_FORM}, e.g. a100"
        )
    return kind


TEAM_SIZE_MAX = 50  # beyond it a "team" is a class


def parse_submissions(top: Table) -> SubmissionPolicy:
    allowed = {
        "per_day", "total", "deadline", "late", "late_penalty_percent_per_day", "late_days", "team_min", "team_max"
    }  # fmt: skip
    s = top.table("submissions", allowed, {})
    deadline = s.get("deadline", datetime, None)
    if deadline is not None:
        if deadline.tzinfo is None:
            raise SpecError(f"{s.field('deadline')}: add a time zone, e.g. {deadline.isoformat()}Z")
        deadline = deadline.astimezone(UTC).replace(tzinfo=None)
    late = s.choice("late", LATE_POLICIES, "refuse")
    penalty, days = s.number("late_penalty_percent_per_day", 0.0), s.get("late_days", int, 0)
    if late == "penalty" and not (0 < penalty <= 100 and days >= 1):
        raise SpecError(
            f'{s.where}: late = "penalty" needs late_penalty_percent_per_day in (0, 100] and late_days ≥ 1'
        )
    if late != "penalty" and "late_penalty_percent_per_day" in s:
        raise SpecError(f'{s.field("late_penalty_percent_per_day")}: only with late = "penalty"')
    total = s.positive("total", int, None)
    per_day = s.positive("per_day", int, 10)
    team_max = s.positive("team_max", int, None)
    team_min = s.positive("team_min", int, 1)
    if team_max is None and "team_min" in s:
        raise SpecError(f"{s.field('team_min')}: only with team_max (an assignment done in teams)")
    if team_max is not None and not team_min <= team_max <= TEAM_SIZE_MAX:
        raise SpecError(f"{s.where}: teams need 1 <= team_min <= team_max <= {TEAM_SIZE_MAX}")
    return SubmissionPolicy(per_day, total, deadline, late, penalty, days, team_min, team_max)


def parse_solutions(top: Table, folder: Path | None) -> tuple[Solution, ...]:
    """The declared solutions; by default ``reference.py`` must pass and each ``wrong/*.py`` fail."""
    raw = top.get("solutions", list, None)
    if raw is None:
        if folder is None:
            return ()
        found = [Solution("reference.py", "pass")] if (folder / "reference.py").exists() else []
        return tuple(
            found
            + [
                Solution(p.relative_to(folder).as_posix(), "fail")
                for p in sorted((folder / "wrong").glob("*.py"))
            ]
        )
    solutions = []
    for i, entry in enumerate(raw):
        t = Table(entry, f"{top.field('solutions')}[{i}]", {"file", "expect", "why", "diagnoses"})
        file = t.get("file", str)
        allowed = (*OUTCOMES, *(v.value for v in Verdict if v is not Verdict.SCORED))
        expect = t.choice("expect", allowed)
        if folder is not None and not (folder / file).is_file():
            raise SpecError(f"{t.field('file')}: {file!r} does not exist in {folder}")
        codes = t.get("diagnoses", list, [])
        if not all(isinstance(c, str) and c.isidentifier() for c in codes):
            raise SpecError(f'{t.field("diagnoses")}: a list of diagnosis codes, e.g. ["linear_stack"]')
        solutions.append(Solution(file, expect, t.get("why", str, ""), tuple(codes)))
    if not any(s.expect == "pass" for s in solutions):
        raise SpecError(
            f"{top.field('solutions')}: declare at least one solution that must pass (the reference)"
        )
    return tuple(solutions)
