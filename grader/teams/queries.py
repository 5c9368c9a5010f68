"""Reading teams: a student's team of an assignment, an assignment's teams with their members."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from grader.extensions import db

from .models import Team, TeamMember


def team_of(user_id: int, assignment_id: int) -> Team | None:
    """The student's team for the assignment, if they are in one."""
    return db.session.scalar(
        select(Team)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.user_id == user_id, TeamMember.assignment_id == assignment_id)
    )


def teams_of(assignment_id: int) -> list[Team]:
    """The assignment's teams by name, members loaded (one query for all of them)."""
    return list(
        db.session.scalars(
            select(Team)
            .where(Team.assignment_id == assignment_id)
            .options(selectinload(Team.members).selectinload(TeamMember.user))
            .order_by(Team.name, Team.id)
        )
    )


def team_names(assignment_id: int) -> dict[int, str]:
    """Each member's team name (by user id), for the boards that show them."""
    rows = db.session.execute(
        select(TeamMember.user_id, Team.name)
        .join(Team, Team.id == TeamMember.team_id)
        .where(TeamMember.assignment_id == assignment_id)
    ).all()
    return {user_id: name for user_id, name in rows}


def member_ids(team_id: int) -> list[int]:
    return list(db.session.scalars(select(TeamMember.user_id).where(TeamMember.team_id == team_id)))
