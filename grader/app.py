"""The application factory."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response, request
from sqlalchemy import event
from werkzeug.exceptions import HTTPException

from grader.config import ServiceConfig
from grader.extensions import db, migrate

MIGRATIONS = Path(__file__).resolve().parent / "migrations"  # package data: there in a wheel too


def create_app(overrides: dict[str, str] | None = None) -> Flask:
    """Build the app; ``overrides`` are GRADER_* settings that win over the environment (tests)."""
    app = Flask("grader", instance_relative_config=True)
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    config = ServiceConfig.from_env(instance, overrides)
    from grader.ops.logs import configure_logging

    configure_logging(config.log_format)  # first: web, workers and beat all build the app
    app.config.update(
        SECRET_KEY=config.secret_key,
        SQLALCHEMY_DATABASE_URI=config.database_url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        # Werkzeug refuses larger bodies before reading them; the slack is for the form's own bytes.
        MAX_CONTENT_LENGTH=config.upload_max_bytes + 64 * 1024,
    )
    app.extensions["grader.config"] = config
    if config.database_url.startswith("sqlite"):
        # Web, worker and beat share the file: wait for locks instead of failing at once.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}
    db.init_app(app)
    if config.database_url.startswith("sqlite"):
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_wal)
    migrate.init_app(app, db, directory=str(MIGRATIONS))

    _import_models()
    from grader import storage

    storage.init_app(app, config)  # the configured store, once per app (a database one uses db.session)

    from grader.celery_app import celery_init_app

    celery_init_app(app)

    from grader import lti, sweeps, web, webhooks
    from grader.submissions import grade_events, reference

    for part in (grade_events, reference, webhooks, lti, sweeps):  # their listeners of the domain events
        part.init_app(app)
    web.init_app(app)
    for blueprint in _blueprints():
        app.register_blueprint(blueprint)
    app.register_error_handler(HTTPException, _http_error)
    from grader import outage

    outage.init_app(app)  # the database restarting: 503 + Retry-After, not a 500
    return app


def _blueprints() -> list[Blueprint]:
    """Every blueprint of the service, in one place: the pages, LTI's and the webhooks' pages, each
    domain's API, the API's own routes (its document) and the metrics."""
    from grader.lti.views import blueprint as lti_pages
    from grader.ops.metrics import blueprint as metrics
    from grader.rest import assignments, audit, courses, grades, submissions
    from grader.rest import blueprint as rest
    from grader.rest import regrade_requests as requests_api
    from grader.rest import similarity as similarity_api
    from grader.rest import sweeps as sweeps_api
    from grader.rest import teams as teams_api
    from grader.rest import webhooks as webhooks_api
    from grader.web import (
        audit_trail,
        auth,
        drafts,
        leaderboards,
        publishing,
        regrade_requests,
        similarity,
        staff,
        sweeps,
        teams,
        views,
    )
    from grader.webhooks import views as webhook_pages

    pages = [auth, views, publishing, staff, drafts, leaderboards, sweeps, teams, similarity, audit_trail,
             regrade_requests]  # fmt: skip
    apis = [courses, assignments, submissions, sweeps_api, grades, webhooks_api, teams_api, similarity_api,
            audit, requests_api]  # fmt: skip
    return [
        *(page.blueprint for page in pages), lti_pages, webhook_pages.blueprint,
        *(module.api.blueprint for module in apis), rest, metrics,
    ]  # fmt: skip


def _sqlite_wal(connection: object, _: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _import_models() -> None:
    """Every model module, so that metadata (and migrations) see all tables."""
    from grader.accounts import models as accounts  # noqa: F401
    from grader.assignments import models as assignments  # noqa: F401
    from grader.audit import models as audit  # noqa: F401
    from grader.courses import models as courses  # noqa: F401
    from grader.lti import models as lti  # noqa: F401
    from grader.regrade_requests import models as regrade_requests  # noqa: F401
    from grader.similarity import models as similarity  # noqa: F401
    from grader.storage import models as storage  # noqa: F401
    from grader.submissions import models as submissions  # noqa: F401
    from grader.teams import models as teams  # noqa: F401
    from grader.webhooks import models as webhooks  # noqa: F401


def _http_error(error: HTTPException) -> Response | HTTPException:
    if request.path.startswith("/api/"):
        from grader.rest import http_problem

        return http_problem(error)
    return error
