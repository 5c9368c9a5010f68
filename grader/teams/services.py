"""Forming, joining and leaving teams (students), size limits and changes by staff: the only place
that commits teams. Every refusal (``TeamRefused``) says what was wrong and how to fix it, and
leaves nothing written. Once a team has submitted, only staff change who is in it, and each such
change is recorded in the audit trail in the change's own transaction."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from grader.accounts.models import User
from grader.assignments.models import Assignment
from grader.audit.models import Action
from grader.audit.services import Subject, record
from grader.courses.access import course_student, is_staff
from grader.denials import StaffOnly
from grader.engine.rules import TEAM_SIZE_MAX
from grader.extensions import db

from .models import Team, TeamMember
from .queries import team_of

NAME_MAX = 80
SIZE_MAX = TEAM_SIZE_MAX


@dataclass
class TeamRefused(Exception):
    status: int
    message: str
    field: str = "team"

    def __str__(self) -> str:
        return self.message


@contextmanager
def settled() -> Iterator[None]:
    """Write the change and commit it; a race the database caught (a second click, two classmates
    taking one name or one place) is refused like any other, with nothing written."""
    try:
        yield
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise TeamRefused(
            409,
            "The teams changed while this was being saved (a classmate or a second click got there "
            "first); reload the page to see them, then try again.",
        ) from None


def require_team_assignment(assignment: Assignment) -> None:
    if not assignment.in_teams:
        raise TeamRefused(
            409,
            f"{assignment.title!r} is done alone, not in teams: there is no team to form or join. "
            "Its instructors can turn teams on (team size limits) on the assignment's teams page.",
            "assignment",
        )


def _student(user: User, assignment: Assignment) -> None:
    if course_student(assignment.course_id, user.id) is None:
        raise TeamRefused(
            403,
            f"Only students of the course can be in a team of {assignment.title!r}; "
            "staff arrange teams on the assignment's teams page instead.",
        )


def _not_in_one(user: User, assignment: Assignment, whose: str = "You are") -> None:
    current = team_of(user.id, assignment.id)
    if current is not None:
        raise TeamRefused(
            409,
            f"{whose} already in team {current.name!r} of {assignment.title!r}; leave it first "
            "(a student is in one team per assignment).",
        )


def _clean_name(name: str, assignment: Assignment) -> str:
    name = " ".join(name.split())
    if not name or len(name) > NAME_MAX:
        raise TeamRefused(422, f"A team's name must have 1 to {NAME_MAX} characters; choose another.", "name")
    taken = db.session.scalar(
        select(Team.name).where(Team.assignment_id == assignment.id, func.lower(Team.name) == name.lower())
    )
    if taken is not None:
        raise TeamRefused(409, f"There is already a team named {taken!r} in {assignment.title!r}; choose another name, or ask its members for its join code.", "name")  # fmt: skip
    return name


def new_team(assignment: Assignment, name: str) -> Team:
    """A team with a fresh join code (flushed, not committed)."""
    team = Team(
        assignment_id=assignment.id,
        name=_clean_name(name, assignment),
        join_code=secrets.token_hex(4).upper(),
    )
    db.session.add(team)
    db.session.flush()
    return team


def add_member(team: Team, user: User) -> None:
    db.session.add(TeamMember(team_id=team.id, assignment_id=team.assignment_id, user_id=user.id))
    db.session.flush()


def team_has_members(team: Team) -> bool:
    return _size(team) > 0


def _size(team: Team) -> int:
    return int(db.session.scalar(select(func.count()).where(TeamMember.team_id == team.id)) or 0)


def create_team(user: User, assignment: Assignment, name: str) -> Team:
    """A student forms a team of the assignment and is its first member."""
    require_team_assignment(assignment)
    _student(user, assignment)
    _not_in_one(user, assignment)
    with settled():
        team = new_team(assignment, name)
        add_member(team, user)
    return team


def join_team(user: User, assignment: Assignment, code: str) -> Team:
    """A student joins a classmate's team with its join code, while it has room and has not submitted."""
    require_team_assignment(assignment)
    _student(user, assignment)
    _not_in_one(user, assignment)
    # Locked: two students joining the last place at once must not both get it.
    team: Team | None = db.session.scalar(
        select(Team)
        .where(Team.assignment_id == assignment.id, Team.join_code == code.strip().upper())
        .with_for_update()
    )
    if team is None:
        db.session.rollback()
        raise TeamRefused(404, f"No team of {assignment.title!r} has the join code {code.strip()!r}; check it with the team's members (it is on their team page).", "code")  # fmt: skip
    if team.submitted_at is not None:
        db.session.rollback()
        raise TeamRefused(409, f"Team {team.name!r} has already submitted, so only the course's instructors can add members to it; ask them.", "code")  # fmt: skip
    assert assignment.team_max is not None
    if _size(team) >= assignment.team_max:
        db.session.rollback()
        raise TeamRefused(409, f"Team {team.name!r} is full: {assignment.title!r} allows {assignment.team_max} members per team. Join or form another team.", "code")  # fmt: skip
    with settled():
        add_member(team, user)
    return team


