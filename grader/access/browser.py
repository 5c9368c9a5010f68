"""What every browser page of the service shares, wherever its blueprint lives (the pages, LTI's,
the webhooks'): the session's user, ``login_required``, the CSRF check, the security headers and
the error page, installed on a blueprint in one call (``serve_pages``).

The CSRF check is the synchronizer-token pattern: a random token kept in the (signed) session and
echoed by each POST form as ``csrf_token`` (or by scripts as the ``X-CSRF-Token`` header), compared
in constant time.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import BadRequest, HTTPException

from grader.accounts.models import User
from grader.extensions import db

F = TypeVar("F", bound=Callable[..., Any])
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# Scripts and styles only from this site; no frames, plugins or foreign form targets.
CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


class CSRFError(BadRequest):
    description = "The form has expired or did not come from this site. Reload the page and try again."


def csrf_token() -> str:
    """This session's token (made on first use); templates put it in every POST form."""
    token = session.get("csrf_token")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session["csrf_token"] = token
    return token


def check_csrf() -> None:
    """Refuse a state-changing request whose token does not match the session's (before_request)."""
    if request.method in SAFE_METHODS:
        return
    expected = session.get("csrf_token")
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not sent or not hmac.compare_digest(expected, sent):
        raise CSRFError()


def current_user() -> User | None:
    """The logged-in user (cached on ``g`` for the session's user id), or None."""
    user_id = session.get("user_id")
    if not isinstance(user_id, int):
        return None
    cached = g.get("web_user")
    if cached is None or cached[0] != user_id:
        cached = g.web_user = (user_id, db.session.get(User, user_id))
    user: User | None = cached[1]
    return user


def login_required(view: F) -> F:
    """Send anonymous visitors to the login page, then back here."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            if request.method not in SAFE_METHODS or request.accept_mimetypes.best in (
                "application/json",
                "text/event-stream",
            ):
                abort(401)
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def byte_size(value: int) -> str:
    """Bytes in the largest binary unit that divides them evenly (5 MiB, 256 KiB, 1000 bytes)."""
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if value >= factor and value % factor == 0:
            return f"{value // factor:,} {unit}"
    return f"{value:,} bytes"


def error_page(error: HTTPException) -> tuple[str, int]:
    """Any HTTP error of a page (a refusal of the access kit included) as the site's error page."""
    code = error.code or 500
    if code == 413:
        limit = current_app.extensions["grader.config"].upload_max_bytes
        error.description = f"The file is too large: uploads may be at most {byte_size(limit)}."
    return render_template("web/error.html", error=error), code


def serve_pages(blueprint: Blueprint, *, csrf_exempt: Iterable[str] = ()) -> Blueprint:
    """Make the blueprint's routes browser pages: the CSRF check on every state-changing request
    (``csrf_exempt``: endpoints whose POSTs come from elsewhere and carry their own proof, such as an
    LMS's signed launch), the security headers on every response, and errors as the error page."""
    exempt = frozenset(csrf_exempt)

    def csrf() -> None:
        if request.endpoint not in exempt:
            check_csrf()

    blueprint.before_request(csrf)
    blueprint.after_request(security_headers)
    blueprint.register_error_handler(HTTPException, error_page)
    return blueprint
