"""A diagnosis: what was seen (with its numbers or line of code), why it matters, and the fix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .evidence import Evidence

SEVERITIES = ("error", "warning", "hint")  # error: a bug that explains a poor result; hint: advice


@dataclass(frozen=True)
class Diagnosis:
    code: str
    severity: str
    title: str
    seen: str  # the evidence, in numbers or a line of code
    why: str
    fix: str
    where: str = ""  # file.py:line in the student's code, when known
    numbers: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Rule = Callable[[Evidence], "Diagnosis | None"]
RULES: list[Rule] = []


def rule(function: Rule) -> Rule:
    """Register a rule: a function of the evidence that returns a diagnosis or None."""
    RULES.append(function)
    return function


def g(value: float) -> str:
    """A number as people read it: 3 significant digits, thousands separated."""
    if value != value:  # NaN
        return "NaN"
    if abs(value) >= 1e5 or (0 < abs(value) < 1e-3):
        return f"{value:.2e}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"
