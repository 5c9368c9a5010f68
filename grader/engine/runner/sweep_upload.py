"""Whether an upload carries a sweep, and its plan: read from the upload, never from running it."""

from __future__ import annotations

import hashlib
from typing import Any

from grader.engine.runner.submission import PreparedSubmission
from grader.engine.spec import Assignment as Spec
from grader.engine.sweep_request import SweepPlan, SweepRefused, from_json, from_source, plan


def raw_sweep(prepared: PreparedSubmission, sweep: str | None) -> Any | None:
    """The sweep as given: the JSON beside the upload, else the file's ``SWEEP`` literal, else None."""
    if sweep and sweep.strip():
        return from_json(sweep)
    if prepared.entry.endswith(".py"):
        return from_source(prepared.files[prepared.entry], prepared.entry)
    return None


def sweep_of_upload(
    spec: Spec, prepared: PreparedSubmission, content: bytes, sweep: str | None
) -> SweepPlan | None:
    """The plan of the sweep sent beside the upload (``sweep``, JSON) or written in its file
    (``SWEEP = {...}``); None for a plain upload. Raises SweepRefused naming the field."""
    raw = raw_sweep(prepared, sweep)
    if raw is None:
        need = spec.sweep.require if spec.sweep else None
        if need is not None:
            span = f" spanning {need.span_decades:g} decades" if need.span_decades else ""
            raise SweepRefused(
                f"sweep: this assignment is graded on a sweep, and this upload has none. Add "
                f"SWEEP = {{'grid': {{'{need.setting}': [...]}}}} to your file (or send it in the sweep field), "
                f"with at least {need.min_values} values of {need.setting}{span}."
            )
        return None
    return plan(raw, spec.sweep, hashlib.sha256(content).digest(), spec.grading.seeds)
