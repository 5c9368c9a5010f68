"""The server-rendered web pages: login, assignments, uploads, live status, results, scoreboards.

Jinja templates with a little progressive JavaScript (every page works without
it; the status page then refreshes itself). The only browser library, uPlot,
is vendored in ``vendor/uplot`` (package data, like the templates).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The pages' session cookie and login limits (create_app calls this; it registers the blueprints)."""
    from grader.access.browser import FramedSessionInterface

    from . import login_limits

    # Sessions launched inside an LMS's frame get a cookie that survives there (the others keep Lax).
    app.session_interface = FramedSessionInterface()

    # The session cookie is the login: never readable by scripts, never sent on cross-site POSTs.
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    if app.extensions["grader.config"].env == "production":
        app.config["SESSION_COOKIE_SECURE"] = True
    login_limits.init_app(app)
