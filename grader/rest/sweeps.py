"""The sweep resource of /api/v1: its plan, every run's state and metric, the spread and the best point."""

from __future__ import annotations

from typing import Any

from flask import url_for
from pydantic import Field

from grader.access.kit import require_sweep
from grader.accounts.models import User
from grader.rest.registry import Api
from grader.rest.schemas import Model, Number
from grader.submissions.models import Sweep
from grader.sweeps import services

api = Api("sweeps_api", "Sweeps")


class SweepRunOut(Model):
    submission_id: int
    url: str
    seed_index: int = Field(description="Which of the point's seeds (0, 1, ...).")
    state: str
    seed: int | None = Field(description="The training seed, once run.")
    metric_value: Number
    score: Number
    verdict: str | None
    stopped: str | None = Field(
        description="Why training ended: finished, plateau (early stop), step_budget, ..."
    )
    steps: int | None
    best_heldout: Number = Field(description="The lowest held-out loss early stopping saw while it trained.")
    restarts: list[dict[str, Any]] = Field(description="Earlier tries of this run that stalled early.")


class SweepPointOut(Model):
    index: int
    settings: dict[str, Any]
    runs: list[SweepRunOut]
    median: Number = Field(description="The metric's median over the point's seeds.")
    low: Number
    high: Number
    best: bool


class SweepOut(Model):
    id: int
    url: str
    page_url: str
    method: str = Field(description="grid or random")
    space: dict[str, Any] = Field(description="What was asked, per setting.")
    seeds: int
    metric: str
    lower_is_better: bool
    runs_total: int
    runs_done: int
    varying: list[str]
    points: list[SweepPointOut]
    best_point: int | None = Field(description="The point with the best median metric so far.")


def sweep_body(sweep: Sweep) -> SweepOut:
    comparison = services.compare(sweep)
    points = [
        SweepPointOut(
            index=p.index, settings=p.settings, median=p.median, low=p.low, high=p.high, best=p.best,
            runs=[
                SweepRunOut(
                    submission_id=r.submission_id,
                    url=url_for("submissions_api.get_submission", submission_id=r.submission_id),
                    seed_index=r.seed_index, state=r.state, seed=r.seed, metric_value=r.metric_value,
                    score=r.score, verdict=r.verdict, stopped=r.stopped, steps=r.steps, best_heldout=r.best_heldout,
                    restarts=r.restarts,
                )
                for r in p.runs
            ],
        )
        for p in comparison.points
    ]  # fmt: skip
    best = comparison.best
    return SweepOut(
        id=sweep.id, url=url_for("sweeps_api.get_sweep", sweep_id=sweep.id),
        page_url=url_for("sweeps.page", sweep_id=sweep.id), method=sweep.plan["method"],
        space=sweep.plan["space"], seeds=sweep.plan["seeds"], metric=comparison.metric,
        lower_is_better=comparison.lower_is_better, runs_total=comparison.total, runs_done=comparison.done,
        varying=comparison.settings, points=points, best_point=best.index if best else None,
    )  # fmt: skip


@api.operation(
    "GET", "/sweeps/<int:sweep_id>", summary="Get a sweep: its runs side by side", response=SweepOut
)
def get_sweep(user: User, sweep_id: int) -> SweepOut:
    """Every point of the sweep with its settings, each run's state, metric and why it stopped, the
    spread over seeds, and the best point so far (by the median metric)."""
    return sweep_body(require_sweep(user, sweep_id))
