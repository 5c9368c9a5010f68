"""Webhooks: courses' HTTP endpoints told about events (a submission scored), HMAC-signed and retried."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Each grade's, and each answered regrade request's, webhook deliveries (create_app calls this)."""
    from grader.domain_events import GradeCommitted, RegradeRequestAnswered, listen

    from .request_events import on_answered
    from .services import on_grade

    listen(app, GradeCommitted, on_grade)
    listen(app, RegradeRequestAnswered, on_answered)
