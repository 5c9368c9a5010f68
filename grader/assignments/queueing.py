"""Which Celery queue grades an assignment's submissions: one rule for submissions and draft checks."""

from __future__ import annotations

from grader.config import GRADING_QUEUE
from grader.engine.rules import Budget


def grading_queue(budget: Budget, default: str) -> str:
    """``gpu-<kind>`` for a spec that asks for a kind of GPU, ``gpu`` for any GPU; the deployment's
    queue (``default``) otherwise."""
    if budget.device != "gpu":
        return default
    return f"gpu-{budget.gpu_kind}" if budget.gpu_kind else "gpu"


def is_grading_queue(name: str) -> bool:
    """Whether ``name`` is a queue gradings can be sent to: cpu, gpu or gpu-<kind>."""
    return GRADING_QUEUE.fullmatch(name) is not None
