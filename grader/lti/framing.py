"""The login and launch inside an LMS's frame, the pages' side (views.login and views.launch call
these): the cookies that bind a launch to its browser, the platform storage pages, the refusal that
offers a new window, and who may frame each of these responses.

How a launch proves it is in the browser whose login made its state, in the order tried:
1. the login's cookie: SameSite=None; Secure (Lax over plain http) for a top-level window, and a
   Partitioned twin (CHIPS) that browsers blocking third-party cookies still keep inside the frame;
2. platform storage, where the LMS offered it: the login page kept a random value in the LMS's frame
   (static/platform-storage.js), the launch page reads it back and posts it here, same-origin;
3. neither: the launch is refused, with a button that starts the same login in a new window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response, render_template, request, session, url_for

from grader.access.browser import FRAMED_BY, csp_framed_by

from .launch import STATE_LIFETIME, LoginRedirect, state_cookie_name
from .storage import (
    ANSWER_WITHIN_MS,
    PendingLogin,
    origin_of,
    pending_login,
    platform_origins,
    restart_url,
    storage_key,
    storage_value_matches,
)

CHECKED = "lti_storage_checked"  # set by the launch page's form: the platform storage was asked
VALUE = "lti_storage_value"


def framed_cookie_name(state: str) -> str:
    return state_cookie_name(state) + "-p"


def _csp(origins: list[str], form_target: str = "") -> str:
    policy = csp_framed_by(origins)
    return (
        policy.replace("form-action 'self'", f"form-action 'self' {form_target}") if form_target else policy
    )


def login_response(started: LoginRedirect, launch_url: str) -> Response:
    """To the LMS's auth URL: at once, or through the page that keeps the value in platform storage."""
    if started.storage_target and started.storage_secret:
        auth_origin = origin_of(started.url) or ""
        response = Response(
            render_template(
                "lti/storage_put.html", target=started.storage_target, origin=auth_origin,
                key=storage_key(started.state), value=started.storage_secret, next_url=started.url,
                wait_ms=ANSWER_WITHIN_MS,
            )
        )  # fmt: skip
        response.headers["Content-Security-Policy"] = _csp(platform_origins(started.platform))
        response.headers["Cache-Control"] = "no-store"
    else:
        response = Response(status=302, headers={"Location": started.url})
    # The launch comes back as a cross-site POST from the LMS: only a SameSite=None cookie rides along,
    # and browsers take those over https only (and from localhost). Plain http elsewhere gets a Lax one.
    secure = request.is_secure or launch_url.startswith("https://")
    age, path = int(STATE_LIFETIME.total_seconds()), url_for("lti.launch")
    response.set_cookie(
        state_cookie_name(started.state), "1", max_age=age, path=path, secure=secure, httponly=True,
        samesite="None" if secure else "Lax",
    )  # fmt: skip
    response.set_cookie(
        framed_cookie_name(started.state), "1", max_age=age, path=path, secure=True, httponly=True,
        samesite="None", partitioned=True,
    )  # fmt: skip
    return response


def _same_origin_post(login_url: str) -> bool:
    """Whether this POST came from one of our own pages (browsers set Origin and Sec-Fetch-Site on
    every form POST, and pages cannot forge them): a captured launch posted from elsewhere cannot
    carry a storage value it read in its own browser."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") != "same-origin":
        return False
    ours = {request.host_url.rstrip("/").lower(), origin_of(login_url)}  # behind a proxy: the public URL's
    return request.headers.get("Origin", "").lower() in ours


@dataclass(frozen=True)
class Bound:
    """A launch POST shown to come from the browser whose login made its state."""

    pending: PendingLogin | None  # that login (None when it is unknown: the launch refuses it then)


def binding(login_url: str) -> Bound | Response:
    """Whether this launch POST is bound to this browser, else the response to send instead (the
    platform storage page, or the refusal)."""
    state = request.form.get("state", "")
    pending = pending_login(state)
    if request.cookies.get(state_cookie_name(state)) or request.cookies.get(framed_cookie_name(state)):
        return Bound(pending)
    if request.form.get(CHECKED):
        if _same_origin_post(login_url) and storage_value_matches(state, request.form.get(VALUE, "")):
            return Bound(pending)
        return refusal(
            "This browser did not start this launch: neither the cookie set when the LMS began it nor the "
            "value kept in the LMS's page for it came back (the browser blocks the LMS's frame's cookies "
            "and the LMS's storage did not answer).",
            pending, login_url,
        )  # fmt: skip
    if pending is not None and pending.storage_target:
        return _storage_get_page(state, pending)
    return refusal(
        "This browser did not start this launch (the cookie set when the LMS began it is missing).",
        pending, login_url,
    )  # fmt: skip


def _storage_get_page(state: str, pending: PendingLogin) -> Response:
    response = Response(
        render_template(
            "lti/storage_get.html", target=pending.storage_target, origin=pending.storage_origin,
            key=storage_key(state), wait_ms=ANSWER_WITHIN_MS, id_token=request.form.get("id_token", ""),
            state=state, checked=CHECKED, value_field=VALUE,
        )
    )  # fmt: skip
    response.headers["Content-Security-Policy"] = _csp(pending.frame_origins)
    response.headers["Cache-Control"] = "no-store"
    return response


def refusal(message: str, pending: PendingLogin | None, login_url: str, status: int = 403) -> Response:
    """The launch refused, framed where its LMS frames it, with the way on: a new window."""
    again = restart_url(login_url, pending)
    hint = (
        " Open the tool in a new window with the button below (it starts the launch again there)."
        if again
        else " Open the tool again from the LMS; if the LMS shows it inside its own page, choose the "
        "LMS's option to open it in a new window."
    )
    response = Response(render_template("lti/refused.html", message=message + hint, new_window=again), status)
    response.headers["Content-Security-Policy"] = _csp(pending.frame_origins if pending else [])
    return response


def framed_as_launched(response: Any, pending: PendingLogin | None) -> Any:
    """A page answering a launch (a refusal with its reason) shown inside the LMS's frame it came in."""
    page = response if isinstance(response, Response) else Response(*response)
    page.headers["Content-Security-Policy"] = _csp(pending.frame_origins if pending else [])
    return page


def mark_framed(pending: PendingLogin | None) -> None:
    """After a launch: a session begun inside the LMS's frame gets the frame's cookie and framing."""
    in_frame = request.headers.get("Sec-Fetch-Dest") == "iframe" or request.form.get(CHECKED)
    if pending is not None and (in_frame or pending.storage_target):
        session[FRAMED_BY] = pending.platform_id
