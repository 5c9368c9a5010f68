"""REST endpoints for assignments: a course's list, and one assignment as the caller sees it."""

from __future__ import annotations

from typing import Literal

from flask import url_for
from pydantic import Field

from grader.access.kit import require_assignment, require_enrollment
from grader.accounts.models import User
from grader.assignments.deadlines import deadline_for
from grader.assignments.models import Assignment
from grader.assignments.queries import course_assignments, spec_of
from grader.courses.access import is_staff
from grader.engine.rules import OUTPUT_TEXT
from grader.engine.scoring import metric_label
from grader.extensions import utcnow
from grader.rest.registry import Api
from grader.rest.schemas import Model, Page, PageQuery, UtcDateTime, paging
from grader.submissions.policy import submissions_today

api = Api("assignments_api", "Assignments")


class AssignmentOut(Model):
    id: int
    course_id: int
    slug: str
    title: str
    deadline: UtcDateTime | None = Field(description="Your deadline: your own if staff extended it.")
    deadline_extended: bool
    hidden: bool = Field(description="Hidden from students (only staff see hidden assignments).")
    leaderboard: bool
    team_min: int = Field(description="Members a team needs before it may submit (in a team assignment).")
    team_max: int | None = Field(description="Members a team may have; null: the assignment is done alone.")
    version: int = Field(description="The number of the current version of its spec.")
    url: str
    submissions_url: str
    teams_url: str


class AssignmentPage(Page):
    items: list[AssignmentOut]


class OutputConvention(Model):
    kind: Literal["value", "probability", "logit", "scores"]
    classes: int = Field(description="Classes of a multiclass task (0 otherwise).")
    text: str = Field(description="What your model must return, in words.")


class AssignmentDetail(AssignmentOut):
    course_deadline: UtcDateTime | None
    daily_limit: int = Field(description="Submissions allowed in any 24 hours.")
    submissions_today: int = Field(description="Your charged submissions in the last 24 hours.")
    submissions_left_today: int
    total_limit: int | None = Field(description="Submissions allowed in all (null: no limit).")
    late_policy: Literal["refuse", "accept", "penalty"] | None
    task: Literal["regression", "binary", "multiclass"] | None
    metric: str | None = Field(
        description="The metric scored on the hidden set (null if the spec is broken)."
    )
    metric_label: str | None
    lower_is_better: bool | None
    max_score: float | None
    output: OutputConvention | None


def _summary(assignment: Assignment, user: User) -> AssignmentOut:
    own = deadline_for(assignment, user)
    return AssignmentOut(
        id=assignment.id,
        course_id=assignment.course_id,
        slug=assignment.slug,
        title=assignment.title,
        deadline=own.deadline,
        deadline_extended=own.extended,
        hidden=assignment.hidden,
        leaderboard=assignment.leaderboard,
        team_min=assignment.team_min,
        team_max=assignment.team_max,
        version=assignment.current.number,
        url=url_for("assignments_api.get_assignment", assignment_id=assignment.id),
        submissions_url=url_for("submissions_api.list_submissions", assignment_id=assignment.id),
        teams_url=url_for("teams_api.list_teams", assignment_id=assignment.id),
    )


@api.operation(
    "GET", "/courses/<int:course_id>/assignments", summary="List a course's assignments",
    query=PageQuery, response=AssignmentPage, headers=("Link",),
)  # fmt: skip
def list_assignments(user: User, course_id: int, query: PageQuery) -> AssignmentPage:
    """The course's assignments, by deadline; hidden ones are listed to the course's staff only."""
    require_enrollment(user, course_id)
    rows, total = course_assignments(course_id, is_staff(user, course_id), query.offset, query.per_page)
    items = [_summary(a, user) for a in rows]
    return AssignmentPage(items=items, **paging(query, total))


@api.operation(
    "GET", "/assignments/<int:assignment_id>", summary="Get an assignment", response=AssignmentDetail
)
def get_assignment(user: User, assignment_id: int) -> AssignmentDetail:
    """The assignment as you see it: your deadline, what you may still submit today, how it is scored."""
    assignment = require_assignment(user, assignment_id)
    spec = spec_of(assignment)
    used = submissions_today(user, assignment, utcnow())
    output = None
    if spec is not None:
        text = OUTPUT_TEXT[spec.task.output].replace("{K}", str(spec.task.classes))
        output = OutputConvention(kind=spec.task.output, classes=spec.task.classes, text=text)  # type: ignore[arg-type]
    return AssignmentDetail(
        **_summary(assignment, user).model_dump(),
        course_deadline=assignment.deadline,
        daily_limit=assignment.daily_limit,
        submissions_today=used,
        submissions_left_today=max(0, assignment.daily_limit - used),
        total_limit=spec.submissions.total if spec else None,
        late_policy=spec.submissions.late if spec else None,  # type: ignore[arg-type]
        task=spec.task.type if spec else None,  # type: ignore[arg-type]
        metric=spec.metric if spec else None,
        metric_label=metric_label(spec.metric) if spec else None,
        lower_is_better=spec.grading.lower_is_better if spec else None,
        max_score=spec.points if spec else None,
        output=output,
    )
