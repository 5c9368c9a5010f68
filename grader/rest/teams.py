"""REST endpoints for teams: a student's team (form, join, leave), and staff's view of an
assignment's teams, its team sizes, a CSV import and moving a student (recorded in the audit trail)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from grader.access.kit import require_assignment
from grader.accounts.models import User
from grader.api_errors import ApiProblem
from grader.assignments.models import Assignment
from grader.courses.access import course_student, is_staff
from grader.extensions import db
from grader.rest.registry import Api
from grader.rest.schemas import MAX_ID, Model
from grader.teams import services
from grader.teams.csv_import import ImportRefused, import_teams
from grader.teams.models import Team
from grader.teams.queries import team_of, teams_of

api = Api("teams_api", "Teams")


class MemberOut(Model):
    id: int
    name: str
    email: str


class TeamOut(Model):
    id: int
    name: str
    join_code: str = Field(description="What classmates join the team with.")
    members: list[MemberOut]
    submitted_at: datetime | None = Field(
        description="Its first submission: from then on only staff change it."
    )


class TeamList(Model):
    team_min: int
    team_max: int | None = Field(description="None: the assignment is done alone.")
    items: list[TeamOut] = Field(description="Staff: every team; a student: their own (or none).")


class NewTeam(Model):
    name: str = Field(min_length=1, max_length=80)


class JoinCode(Model):
    code: str = Field(min_length=1, max_length=20)


class Left(Model):
    left: str = Field(description="The team's name.")


class TeamSizes(Model):
    team_min: int = Field(1, ge=1, le=services.SIZE_MAX)
    team_max: int | None = Field(ge=1, le=services.SIZE_MAX, description="None turns teams off.")


class TeamsCsv(Model):
    csv: str = Field(max_length=1_000_000, description="A header `team,email`, then one row per student.")
    reason: str = Field("", max_length=2000)


class Imported(Model):
    created: list[str]
    placed: int


class Move(Model):
    team_id: int | None = Field(ge=1, le=MAX_ID, description="None: out of any team.")
    reason: str = Field(min_length=1, max_length=2000, description="Kept in the audit trail.")


def describe(team: Team) -> TeamOut:
    return TeamOut(
        id=team.id, name=team.name, join_code=team.join_code, submitted_at=team.submitted_at,
        members=[MemberOut(id=m.user.id, name=m.user.name, email=m.user.email) for m in team.members],
    )  # fmt: skip


def _refused(refused: services.TeamRefused) -> ApiProblem:
    title = "Team change refused"
    if isinstance(refused, ImportRefused):
        return ApiProblem(
            refused.status, title, refused.message, field=refused.field, problems=refused.problems
        )
    return ApiProblem(refused.status, title, refused.message, field=refused.field)


def _staff(user: User, assignment_id: int, doing: str) -> Assignment:
    return require_assignment(user, assignment_id, staff_to=doing)


@api.operation(
    "GET", "/assignments/<int:assignment_id>/teams", summary="List an assignment's teams", response=TeamList
)
def list_teams(user: User, assignment_id: int) -> TeamList:
    """Staff get every team of the assignment with its members; a student gets their own team."""
    return _teams(user, require_assignment(user, assignment_id))


def _teams(user: User, assignment: Assignment) -> TeamList:
    if is_staff(user, assignment.course_id):
        teams = teams_of(assignment.id)
    else:
        mine = team_of(user.id, assignment.id)
        teams = [mine] if mine is not None else []
    return TeamList(
        team_min=assignment.team_min, team_max=assignment.team_max, items=[describe(t) for t in teams]
    )


@api.operation(
    "POST", "/assignments/<int:assignment_id>/teams", summary="Form a team", scope="submit", body=NewTeam,
    response=TeamOut, status=201, errors=(409,),
)  # fmt: skip
def form_team(user: User, assignment_id: int, body: NewTeam) -> TeamOut:
    """A student forms a team of a team assignment and is its first member."""
    assignment = require_assignment(user, assignment_id)
    try:
        return describe(services.create_team(user, assignment, body.name))
    except services.TeamRefused as refused:
        raise _refused(refused) from None


@api.operation(
    "POST", "/assignments/<int:assignment_id>/teams/join", summary="Join a team", scope="submit", body=JoinCode,
    response=TeamOut, errors=(409,),
)  # fmt: skip
def join_team(user: User, assignment_id: int, body: JoinCode) -> TeamOut:
    """Join a classmate's team with its join code (while it has room and has not submitted)."""
    assignment = require_assignment(user, assignment_id)
    try:
        return describe(services.join_team(user, assignment, body.code))
    except services.TeamRefused as refused:
        raise _refused(refused) from None


