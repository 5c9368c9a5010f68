"""Whose a submission is: its uploader's, and in a team assignment every member's of its team.

A team's submission is credited to the team's members *now* (an instructor who moves a student moves
their grade with them), so the boards and the LMS passback join the membership at read time.
"""

from __future__ import annotations

from typing import TypeVarTuple

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.orm import aliased

from grader.teams.models import TeamMember

from .models import Submission

CREDITED = aliased(TeamMember, name="credited")
# Each row of a query joined with ``with_credit``: the student it counts for (a team's submission
# appears once per member).
CREDITED_USER = func.coalesce(CREDITED.user_id, Submission.user_id)
Columns = TypeVarTuple("Columns")


def with_credit(query: Select[*Columns]) -> Select[*Columns]:
    """The query with one row per credited student of each submission (see ``CREDITED_USER``)."""
    return query.outerjoin(CREDITED, CREDITED.team_id == Submission.team_id)


def credited_to(user_id: int) -> ColumnElement[bool]:
    """The submissions whose grade is the student's, as ``CREDITED_USER`` counts them: their team's,
    and their own uploads that no team's member is credited with (a team left empty keeps its uploader's)."""
    teams = select(TeamMember.team_id).where(TeamMember.user_id == user_id)
    members = exists().where(TeamMember.team_id == Submission.team_id)
    return or_(Submission.team_id.in_(teams), and_(Submission.user_id == user_id, ~members))


def owned_by(user_id: int) -> ColumnElement[bool]:
    """The submissions the student sees as theirs: uploaded by them, or by their team."""
    teams = select(TeamMember.team_id).where(TeamMember.user_id == user_id)
    return or_(Submission.user_id == user_id, Submission.team_id.in_(teams))


def of_team(team_id: int) -> ColumnElement[bool]:
    return Submission.team_id == team_id
