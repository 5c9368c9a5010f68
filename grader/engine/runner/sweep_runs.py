"""What a sweep's run passes to the runner: its settings, early stopping and restarts (no Flask)."""

from __future__ import annotations

from typing import Any

from grader.engine.runner.session import early_stopping_settings
from grader.engine.spec import Assignment as Spec
from grader.engine.sweep_rules import SweepPolicy


def run_options(
    spec: Spec, params: dict[str, Any] | None, policy: SweepPolicy | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``grade()`` of one run of a sweep; {} for a plain submission.

    ``policy`` defaults to the spec's own (``grader run --sweep`` passes one for assignments without).
    """
    if params is None:
        return {}
    policy = policy or spec.sweep
    stopping = policy.early_stopping if policy is not None else None
    return {
        "params": dict(params),
        "early_stopping": early_stopping_settings(stopping, spec.task) if stopping is not None else None,
        "restarts": policy.restarts if policy is not None else 0,
    }
