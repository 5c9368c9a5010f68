"""Did a passing run learn? Questions for the instructor, never a change to the grade.

A forward() that computes the public formula itself scores full marks with a token parameter.
The harness looks at the trained model twice after training (grader/engine/harness/untrained.py): with
the weights it had before its first step, as the held-out curve's point at step 0, and with its
weights moved by noise. A run that passes either way did not need to learn: the staff are told,
on the result page. Both are the sandbox's claims, so they raise a question and decide nothing.
"""

from __future__ import annotations

from typing import Any

from grader.engine.scoring import points
from grader.engine.spec import Assignment
from grader.engine.training import Training


def learning_doubts(assignment: Assignment, training: Training, score: float | None) -> dict[str, Any]:
    """What suggests that a run which meets the pass mark did so without learning ({} if nothing)."""
    if score is None or score < assignment.points:
        return {}
    found: dict[str, Any] = {}
    steps, values = training.curves.get(f"heldout/{assignment.metric}", ([], []))
    before = next((v for s, v in zip(steps, values, strict=False) if s == 0), None)
    if before is not None and points(before, assignment.grading) >= assignment.points:
        found["passes_before_training"] = before
    noise = training.probes.get("weights_matter") or {}
    if noise.get("unchanged_by_noise") is True:
        found["unchanged_by_noise"] = True
    return found
