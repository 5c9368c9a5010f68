"""A plain submission's result is its grade: each result committed outside a sweep is a grade committed,
which webhooks and the LMS passback listen to. A sweep's run is no grade by itself: grader/sweeps/settle.py
commits the grade of the run it chooses once every run is final."""

from __future__ import annotations

from flask import Flask

from grader.domain_events import AfterCommit, GradeCommitted, ResultCommitted, listen, send, stage


def init_app(app: Flask) -> None:
    listen(app, ResultCommitted, on_result)


def on_result(event: ResultCommitted) -> AfterCommit | None:
    if event.sweep_id is not None:
        return None
    staged = stage(GradeCommitted(event.submission_id))
    return (lambda: send(staged)) if staged.after_commit else None
