"""The WSGI entry point for production servers: ``gunicorn grader.wsgi:app``.

Also the app that ``flask --app grader.wsgi:app db upgrade`` migrates. Settings come
from the ``GRADER_*`` environment (``grader/config.py``), read once at import.
"""

from __future__ import annotations

from grader.app import create_app

app = create_app()
