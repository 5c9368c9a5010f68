"""A graded submission as Gradescope's autograder ``results.json``.

The layout is Gradescope's (``score``, ``execution_time``, ``output``, ``visibility``,
``stdout_visibility``, ``extra_data``, ``tests`` with name/score/max_score/status/output/visibility,
``leaderboard`` with name/value/order): the score on the hidden set is the one scored test, each
diagnosis a test of no points whose output is its evidence and fix, and the metric and score are the
leaderboard's columns.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from grader.engine.diagnosis.base import stored_in_order
from grader.engine.rules import CLASSIFICATION_METRICS, REGRESSION_METRICS
from grader.engine.scoring import metric_label
from grader.engine.spec import SpecError
from grader.submissions.models import Submission
from grader.workers.seeds import seeds_for

Visibility = Literal["hidden", "after_due_date", "after_published", "visible"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GradescopeTest(_Strict):
    name: str
    score: float
    max_score: float
    status: Literal["passed", "failed"]
    output: str
    output_format: Literal["text"] = "text"
    visibility: Visibility = "visible"
    tags: list[str] = Field(default_factory=list)


class GradescopeLeaderboardEntry(_Strict):
    name: str
    value: float
    order: Literal["asc", "desc"]


class GradescopeResults(_Strict):
    """Gradescope's autograder results.json, for one graded submission."""

    score: float
    execution_time: float = Field(description="Seconds the graded run took.")
    output: str
    output_format: Literal["text"] = "text"
    visibility: Visibility = "visible"
    stdout_visibility: Visibility = "hidden"
    extra_data: dict[str, Any]
    tests: list[GradescopeTest]
    leaderboard: list[GradescopeLeaderboardEntry]


def _seeds(submission: Submission, used: int) -> list[int]:
    try:
        count = submission.assignment_version.spec().grading.seeds
    except SpecError:
        return [used]
    return seeds_for(submission.id, count)


def gradescope_results(submission: Submission) -> GradescopeResults:
    """results.json of a submission that has a result (the caller checks it has one)."""
    result = submission.result
    assert result is not None
    details = result.details if isinstance(result.details, dict) else {}
    label = metric_label(result.metric_name)
    score = result.score if result.score is not None and math.isfinite(result.score) else 0.0
    metric = (
        result.metric_value
        if result.metric_value is not None and math.isfinite(result.metric_value)
        else None
    )
    value = "—" if metric is None else f"{metric:.4g}"
    late = details.get("late")
    late = late if isinstance(late, dict) else {}
    tests = [
        GradescopeTest(
            name=f"Score on the hidden set ({label})",
            score=score,
            max_score=result.max_score,
            status="passed" if result.passed else "failed",
            output=f"{result.verdict.replace('_', ' ')}: {label} {value}. {result.message}".strip(),
            tags=["hidden set"],
        )
    ]
    diagnoses = stored_in_order(details.get("diagnoses"))
    for d in diagnoses:
        where = f" ({d['where']})" if d.get("where") else ""
        tests.append(
            GradescopeTest(
                name=f"{str(d['severity']).capitalize()}: {d.get('title', d.get('code', ''))}{where}",
                score=0.0,
                max_score=0.0,
                status="passed" if d["severity"] == "hint" else "failed",
                output=f"Seen: {d.get('seen', '')}\nWhy it matters: {d.get('why', '')}\nFix: {d.get('fix', '')}",
                tags=["diagnosis", str(d.get("code", ""))],
            )
        )
    lower = {**REGRESSION_METRICS, **CLASSIFICATION_METRICS}.get(result.metric_name, True)
    leaderboard = [GradescopeLeaderboardEntry(name="Score", value=score, order="desc")]
    if metric is not None:
        leaderboard.insert(
            0, GradescopeLeaderboardEntry(name=label, value=metric, order="asc" if lower else "desc")
        )
    seeds = _seeds(submission, result.seed)
    return GradescopeResults(
        score=score,
        execution_time=round(result.wall_seconds or 0.0, 2),
        output=f"{result.message}\nTrained with seed {result.seed} (seeds of this submission: "
        f"{', '.join(map(str, seeds))}); {len(diagnoses)} diagnosis(es).".strip(),
        extra_data={
            "submission_id": submission.id,
            "assignment": submission.assignment_version.assignment.slug,
            "assignment_version": submission.assignment_version.number,
            "verdict": result.verdict,
            "metric": result.metric_name,
            "metric_value": metric,
            "max_score": result.max_score,
            "passed": result.passed,
            "seeds": seeds,
            "seed_used": result.seed,
            "late_days": int(late.get("days") or 0),
            "late_penalty_percent": float(late.get("penalty_percent") or 0),
            "graded_at": result.created_at.isoformat(timespec="seconds") + "Z",
        },
        tests=tests,
        leaderboard=leaderboard,
    )
