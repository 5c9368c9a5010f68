"""Drawing points from a spec: variables in order, constraints by rejection, then the target.

The target is computed here, on the host; only inputs ever go to a sandbox.
A target function is the instructor's trusted code from the assignment
folder (or the published version), never the student's.
"""

from __future__ import annotations

import csv
import inspect
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from grader.engine import expression
from grader.engine.fields import SpecError

if TYPE_CHECKING:
    from grader.engine.spec import Assignment

CHECK_DRAWS = 20_000
MIN_ACCEPTANCE = 0.01  # below this, a constraint wastes more than 99% of the draws


@dataclass(frozen=True)
class DataSet:
    inputs: np.ndarray  # float32 [N, d]
    targets: np.ndarray  # float64 [N] (class indices as whole numbers for classification)


def _draw_variables(spec: Assignment, size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    values: dict[str, np.ndarray] = {}
    for v in spec.variables:
        if v.expression is not None:
            tree = expression.parse(v.expression, set(values))
            values[v.name] = np.broadcast_to(expression.evaluate(tree, values), (size,)).copy()
        elif v.distribution in ("uniform", "log-uniform"):
            assert v.low is not None and v.high is not None
            if v.distribution == "uniform":
                values[v.name] = rng.uniform(v.low, v.high, size)
                continue
            values[v.name] = np.exp(rng.uniform(math.log(v.low), math.log(v.high), size))
        elif v.distribution == "normal":
            values[v.name] = rng.normal(v.mean, v.std, size)
        else:
            p = np.asarray(v.weights) / sum(v.weights)
            values[v.name] = rng.choice(np.asarray(v.values), size=size, p=p)
    return values


def _accepted(spec: Assignment, values: dict[str, np.ndarray], size: int) -> np.ndarray:
    keep = np.ones(size, dtype=bool)
    for text in spec.constraints:
        tree = expression.parse(text, set(values))
        keep &= np.broadcast_to(expression.evaluate(tree, values).astype(bool), (size,))
    return keep


def _target_function(spec: Assignment) -> Callable[..., Any]:
    assert spec.target.function is not None
    file, _, name = spec.target.function.partition(":")
    namespace: dict[str, Any] = {"__name__": f"assignment_{spec.slug.replace('-', '_')}_target"}
    code = compile(spec.files[file], f"{spec.slug}/{file}", "exec")
    exec(code, namespace)  # the instructor's target function (trusted), never a student's code
    function = namespace.get(name)
    if not callable(function):
        raise SpecError(f"{spec.slug}: target.function: {file} defines no function {name!r}")
    return function  # type: ignore[no-any-return]


def compute_targets(spec: Assignment, values: dict[str, np.ndarray], size: int) -> np.ndarray:
    if spec.target.expression is not None:
        tree = expression.parse(spec.target.expression, set(values))
        out = expression.evaluate(tree, values)
    else:
        function = _target_function(spec)
        params = inspect.signature(function).parameters
        missing = [p for p in params if p not in values]
        if missing:
            raise SpecError(f"{spec.slug}: target.function takes {missing[0]!r}, which is not a variable")
        with np.errstate(all="ignore"):
            out = np.asarray(function(**{p: values[p] for p in params}), dtype=np.float64)
    return np.broadcast_to(out, (size,)).astype(np.float64)


def draw(spec: Assignment, size: int, seed: int) -> DataSet:
    """``size`` points that satisfy the constraints, reproducible from ``seed``."""
    if spec.data.file is not None:
        raise ValueError("an assignment with a data file draws rows, not points (see rows())")
    rng = np.random.default_rng(seed)
    chunks: list[dict[str, np.ndarray]] = []
    have = 0
    while have < size:
        batch = max(256, 2 * (size - have)) if spec.constraints else size - have
        values = _draw_variables(spec, batch, rng)
        keep = _accepted(spec, values, batch) if spec.constraints else np.ones(batch, dtype=bool)
        chunks.append({k: v[keep] for k, v in values.items()})
        have += int(keep.sum())
    values = {k: np.concatenate([c[k] for c in chunks])[:size] for k in chunks[0]}
    targets = compute_targets(spec, values, size)
    inputs = np.stack([values[v.name] for v in spec.inputs], axis=1).astype(np.float32)
    return DataSet(inputs.reshape(size, len(spec.inputs)), targets)


def read_csv(spec: Assignment, name: str, with_target: bool) -> DataSet:
    """A CSV data file: a header naming the inputs (and the target), then one row per point."""
    text = spec.files[name].decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    where = f"{spec.slug}/{name}"
    if not rows:
        raise SpecError(f"{where}: the file is empty; it needs a header row")
    header = [h.strip() for h in rows[0]]
    wanted = [v.name for v in spec.inputs] + ([spec.target.column or spec.target.name] if with_target else [])
    missing = [w for w in wanted if w not in header]
    if missing:
        raise SpecError(f"{where}: no column {missing[0]!r}; the header has {', '.join(header)}")
    index = [header.index(w) for w in wanted]
    try:
        table = np.array([[float(row[i]) for i in index] for row in rows[1:] if row], dtype=np.float64)
    except (ValueError, IndexError) as exc:
        raise SpecError(f"{where}: every row needs a number in each column ({exc})") from None
    table = table.reshape(-1, len(wanted))
    inputs = table[:, : len(spec.inputs)].astype(np.float32)
    return DataSet(inputs, table[:, -1] if with_target else np.zeros(len(table)))


def check_targets(spec: Assignment, data: DataSet, where: str) -> None:
    """Targets that a model can be trained and scored on: finite, and whole class numbers for classes."""
    bad = ~np.isfinite(data.targets)
    if bad.any():
        i = int(np.argmax(bad))
        at = ", ".join(f"{v.name} = {x:.6g}" for v, x in zip(spec.inputs, data.inputs[i], strict=True))
        raise SpecError(f"{where}: the target is {data.targets[i]} at {at}; it must be finite everywhere")
    task = spec.task
    if task.classification:
        classes = 2 if task.type == "binary" else task.classes
        labels = data.targets
        if not np.all(labels == np.rint(labels)) or labels.min() < 0 or labels.max() >= classes:
            raise SpecError(
                f"{where}: a {task.type} target must be a class number 0..{classes - 1}; got values "
                f"{np.unique(labels)[:8].tolist()}"
            )


def check_drawable(spec: Assignment, where: str) -> None:
    """Refuse a spec whose constraints (almost) never hold or whose target breaks somewhere."""
    if spec.data.file is not None:
        data = read_csv(spec, spec.data.file, with_target=True)
        if len(data.targets) < spec.data.train_size + spec.data.validation_size + spec.data.hidden_size:
            raise SpecError(
                f"{where}: data.file has {len(data.targets)} rows, fewer than the three splits ask"
            )
        check_targets(spec, data, f"{where}: data.file")
        return
    rng = np.random.default_rng(0)
    try:
        values = _draw_variables(spec, CHECK_DRAWS, rng)
        for text in spec.constraints:
            kept = int(_accepted_one(text, values).sum())
            if kept == 0:
                raise SpecError(
                    f"{where}: constraint {text!r} holds for none of {CHECK_DRAWS:,} draws; "
                    "no input can satisfy it with these ranges"
                )
        share = float(_accepted(spec, values, CHECK_DRAWS).mean()) if spec.constraints else 1.0
    except expression.ExpressionError as exc:
        raise SpecError(f"{where}: {exc}") from None
    if share == 0:
        raise SpecError(f"{where}: the constraints together hold for none of {CHECK_DRAWS:,} draws")
    if share < MIN_ACCEPTANCE:
        raise SpecError(
            f"{where}: the constraints hold for only {share:.2%} of draws; narrow the input ranges instead"
        )
    sample = draw(spec, 2000, 0)
    check_targets(spec, sample, f"{where}: target")
    if spec.data.train_file is not None:
        check_targets(spec, read_csv(spec, spec.data.train_file, True), f"{where}: data.train_file")


def _accepted_one(text: str, values: dict[str, np.ndarray]) -> np.ndarray:
    tree = expression.parse(text, set(values))
    return np.asarray(expression.evaluate(tree, values)).astype(bool)
