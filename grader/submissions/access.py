"""Who may see which submission: one answer for the pages and the API, so they never disagree."""

from __future__ import annotations

from sqlalchemy import select

from grader.accounts.models import User
from grader.courses.access import is_staff
from grader.extensions import db
from grader.submissions.models import Submission
from grader.teams.models import TeamMember


def submission_for(user: User, submission_id: int) -> Submission | None:
    """The submission if it is the user's own or their team's, or the user is staff of its course."""
    submission = db.session.get(Submission, submission_id)
    if submission is None:
        return None
    if submission.user_id == user.id:
        return submission
    if submission.team_id is not None and db.session.scalar(
        select(TeamMember.id).where(TeamMember.team_id == submission.team_id, TeamMember.user_id == user.id)
    ):
        return submission
    course_id = submission.assignment_version.assignment.course_id
    return submission if is_staff(user, course_id) else None
