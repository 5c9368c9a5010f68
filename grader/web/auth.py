"""Logging in and out with a session cookie (the session's user, ``login_required`` and the CSRF
check every page shares are in grader/access/browser.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from grader.access.browser import csrf_token, current_user, serve_pages
from grader.accounts.services import authenticate

from . import login_limits

blueprint = serve_pages(Blueprint("auth", __name__, template_folder="templates"))


def safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme): no open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("web.home")


def page_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "current_user": current_user()}


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
