"""Hyperparameter sweeps: one submission's settings grid or random search, each point its own run."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """A sweep is settled when its last run's result is committed (create_app calls this)."""
    from grader.domain_events import ResultCommitted, listen
    from grader.sweeps.settle import on_result

    listen(app, ResultCommitted, on_result)
