"""Restarts: whether a run stalled early, so that ``grade()`` trains it again from a new seed.

A run stalled when it stopped at a held-out plateau in the first part of its budget having
learned little: a bad initialisation more often than a bad configuration, and the seed-to-seed
spread is part of what a sweep shows, so the stalled attempts are reported, not hidden.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from grader.engine.spec import Assignment

if TYPE_CHECKING:
    from grader.engine.runner.grade import SeedRun

RESTART_STRIDE = 1_000_003  # restart k of seed s trains with seed s + k × this: far from the other seeds
STALL_FRACTION = 1 / 3  # stopped at a plateau before this part of its budget ...
STALL_LEARNED = 0.5  # ... with its best held-out loss still above this part of its first: it stalled


def stalled_early(
    assignment: Assignment, run: SeedRun, params: dict[str, Any] | None
) -> dict[str, Any] | None:
    """What made ``run`` a stalled one (stopped at a plateau early, little learned), or None.

    Its budget: the step budget (the point's own ``steps`` when fewer), else the training seconds.
    It rests on the harness's records, which student code could forge: that gains at most the few
    restarts, each from a fresh seed, the last kept whatever it scores.
    """
    training = run.result.training
    trained, stopping = training.trained or {}, training.early_stopping or {}
    if run.score is None or trained.get("reason") != "plateau":
        return None
    first, best = _number(stopping.get("first")), _number(stopping.get("best"))
    if first is None or best is None or best <= STALL_LEARNED * first:
        return None
    step = _number(stopping.get("stopped_at"))
    step = _number(trained.get("steps")) if step is None else step
    seconds = _number(trained.get("seconds"))
    own = (params or {}).get("steps")
    budgets = [b for b in (assignment.budget.max_steps, own) if isinstance(b, int) and b > 0]
    if budgets:
        early = step is not None and step < STALL_FRACTION * min(budgets)
    else:
        early = seconds is not None and seconds < STALL_FRACTION * assignment.budget.train_seconds
    if not early:
        return None
    return {
        "step": None if step is None else int(step), "first_loss": first, "best_loss": best,
        "metric_value": run.metric_value, "score": run.score,
    }  # fmt: skip


def _number(value: Any) -> float | None:
    """A finite number from a record, or None (records are claims: a huge int or a string is no number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
