"""Why a training run went wrong, in words a student can act on (issue 5).

Each rule is a small function of the run's evidence (``evidence.py``) that
returns a ``Diagnosis`` only with its evidence: the numbers or the line of code
it rests on. Rules never affect the score. No Flask, database or Celery here.
"""

from __future__ import annotations

from dataclasses import replace

from . import (  # noqa: F401 - registers the rules
    effect_rules,
    failure_rules,
    model_rules,
    output_rules,
    sweep_rules,
    training_rules,
)
from .base import RANK, RULES, SUPERSEDES, Diagnosis
from .evidence import Evidence, gather

__all__ = ["Diagnosis", "Evidence", "diagnose", "gather"]


def diagnose(evidence: Evidence) -> list[Diagnosis]:
    """Every rule's finding for this run, the most likely cause first; none that a cause makes moot.

    A run that passed gets hints only: whatever a rule saw did not stop it, and a false alarm on a
    good solution costs more trust than a missed remark.
    """
    found = []
    for rule in RULES:
        try:
            diagnosis = rule(evidence)
        except (ValueError, TypeError, ArithmeticError, KeyError, IndexError, AttributeError):
            continue  # malformed claims from the sandbox: no diagnosis rather than a wrong one
        if diagnosis is not None:
            found.append(replace(diagnosis, severity="hint") if evidence.passed else diagnosis)
    codes = {d.code for d in found}
    moot = set().union(*(SUPERSEDES.get(code, set()) for code in codes))
    kept = [d for d in found if d.code not in moot]
    # Errors and warnings by how likely each is the cause (a warned-of cause before an error's symptom),
    # then the hints.
    return sorted(kept, key=lambda d: (d.severity == "hint", ORDER.get(d.code, len(ORDER))))


ORDER = {code: i for i, code in enumerate(RANK)}
