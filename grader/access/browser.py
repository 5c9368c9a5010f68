"""What every browser page of the service shares, wherever its blueprint lives (the pages, LTI's,
the webhooks'): the session's user, ``login_required``, the CSRF check, the security headers and
the error page, installed on a blueprint in one call (``serve_pages``).

The CSRF check is the synchronizer-token pattern: a random token kept in the (signed) session and
echoed by each POST form as ``csrf_token`` (or by scripts as the ``X-CSRF-Token`` header), compared
in constant time.
"""

from __future__ import annotations

import contextvars
import functools
import hmac
import secrets
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Flask,
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
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
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
# A session that began inside an LMS's frame keeps here what it was launched from (LTI sets it); the
# app's extension of this name says which origins may frame such a session (none: keep 'none').
FRAMED_BY = "framed_by"
FRAME_ANCESTORS = "grader.frame_ancestors"
_saving_framed: contextvars.ContextVar[bool] = contextvars.ContextVar("saving_framed", default=False)


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


def csp_framed_by(origins: Iterable[str]) -> str:
    """The pages' policy, framing allowed by exactly these origins (none given: by nobody)."""
    allowed = " ".join(origins)
    return CSP.replace("frame-ancestors 'none'", f"frame-ancestors {allowed}") if allowed else CSP


def framing_origins() -> list[str]:
    """Who may frame this session's pages: nobody, unless it was launched inside a registered LMS."""
    framed_by = session.get(FRAMED_BY)
    allowed: Callable[[object], list[str]] | None = current_app.extensions.get(FRAME_ANCESTORS)
    return allowed(framed_by) if framed_by is not None and allowed is not None else []


class FramedSessionInterface(SecureCookieSessionInterface):
    """The signed-cookie session, whose cookie survives inside an LMS's frame for the sessions that
    began there: SameSite=None (the frame's requests are cross-site to the browser), Secure (which
    None requires) and Partitioned (CHIPS: kept per top-level site, so browsers that block
    third-party cookies keep it). Every other session keeps the app's cookie settings (SameSite=Lax)."""

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        opened = super().open_session(app, request)
        if opened is not None:
            # A framed session logged out (cleared) must delete the partitioned cookie it came in.
            opened.opened_framed = FRAMED_BY in opened  # type: ignore[attr-defined]
        return opened

    def save_session(self, app: Flask, session: SecureCookieSession, response: Response) -> None:  # type: ignore[override]
        framed = session.get(FRAMED_BY) is not None or getattr(session, "opened_framed", False)
        token = _saving_framed.set(framed)
        try:
            super().save_session(app, session, response)
        finally:
            _saving_framed.reset(token)

    def get_cookie_samesite(self, app: Flask) -> str | None:
        return "None" if _saving_framed.get() else super().get_cookie_samesite(app)

    def get_cookie_secure(self, app: Flask) -> bool:
        return True if _saving_framed.get() else super().get_cookie_secure(app)

    def get_cookie_partitioned(self, app: Flask) -> bool:
        return True if _saving_framed.get() else super().get_cookie_partitioned(app)


def security_headers(response: Response) -> Response:
    if "Content-Security-Policy" not in response.headers:
        response.headers["Content-Security-Policy"] = csp_framed_by(framing_origins())
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