@api.operation(
    "POST", "/assignments/<int:assignment_id>/teams/leave", summary="Leave your team", scope="submit",
    response=Left, errors=(409,),
)  # fmt: skip
def leave_team(user: User, assignment_id: int) -> Left:
    """Leave your team before it has submitted (after that, only staff change it)."""
    assignment = require_assignment(user, assignment_id)
    team = team_of(user.id, assignment.id)
    name = team.name if team is not None else ""
    try:
        services.leave_team(user, assignment)
    except services.TeamRefused as refused:
        raise _refused(refused) from None
    return Left(left=name)


@api.operation(
    "PUT", "/assignments/<int:assignment_id>/team-sizes", summary="Set an assignment's team sizes",
    scope="grade", body=TeamSizes, response=TeamSizes, errors=(409,),
)  # fmt: skip
def set_team_sizes(user: User, assignment_id: int, body: TeamSizes) -> TeamSizes:
    """Turn teams on with the smallest and largest team allowed, or off (``team_max`` null)."""
    assignment = _staff(user, assignment_id, "set an assignment's team sizes")
    try:
        services.set_limits(user, assignment, body.team_min, body.team_max)
    except services.TeamRefused as refused:
        raise _refused(refused) from None
    return TeamSizes(team_min=assignment.team_min, team_max=assignment.team_max)


@api.operation(
    "POST", "/assignments/<int:assignment_id>/teams/import", summary="Import teams from CSV", scope="grade",
    body=TeamsCsv, response=Imported, errors=(409, 413),
)  # fmt: skip
def import_csv(user: User, assignment_id: int, body: TeamsCsv) -> Imported:
    """Put each listed student in the named team (made if new). A file with a bad row is refused
    whole (``problems`` lists each by its line) and nothing is written."""
    assignment = _staff(user, assignment_id, "import teams")
    try:
        done = import_teams(user, assignment, body.csv, body.reason)
    except services.TeamRefused as refused:
        raise _refused(refused) from None
    return Imported(created=done.created, placed=done.placed)


@api.operation(
    "PUT", "/assignments/<int:assignment_id>/teams/members/<int:user_id>", summary="Move a student to a team",
    scope="grade", body=Move, response=TeamList, errors=(409,),
)  # fmt: skip
def move_student(user: User, assignment_id: int, user_id: int, body: Move) -> TeamList:
    """Staff move a student to another team (or out of any), with a reason kept in the audit trail;
    the answer is the assignment's teams after the move."""
    assignment = _staff(user, assignment_id, "change a team")
    student = course_student(assignment.course_id, user_id)
    if student is None:
        raise ApiProblem(404, "Not Found", f"There is no student {user_id} in the assignment's course.")
    to = db.session.get(Team, body.team_id) if body.team_id is not None else None
    if body.team_id is not None and (to is None or to.assignment_id != assignment.id):
        raise ApiProblem(404, "Not Found", f"There is no team {body.team_id} of assignment {assignment.id}.")
    try:
        services.move_member(user, assignment, student, to, body.reason)
    except services.TeamRefused as refused:
        raise _refused(refused) from None
    return _teams(user, assignment)
