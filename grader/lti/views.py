"""LTI endpoints (thin handlers over the services): login initiation, launch, the tool's JWKS, the deep
linking picker, a course's LMS page (passbacks, roster sync) and the admins' platforms page.

The login and launch come from the LMS (cross-site, no CSRF token of ours: the id_token's signature,
state and nonce are their proof); every other POST carries the session's CSRF token.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from grader.access.browser import csp_framed_by, current_user, framing_origins, login_required, serve_pages
from grader.access.kit import require_course, require_staff
from grader.accounts.models import Role, User
from grader.audit import services as trail
from grader.audit.models import WORDS
from grader.courses.models import Course
from grader.denials import StaffOnly
from grader.extensions import db, utcnow

from . import deep_linking, framing, keys, linking, overview, passback, platforms, provisioning, roster
from .launch import LaunchRefused, start_login
from .models import LtiContext, LtiPlatform
from .toolconf import PlatformError

# The LMS posts these itself, signed (an OIDC login and a launch's JWT): no CSRF token of ours.
FROM_THE_LMS = ("lti.login", "lti.launch")
blueprint = serve_pages(
    Blueprint(
        "lti", __name__, template_folder="templates", static_folder="static", static_url_path="/static/lti"
    ),
    csrf_exempt=FROM_THE_LMS,
)
PENDING_KEY = "lti_deep_link"
PLACING = "place assignments in the LMS"


def tool_urls() -> dict[str, str]:
    """The URLs to register in an LMS (GRADER_PUBLIC_URL when set: they must match exactly)."""
    base = current_app.extensions["grader.config"].public_url

    def external(endpoint: str) -> str:
        return base + url_for(endpoint) if base else url_for(endpoint, _external=True)

    launch = external("lti.launch")
    return {
        "login": external("lti.login"),
        "launch": launch,
        "jwks": external("lti.jwks"),
        "deep_linking": launch,
    }


def _refused(refused: LaunchRefused) -> tuple[str, int]:
    return render_template("lti/refused.html", message=refused.message), refused.status


def _user() -> User:
    user = current_user()
    assert user is not None  # login_required ran first
    return user


# From the LMS -------------------------------------------------------------------------------------


@blueprint.route("/lti/login", methods=["GET", "POST"])
def login() -> Any:
    """OIDC third-party initiated login: record state and nonce, send the browser to the LMS (through
    the platform storage page when the LMS offers its storage, see framing.py)."""
    try:
        started = start_login(request.values.to_dict(), tool_urls()["launch"])
    except LaunchRefused as refused:
        return _refused(refused)
    return framing.login_response(started, tool_urls()["launch"])


@blueprint.route("/lti/launch", methods=["GET", "POST"])
def launch() -> Any:
    if request.method == "GET":
        return _refused(
            LaunchRefused(
                "An LTI launch is a form POST from the LMS: open the tool from the course in the LMS.", 405
            )
        )
    # Login CSRF: a launch captured in someone else's browser and posted into this one would sign
    # this browser in as them. The launch must come back to the browser whose login made its state.
    bound = framing.binding(tool_urls()["login"])
    if not isinstance(bound, framing.Bound):
        return bound
    pending = bound.pending
    try:
        landing = provisioning.launch(request.form.to_dict())
    except LaunchRefused as refused:
        return framing.framed_as_launched(_refused(refused), pending)
    session.clear()  # a fresh session (and CSRF token) for whoever launched: no fixation
    session["user_id"] = landing.user_id
    framing.mark_framed(pending)
    for message in landing.messages:
        flash(message)
    if landing.kind == "deep_link":
        session[PENDING_KEY] = landing.deep_link
        return redirect(url_for("lti.deep_link"), code=303)
    if landing.kind == "assignment":
        return redirect(url_for("web.assignment", assignment_id=landing.target_id), code=303)
    if landing.kind == "course":
        return redirect(url_for("publishing.course", course_id=landing.target_id), code=303)
    return redirect(url_for("web.home"), code=303)


@blueprint.get("/lti/jwks")
def jwks() -> Response:
    response = jsonify(keys.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# Deep linking ------------------------------------------------------------------------------------


def _pending() -> dict[str, Any]:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        abort(400, "There is no deep linking request in progress: start from the LMS's content picker.")
    return pending


def _placing_context(pending: dict[str, Any]) -> LtiContext:
    """The linked course the deep linking request came from, if the user teaches it."""
    context = db.session.get(LtiContext, pending.get("context_id"))
    if context is None:
        raise StaffOnly(PLACING)  # no course of theirs to place anything in
    require_staff(_user(), context.course_id, PLACING)
    return context


@blueprint.get("/lti/deep-link")
@login_required
def deep_link() -> str:
    context = _placing_context(_pending())
    return render_template(
        "lti/deep_link.html", context=context, assignments=deep_linking.choices(context.id), error=None
    )


@blueprint.post("/lti/deep-link")
@login_required
def deep_link_pick() -> Any:
    pending = _pending()
    context = _placing_context(pending)
    picked = request.form.get("assignment_id", "")
    try:
        if not (picked.isascii() and picked.isdecimal() and len(picked) < 10):
            raise deep_linking.DeepLinkRefused("Pick an assignment from the list.")
        return_url, token = deep_linking.response(pending, int(picked), tool_urls()["launch"])
    except deep_linking.DeepLinkRefused as refused:
        page = render_template(
            "lti/deep_link.html",
            context=context,
            assignments=deep_linking.choices(context.id),
            error=str(refused),
        )
        return page, 400
    session.pop(PENDING_KEY, None)  # one response per request
    target = urlsplit(return_url)
    response = Response(render_template("lti/deep_link_return.html", return_url=return_url, token=token))
    # The form posts to the LMS: allow exactly that origin as a form target (framed as the session is).
    response.headers["Content-Security-Policy"] = csp_framed_by(framing_origins()).replace(
        "form-action 'self'", f"form-action 'self' {target.scheme}://{target.netloc}"
    )
    return response


# A course's LMS page (staff) ---------------------------------------------------------------------


def _staff_course(course_id: int) -> Course:
    return require_course(_user(), course_id, staff=True)


@blueprint.get("/courses/<int:course_id>/lti")
@login_required
def course_lti(course_id: int) -> str:
    course = _staff_course(course_id)
    per_assignment = overview.by_assignment(course.id)
    chosen = request.args.get("assignment", type=int)
    shown = next((a for a in per_assignment if a.assignment_id == chosen), None)
    return render_template(
        "lti/course.html",
        course=course,
        contexts=roster.contexts_of(course.id),
        line_items=overview.line_items(course.id),
        passbacks=overview.passbacks(course.id, assignment_id=shown.assignment_id if shown else None),
        counts=overview.counts(course.id),
        per_assignment=per_assignment,
        shown=shown,
        left_members=overview.left_members(course.id),
        link_choices={c.id: linking.choices(_user(), c) for c in roster.contexts_of(course.id)},
    )


@blueprint.post("/courses/<int:course_id>/lti/contexts/<int:context_id>/link")
@login_required
def link_context(course_id: int, context_id: int) -> Any:
    course = _staff_course(course_id)
    context = db.session.get(LtiContext, context_id)
    if context is None or context.course_id != course.id:
        abort(404, f"{course.code} is not linked to LMS course {context_id}.")
    target = db.session.get(Course, request.form.get("course_id", type=int) or 0)
    if target is None:
        abort(400, "Choose one of your courses to link the LMS course to.")
    try:
        members = linking.link(context, target, _user())
    except linking.LinkRefused as refused:
        abort(refused.status, refused.message)
    flash(f"{context.title!r} now opens {target.code}: {members} of its members were enrolled there.")
    return redirect(url_for("lti.course_lti", course_id=target.id), code=303)


@blueprint.post("/courses/<int:course_id>/lti/passbacks/<int:passback_id>/send-again")
@login_required
def send_again(course_id: int, passback_id: int) -> Any:
    course = _staff_course(course_id)
    if not passback.send_again(passback_id, course.id):
        abort(404, f"There is no passback {passback_id} in {course.code}.")
    flash("The score is being sent to the LMS again; reload this page in a moment to see its answer.")
    return redirect(request.referrer or url_for("lti.course_lti", course_id=course.id), code=303)


@blueprint.post("/courses/<int:course_id>/lti/contexts/<int:context_id>/roster")
@login_required
def roster_sync(course_id: int, context_id: int) -> Any:
    course = _staff_course(course_id)
    context = db.session.get(LtiContext, context_id)
    if context is None or context.course_id != course.id:
        abort(404, f"{course.code} is not linked to LMS course {context_id}.")
    try:
        roster.request_sync(context)
        flash(f"The roster of {context.title!r} is being fetched from the LMS; reload this page in a moment.")
    except PlatformError as exc:
        flash(str(exc))
    return redirect(url_for("lti.course_lti", course_id=course.id), code=303)


@blueprint.post("/courses/<int:course_id>/lti/retry")
@login_required
def retry_failed(course_id: int) -> Any:
    course = _staff_course(course_id)
    n = passback.retry_failed(course.id)
    flash(f"{n} failed passback(s) queued again." if n else "No failed passback to retry.")
    return redirect(url_for("lti.course_lti", course_id=course.id), code=303)


# Platforms (admins) ------------------------------------------------------------------------------


def _admin() -> User:
    user = _user()
    if user.role is not Role.ADMIN:
        abort(403, "Only administrators register LMS platforms.")
    return user


def _platforms_page(error: str | None = None, form: Any = None, status: int = 200) -> tuple[str, int]:
    page = render_template(
        "lti/platforms.html",
        platforms=platforms.list_platforms(),
        urls=tool_urls(),
        error=error,
        form=form or {},
        tool_keys=keys.all_keys(),
        now=utcnow(),
        changes=trail.entries_outside_courses(limit=20),
        keep_days_max=keys.KEEP_DAYS_MAX,
        words=WORDS,
    )
    return page, status


@blueprint.get("/admin/lti/platforms")
@login_required
def platforms_page() -> tuple[str, int]:
    _admin()
    return _platforms_page()


@blueprint.post("/admin/lti/platforms")
@login_required
def register_platform() -> Any:
    _admin()
    form = request.form
    try:
        platform, added = platforms.register(
            platforms.PlatformForm(
                issuer=form.get("issuer", ""), client_id=form.get("client_id", ""),
                auth_login_url=form.get("auth_login_url", ""), auth_token_url=form.get("auth_token_url", ""),
                key_set_url=form.get("key_set_url", ""), token_audience=form.get("token_audience", ""),
                deployment_ids=form.get("deployment_ids", "").replace(",", " ").split(), name=form.get("name", ""),
                frame_origins=form.get("frame_origins", "").replace(",", " ").split(),
            )
        )  # fmt: skip
    except platforms.RegistrationRefused as refused:
        return _platforms_page(str(refused), form, 400)
    flash(f"{platform.name} is registered" + (f"; new deployments: {', '.join(added)}." if added else "."))
    return redirect(url_for("lti.platforms_page"), code=303)


def _platform(platform_id: int) -> LtiPlatform:
    platform = db.session.get(LtiPlatform, platform_id)
    if platform is None:
        abort(404, f"There is no LMS platform {platform_id} registered here.")
    return platform


@blueprint.post("/admin/lti/platforms/<int:platform_id>/<any(disable, enable):what>")
@login_required
def platform_switch(platform_id: int, what: str) -> Any:
    admin = _admin()
    platform = _platform(platform_id)
    platforms.set_disabled(platform, what == "disable", admin)
    said = (
        "disabled: its launches are refused and nothing is sent to it"
        if what == "disable"
        else "enabled again"
    )
    flash(f"{platform.name} is {said}.")
    return redirect(url_for("lti.platforms_page"), code=303)


@blueprint.post("/admin/lti/platforms/<int:platform_id>/delete")
@login_required
def platform_delete(platform_id: int) -> Any:
    admin = _admin()
    platform = _platform(platform_id)
    if request.form.get("confirm", "").strip() != platform.name:
        return _platforms_page(
            f"Type the platform's name, {platform.name!r}, to delete its registration: nothing was deleted.",
            None,
            400,
        )
    deleted = platforms.delete(platform, admin)
    flash(
        f"{deleted.name} is deleted with its {deployments(deleted.deployments)}; the {deleted.courses} linked "
        "course(s) stay, with their students, submissions and grades."
    )
    return redirect(url_for("lti.platforms_page"), code=303)


def deployments(n: int) -> str:
    return f"{n} deployment" + ("" if n == 1 else "s")


@blueprint.post("/admin/lti/keys/rotate")
@login_required
def rotate_key() -> Any:
    admin = _admin()
    typed = request.form.get("keep_days", "").strip()
    try:
        new = keys.rotate(int(typed), admin)
    except ValueError:
        return _platforms_page(
            f"Keep the old key published for a whole number of days from 0 to {keys.KEEP_DAYS_MAX}, not {typed!r}.",
            None, 400,
        )  # fmt: skip
    flash(f"The tool now signs with key {new.kid[:12]}…; the old key stays published until its date.")
    return redirect(url_for("lti.platforms_page"), code=303)