def leave_team(user: User, assignment: Assignment) -> None:
    """A student leaves their team before it has submitted; a team left empty is gone."""
    team = team_of(user.id, assignment.id)
    if team is None:
        raise TeamRefused(404, f"You are in no team of {assignment.title!r}, so there is none to leave.")
    if team.submitted_at is not None:
        raise TeamRefused(409, f"Team {team.name!r} has already submitted: its submissions and grade are its members', so only the course's instructors can change it. Ask them.")  # fmt: skip
    remove_member(team, user.id)
    db.session.commit()


def remove_member(team: Team, user_id: int, drop_empty: bool = True) -> None:
    member = db.session.scalar(
        select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user_id)
    )
    if member is not None:
        db.session.delete(member)
        db.session.flush()
        # A loaded members list still holds the row: deleting the team would delete it twice.
        db.session.expire(team, ["members"])
    if drop_empty and team.submitted_at is None and _size(team) == 0:
        db.session.delete(team)
        db.session.flush()


def set_limits(by: User, assignment: Assignment, team_min: int, team_max: int | None) -> None:
    """Staff turn teams on (members per team, ``team_min`` to ``team_max``) or off (``team_max`` None)."""
    if not is_staff(by, assignment.course_id):
        raise StaffOnly("set an assignment's team sizes")
    if team_max is not None and not 1 <= team_min <= team_max <= SIZE_MAX:
        raise TeamRefused(422, f"Team sizes must satisfy 1 <= smallest <= largest <= {SIZE_MAX} (got {team_min} to {team_max}); change them.", "team_max")  # fmt: skip
    if team_max is None and db.session.scalar(
        select(Team.id).where(Team.assignment_id == assignment.id).limit(1)
    ):
        raise TeamRefused(409, f"{assignment.title!r} has teams already; remove their members first, then turn teams off.", "team_max")  # fmt: skip
    assignment.team_min, assignment.team_max = (team_min if team_max is not None else 1), team_max
    db.session.commit()


def move_member(by: User, assignment: Assignment, student: User, to: Team | None, reason: str) -> None:
    """Staff move a student to another team of the assignment (or out of any), recorded in the trail."""
    if not is_staff(by, assignment.course_id):
        raise StaffOnly("change a team")
    require_team_assignment(assignment)
    _student(student, assignment)
    if to is not None and to.assignment_id != assignment.id:
        raise TeamRefused(404, f"Team {to.id} is not a team of {assignment.title!r}; pick one of its teams.")
    before = team_of(student.id, assignment.id)
    if before is None and to is None:
        raise TeamRefused(
            409, f"{student.name} is in no team of {assignment.title!r}; pick the team to put them in."
        )
    if before is not None and to is not None and before.id == to.id:
        raise TeamRefused(409, f"{student.name} is already in team {to.name!r}; pick another team.")
    if to is not None:
        assert assignment.team_max is not None
        if _size(to) >= assignment.team_max:
            raise TeamRefused(409, f"Team {to.name!r} is full ({assignment.team_max} members per team); move one of its members out first, or raise the limit.")  # fmt: skip
    moved_from = before.name if before is not None else None
    with settled():
        if before is not None:
            remove_member(before, student.id)
        if to is not None:
            add_member(to, student)
        shown = to if to is not None else before
        details = {"from": moved_from, "to": to.name if to else None}
        record_change(by, assignment, student, shown, reason, details)


def record_change(
    by: User,
    assignment: Assignment,
    student: User,
    team: Team | None,
    reason: str,
    details: Mapping[str, object],
) -> None:
    """The trail's entry for a change of the student's team (in the change's transaction)."""
    subject = Subject("team", team.id if team else None, team.name if team else "no team")
    record(
        Action.TEAM_CHANGED, by=by, course_id=assignment.course_id, subject=subject, student=student,
        reason=reason, details={"assignment": assignment.title, **details},
    )  # fmt: skip
