"""Teams from a CSV file (staff): a header ``team,email`` then one row per student. Every row is
checked before anything is written, and a file with any bad row is refused whole, each problem
named by its line, so an import is applied completely or not at all."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import select

from grader.accounts.models import Role, User
from grader.assignments.models import Assignment
from grader.courses.access import is_staff
from grader.courses.models import Enrollment
from grader.denials import StaffOnly
from grader.extensions import db

from .models import Team
from .queries import teams_of
from .services import (
    NAME_MAX,
    TeamRefused,
    add_member,
    new_team,
    record_change,
    remove_member,
    require_team_assignment,
    settled,
    team_has_members,
)

MAX_ROWS = 5000


@dataclass
class Imported:
    created: list[str] = field(default_factory=list)  # new teams' names
    placed: int = 0  # students put in a team they were not in


@dataclass
class ImportRefused(TeamRefused):
    problems: list[str] = field(default_factory=list)


def _rows(text: str) -> list[tuple[int, str, str]]:
    """(line, team, email) of each row; a header naming team and email is required."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [cell.strip().lower() for cell in next(reader, [])]
    if "team" not in header or "email" not in header:
        raise ImportRefused(422, "The first line must be the header team,email (the columns may be in either order); add it.", "file")  # fmt: skip
    at_team, at_email = header.index("team"), header.index("email")
    rows = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        cells += [""] * (max(at_team, at_email) + 1 - len(cells))
        rows.append((reader.line_num, " ".join(cells[at_team].split()), cells[at_email].strip().lower()))
    if not rows:
        raise ImportRefused(
            422, "The file has a header but no rows; add one line per student (team,email).", "file"
        )
    if len(rows) > MAX_ROWS:
        raise ImportRefused(
            413, f"The file has {len(rows)} rows; at most {MAX_ROWS} can be imported at once.", "file"
        )
    return rows


def import_teams(by: User, assignment: Assignment, text: str, reason: str = "") -> Imported:
    """Put each listed student in the named team (made if new), moving them from another team that
    has not submitted; raises ImportRefused listing every bad line, having written nothing."""
    if not is_staff(by, assignment.course_id):
        raise StaffOnly("import teams")
    require_team_assignment(assignment)
    assert assignment.team_max is not None
    rows = _rows(text)
    students = {
        user.email.lower(): user
        for user in db.session.scalars(
            select(User)
            .join(Enrollment, Enrollment.user_id == User.id)
            .where(Enrollment.course_id == assignment.course_id, Enrollment.role == Role.STUDENT)
        )
    }
    existing = {team.name.lower(): team for team in teams_of(assignment.id)}
    current = {member.user_id: team for team in existing.values() for member in team.members}
    problems: list[str] = []
    seen: dict[str, int] = {}
    wanted: dict[str, list[User]] = {}
    names: dict[str, str] = {}
    for line, name, email in rows:
        if not name or len(name) > NAME_MAX:
            problems.append(f"line {line}: the team's name must have 1 to {NAME_MAX} characters")
            continue
        user = students.get(email)
        if user is None:
            problems.append(f"line {line}: {email or '(no email)'} is not a student of the course (enroll them first, or fix the address)")  # fmt: skip
            continue
        if email in seen:
            problems.append(
                f"line {line}: {email} is already listed on line {seen[email]} (a student is in one team)"
            )
            continue
        seen[email] = line
        before = current.get(user.id)
        if before is not None and before.name.lower() != name.lower() and before.submitted_at is not None:
            problems.append(f"line {line}: {email} is in team {before.name!r}, which has submitted; move them on the teams page, with a reason")  # fmt: skip
            continue
        wanted.setdefault(name.lower(), []).append(user)
        names.setdefault(name.lower(), name)
    final = {uid: team.name.lower() for uid, team in current.items()}
    final.update({user.id: key for key, members in wanted.items() for user in members})
    for key in wanted:
        size = sum(1 for placed in final.values() if placed == key)
        if size > assignment.team_max:
            problems.append(f"team {names[key]!r}: {size} members, but {assignment.title!r} allows {assignment.team_max} per team (split it, or raise the limit)")  # fmt: skip
    if problems:
        raise ImportRefused(
            422, f"Nothing was imported: {len(problems)} problem(s) to fix in the file.", "file", problems
        )
    done = Imported()
    moves = [(key, user) for key, members in wanted.items() for user in _moved(members, current, key)]
    with settled():
        # Everyone leaves first, then joins: a team one row empties may be another row's target.
        for _, user in moves:
            if (before := current.get(user.id)) is not None:
                remove_member(before, user.id, drop_empty=False)
        for key, user in moves:
            team = existing.get(key)
            if team is None:
                team = existing[key] = new_team(assignment, names[key])
                done.created.append(team.name)
            add_member(team, user)
            done.placed += 1
            before = current.get(user.id)
            details = {"from": before.name if before else None, "to": team.name, "by": "csv import"}
            record_change(by, assignment, user, team, reason or "imported from a CSV file", details)
        for team in {id(t): t for t in current.values()}.values():
            if team.submitted_at is None and not team_has_members(team):
                db.session.delete(team)
    return done


def _moved(members: list[User], current: dict[int, Team], key: str) -> list[User]:
    """The listed students not already in the team named ``key``."""
    return [user for user in members if (team := current.get(user.id)) is None or team.name.lower() != key]
