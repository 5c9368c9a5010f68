"""An assignment's ``[sweep]`` table: whether students may submit sweeps, how big, and what is required.

    [sweep]
    max_runs = 12                      # points x seeds in one sweep
    runs_per_day = 48                  # runs of one student's sweeps in any 24 hours
    settings = ["lr", "optimizer"]     # what may vary (default: every known setting)
    restarts = 1                       # new initialisations for a run that stalls early
    early_stopping = { patience = 5, min_delta = 0.01, every = 50 }
    require = { setting = "lr", min_values = 5, span_decades = 4 }

With ``require`` the assignment is graded on a sweep: an upload without one, or whose sweep does
not vary ``setting`` over at least ``min_values`` values spanning ``span_decades`` decades, is
refused. Its score is the best run's.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.engine.fields import SpecError, Table
from grader.engine.sweep_settings import SETTINGS


@dataclass(frozen=True)
class EarlyStopping:
    patience: int = 5  # held-out evaluations in a row without improvement before the run stops
    min_delta: float = 0.01  # relative improvement of the best held-out loss that counts
    every: int | None = None  # steps between held-out evaluations; None: about 100 per run


@dataclass(frozen=True)
class SweepRequirement:
    setting: str
    min_values: int = 1
    span_decades: float = 0.0


@dataclass(frozen=True)
class SweepPolicy:
    max_runs: int = 12
    # Runs of a student's sweeps in any 24 hours: each is scored on the hidden set, and many scores of
    # nearly the same model are how a hidden set is probed (docs/threat-model.md).
    runs_per_day: int = 48
    settings: tuple[str, ...] = tuple(SETTINGS)
    restarts: int = 0
    early_stopping: EarlyStopping | None = EarlyStopping()
    require: SweepRequirement | None = None


def parse_sweep(top: Table) -> SweepPolicy | None:
    if "sweep" not in top:
        return None
    s = top.table("sweep", {"max_runs", "runs_per_day", "settings", "restarts", "early_stopping", "require"})
    max_runs = s.positive("max_runs", int, SweepPolicy.max_runs)
    if max_runs > 200:
        raise SpecError(f"{s.field('max_runs')}: {max_runs}; at most 200 runs per sweep")
    runs_per_day = s.positive("runs_per_day", int, max(SweepPolicy.runs_per_day, max_runs))
    if not max_runs <= runs_per_day <= 1000:
        raise SpecError(
            f"{s.field('runs_per_day')}: {runs_per_day}; from max_runs ({max_runs}), or no sweep could run, to 1000"
        )
    names = s.get("settings", list, list(SETTINGS))
    for i, name in enumerate(names):
        if name not in SETTINGS:
            raise SpecError(
                f"{s.field('settings')}[{i}]: unknown setting {name!r}; known: {', '.join(SETTINGS)}"
            )
    restarts = s.get("restarts", int, 0)
    if not 0 <= restarts <= 5:
        raise SpecError(f"{s.field('restarts')}: {restarts}; from 0 to 5")
    stopping: EarlyStopping | None = EarlyStopping()
    if "early_stopping" in s:
        raw = s.raw["early_stopping"]
        if raw is False:
            stopping = None
        else:
            e = s.table("early_stopping", {"patience", "min_delta", "every"})
            stopping = EarlyStopping(
                patience=e.positive("patience", int, EarlyStopping.patience),
                min_delta=e.number("min_delta", EarlyStopping.min_delta),
                every=e.positive("every", int, None),
            )
            if not 0 <= stopping.min_delta < 1:
                raise SpecError(
                    f"{e.field('min_delta')}: {stopping.min_delta}; from 0 up to (not including) 1"
                )
    require = None
    if "require" in s:
        r = s.table("require", {"setting", "min_values", "span_decades"})
        require = SweepRequirement(
            setting=r.choice("setting", tuple(names)),
            min_values=r.positive("min_values", int, 1),
            span_decades=r.number("span_decades", 0.0),
        )
        if require.span_decades and SETTINGS[require.setting].kind not in ("float", "int"):
            raise SpecError(f"{r.field('span_decades')}: {require.setting!r} is not a number setting")
    return SweepPolicy(max_runs, runs_per_day, tuple(names), restarts, stopping, require)
