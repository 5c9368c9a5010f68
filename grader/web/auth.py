"""Logging in and out with a session cookie, ``login_required``, and CSRF tokens for every form.

The CSRF check is the synchronizer-token pattern: a random token kept in the
(signed) session and echoed by each POST form as ``csrf_token`` (or by scripts
as the ``X-CSRF-Token`` header), compared in constant time.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

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
from werkzeug.exceptions import BadRequest

from grader.accounts.models import User
from grader.accounts.services import authenticate
from grader.extensions import db

from . import login_limits

blueprint = Blueprint("auth", __name__, template_folder="templates")

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


def safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme): no open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("web.home")


def security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def page_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "current_user": current_user()}


blueprint.before_request(check_csrf)
blueprint.after_request(security_headers)
blueprint.app_context_processor(page_globals)


TOO_MANY = (
    "Too many failed logins for this account, or from your network, in a short time. Wait a few "
    "minutes and try again; if you have forgotten your password, ask your instructor to reset it."
)


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user() is not None:
            return redirect(target)
        return render_template("web/login.html", next=target, email="", error=None)
    email = request.form.get("email", "")
    address = request.remote_addr or "unknown"
    if login_limits.locked(email, address):
        page = render_template("web/login.html", next=target, email=email[:254], error=TOO_MANY)
        return page, 429, {"Retry-After": "60"}
    user = authenticate(email, request.form.get("password", ""))
    if user is None:
        login_limits.failed(email, address)
        current_app.logger.info("failed login for %r from %s", email[:254], address)
        error = "That email and password do not match an account."
        return render_template("web/login.html", next=target, email=email, error=error), 401
    session.clear()  # a fresh session (and CSRF token) on login: no fixation
    session["user_id"] = user.id
    return redirect(target, code=303)


@blueprint.post("/logout")
def logout() -> Any:
    session.clear()
    return redirect(url_for("auth.login"), code=303)
