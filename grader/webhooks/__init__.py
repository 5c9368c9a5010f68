"""Webhooks: courses' HTTP endpoints told about events (a submission scored), HMAC-signed and retried."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Each grade's webhook deliveries (create_app calls this)."""
    from grader.domain_events import GradeCommitted, listen

    from .services import on_grade

    listen(app, GradeCommitted, on_grade)
