"""The database out of reach for a moment (a restart, a failover): 503 with Retry-After, never a 500.

While PostgreSQL restarts, every request that touches it fails with an OperationalError (refused,
terminated) or an InterfaceError (a connection that died under the session). Such a request
committed nothing (an upload commits its row last), so the honest answer is "not now, try again":
API clients get problem+json, browsers a plain page, both with ``Retry-After``. The one doubt is a
connection lost during the very COMMIT: the row may exist after all, and then the reconciler has it
graded; a 503 never loses an accepted upload (at worst a retry makes a second one). The pool pings
connections on checkout (``pool_pre_ping``), so the first request after the restart gets a new one.
"""

from __future__ import annotations

import contextlib

from flask import Flask, Response, current_app, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from grader.api_errors import problem
from grader.extensions import db

RETRY_AFTER_SECONDS = 10
DATABASE_DOWN = (OperationalError, InterfaceError)


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database could not be reached or dropped the connection."""
    if isinstance(error, DATABASE_DOWN):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def rollback_quietly() -> None:
    """End the session's transaction; on a dead connection the rollback itself may fail."""
    with contextlib.suppress(Exception):
        db.session.rollback()


def unavailable_response(error: Exception) -> Response:
    """The 503 answer to a request that failed because the database was out of reach."""
    rollback_quietly()
    # One line, not a traceback: during a restart every request lands here.
    current_app.logger.warning(
        "database unavailable during %s %s: %s", request.method, request.path, str(error).splitlines()[0]
    )
    detail = (
        "The grader's database is unavailable for a moment (a restart or failover); nothing of this "
        f"request was kept. Try again in {RETRY_AFTER_SECONDS} seconds."
    )
    if request.path.startswith("/api/"):
        response = problem(503, "Service Unavailable", detail)
    else:
        # A standalone page, rendered without the context processors: the site's layout and
        # ``current_user`` ask the database who is logged in.
        page = current_app.jinja_env.get_template("web/unavailable.html").render(detail=detail)
        response = Response(page, status=503, mimetype="text/html")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def init_app(app: Flask) -> None:
    """Answer 503 + Retry-After for the pages (the API's blueprints call ``unavailable_response``)."""
    for kind in DATABASE_DOWN:
        app.register_error_handler(kind, unavailable_response)
