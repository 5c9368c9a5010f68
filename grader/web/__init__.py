"""The server-rendered web pages: login, assignments, uploads, live status, results, scoreboards.

Jinja templates with a little progressive JavaScript (every page works without
it; the status page then refreshes itself). The only browser library, uPlot,
comes from the npm registry (package.json) and is served from node_modules.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the pages' blueprints (create_app calls this)."""
    from . import auth, drafts, leaderboards, login_limits, publishing, staff, sweeps, views

    # The session cookie is the login: never readable by scripts, never sent on cross-site POSTs.
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    if app.extensions["grader.config"].env == "production":
        app.config["SESSION_COOKIE_SECURE"] = True
    login_limits.init_app(app)
    app.register_blueprint(auth.blueprint)
    app.register_blueprint(views.blueprint)
    app.register_blueprint(publishing.blueprint)
    app.register_blueprint(staff.blueprint)
    app.register_blueprint(drafts.blueprint)
    app.register_blueprint(leaderboards.blueprint)
    app.register_blueprint(sweeps.blueprint)
    from grader.lti.views import blueprint as lti_pages  # launches from an LMS, its pages for staff

    app.register_blueprint(lti_pages)
    from grader.webhooks import views as webhook_views

    app.register_blueprint(webhook_views.blueprint)
