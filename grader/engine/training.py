"""What the harness reported about one run's training, as the host's conversation with the sandbox
(runner/conversation.py) gathered it: descriptive only, never used for the score. The runner, the
output conventions and the diagnoses read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Training:
    """What the harness reported about training (descriptive, never used for the score)."""

    curves: dict[str, tuple[list[int], list[float | None]]] = field(default_factory=dict)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)
    heldout: list[tuple[int, list[Any]]] = field(default_factory=list)  # scored by grade.py
    final_outputs: list[Any] | None = None  # the trained model's outputs on public inputs (conventions.py)
    model: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None  # what the run trained with (a sweep point's settings)
    early_stopping: dict[str, Any] | None = None  # the held-out loss early stopping watched
    trained: dict[str, Any] | None = None
    failure: dict[str, Any] | None = None
    started: dict[str, Any] | None = None
    hello: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None
    # Every model claim and how often a once-only record came: more than one of either is the
    # submission writing records of its own (shown to the staff, measure.py).
    claimed_parameters: list[int] = field(default_factory=list)
    repeated: dict[str, int] = field(default_factory=dict)
    rejected_records: int = 0
    metrics_bytes: int = 0
    records_read: int = 0
