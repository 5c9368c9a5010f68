"""The team page of an assignment: a student forms, joins or leaves a team and sees its
submissions; staff set the team sizes, import teams from CSV and move students (recorded)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from grader.access.browser import current_user, login_required, serve_pages
from grader.access.kit import require_assignment
from grader.accounts.models import User
from grader.assignments.models import Assignment
from grader.courses.access import course_student, is_staff
from grader.courses.models import Enrollment
from grader.extensions import db
from grader.teams import services
from grader.teams.csv_import import ImportRefused, import_teams
from grader.teams.models import Team
from grader.teams.queries import team_of, teams_of

from .queries import user_submissions

blueprint = serve_pages(Blueprint("teams", __name__))


def _context(assignment_id: int) -> tuple[Assignment, User, bool]:
    user = current_user()
    assert user is not None  # login_required ran first
    assignment = require_assignment(user, assignment_id)
    return assignment, user, is_staff(user, assignment.course_id)


def _page(assignment: Assignment, user: User, staff: bool, error: str | None = None, **extra: Any) -> Any:
    team = None if staff else team_of(user.id, assignment.id)
    page = render_template(
        "web/teams.html", assignment=assignment, staff=staff, team=team, error=error,
        teams=teams_of(assignment.id) if staff else [],
        submissions=user_submissions(user, assignment) if team is not None else [], **extra,
    )  # fmt: skip
    return page, 422 if error else 200


def _done(assignment: Assignment, message: str) -> Any:
    flash(message)
    return redirect(url_for("teams.mine", assignment_id=assignment.id))


@blueprint.get("/assignments/<int:assignment_id>/team")
@login_required
def mine(assignment_id: int) -> Any:
    return _page(*_context(assignment_id))


@blueprint.post("/assignments/<int:assignment_id>/team/form")
@login_required
def form(assignment_id: int) -> Any:
    assignment, user, staff = _context(assignment_id)
    try:
        team = services.create_team(user, assignment, request.form.get("name", ""))
    except services.TeamRefused as refused:
        return _page(assignment, user, staff, refused.message)
    return _done(
        assignment, f"You formed team {team.name!r}: give classmates its join code {team.join_code}."
    )


@blueprint.post("/assignments/<int:assignment_id>/team/join")
@login_required
def join(assignment_id: int) -> Any:
    assignment, user, staff = _context(assignment_id)
    try:
        team = services.join_team(user, assignment, request.form.get("code", ""))
    except services.TeamRefused as refused:
        return _page(assignment, user, staff, refused.message)
    return _done(assignment, f"You joined team {team.name!r}.")


@blueprint.post("/assignments/<int:assignment_id>/team/leave")
@login_required
def leave(assignment_id: int) -> Any:
    assignment, user, staff = _context(assignment_id)
    try:
        services.leave_team(user, assignment)
    except services.TeamRefused as refused:
        return _page(assignment, user, staff, refused.message)
    return _done(assignment, "You left your team.")


@blueprint.post("/assignments/<int:assignment_id>/teams/limits")
@login_required
def limits(assignment_id: int) -> Any:
    assignment, user, staff = _context(assignment_id)
    try:
        low = int(request.form.get("team_min") or 1)
        high = request.form.get("team_max", "").strip()
        services.set_limits(user, assignment, low, int(high) if high else None)
    except ValueError:
        return _page(assignment, user, staff, "Team sizes are whole numbers; leave the largest empty to turn teams off.")  # fmt: skip
    except services.TeamRefused as refused:
        return _page(assignment, user, staff, refused.message)
    return _done(assignment, "Team sizes saved.")


@blueprint.post("/assignments/<int:assignment_id>/teams/import")
@login_required
def import_csv(assignment_id: int) -> Any:
    assignment, user, staff = _context(assignment_id)
    upload = request.files.get("file")
    text = upload.read().decode("utf-8", "replace") if upload else request.form.get("csv", "")
    try:
        done = import_teams(user, assignment, text, request.form.get("reason", ""))
    except ImportRefused as refused:
        return _page(assignment, user, staff, refused.message, problems=refused.problems)
    except services.TeamRefused as refused:
        return _page(assignment, user, staff, refused.message)
    return _done(assignment, f"Imported: {done.placed} student(s) placed, {len(done.created)} new team(s).")


@blueprint.post("/assignments/<int:assignment_id>/teams/move")
@login_required
def move(assignment_id: int) -> Any:
    assignment, user, staff = _context(assignment_id)
    email = request.form.get("email", "").strip().lower()
    student_id = db.session.scalar(
        select(Enrollment.user_id)
        .join(User, User.id == Enrollment.user_id)
        .where(Enrollment.course_id == assignment.course_id, User.email == email)
    )
    student = course_student(assignment.course_id, student_id) if student_id else None
    name = request.form.get("team", "").strip()
    to = db.session.scalar(select(Team).where(Team.assignment_id == assignment.id, Team.name == name))
    if student is None:
        return _page(assignment, user, staff, f"No student of the course has the email {email!r}; check it.")
    if name and to is None:
        return _page(assignment, user, staff, f"{assignment.title!r} has no team named {name!r}; pick one listed below.")  # fmt: skip
    try:
        services.move_member(user, assignment, student, to, request.form.get("reason", ""))
    except services.TeamRefused as refused:
        return _page(assignment, user, staff, refused.message)
    return _done(assignment, f"{student.name} is now in {('team ' + repr(to.name)) if to else 'no team'}.")
