"""Entry point for Celery: ``celery -A grader.worker_main:celery worker -Q cpu`` (and ``beat``)."""

from __future__ import annotations

from grader.app import create_app

app = create_app()
celery = app.extensions["celery"]
