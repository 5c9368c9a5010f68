"""REST endpoints for a course's staff: an assignment's scoreboard, its grades (JSON, or a CSV that
Canvas or Moodle imports as is) and a submission's Gradescope results.json."""

from __future__ import annotations

from typing import Literal

from flask import Response
from pydantic import Field

from grader.access.kit import require_assignment, require_submission
from grader.accounts.models import User
from grader.api_errors import ApiProblem
from grader.assignments.models import Assignment
from grader.assignments.queries import spec_of
from grader.gradebooks import scoreboard as boards
from grader.gradebooks.gradebook import LEFT_OUT_HEADER, gradebook_file
from grader.gradebooks.gradescope import GradescopeResults, gradescope_results
from grader.rest.registry import Api
from grader.rest.schemas import Id, Model, Number, Page, PageQuery, UtcDateTime, paging
from grader.rest.submission_bodies import StudentRef

api = Api("grades_api", "Scoreboards and grades")


class ScoreboardQuery(PageQuery):
    sort: Literal["student", "score", "metric", "attempts", "last", "late"] = "student"
    order: Literal["asc", "desc"] = "asc"
    pick: Literal["best", "last"] = Field(
        "best", description="Each student's best-scored, or latest graded, submission."
    )
    q: str = Field("", max_length=100, description="Only students whose name or email contains this.")


class ScoreRow(Model):
    student: StudentRef
    attempts: int = Field(description="Charged submissions.")
    last_submission_at: UtcDateTime | None
    submission_id: int | None = Field(description="The submission shown (best or last, as picked).")
    score: Number
    metric_value: Number
    verdict: str | None
    late: bool | None
    set_by_hand: bool = Field(description="The score was set by hand by an instructor.")
    left: bool = Field(description="The LMS's roster no longer lists the student (their work stays).")


class Scoreboard(Page):
    assignment_id: int
    max_score: float | None
    pick: Literal["best", "last"]
    submitted: int = Field(description="Students (after the filter) with at least one charged submission.")
    items: list[ScoreRow]


class Grade(Model):
    student: StudentRef
    grade: Number = Field(description="The best score (null: nothing graded yet).")
    max_score: float | None
    submission_id: int | None = Field(description="The best-scored submission.")


class GradesPage(Page):
    assignment_id: int
    items: list[Grade]


class GradebookQuery(Model):
    format: Literal["canvas", "moodle"] = Field(description="The LMS whose import layout to write.")
    canvas_assignment_id: Id | None = Field(
        None,
        description="Canvas only: the Canvas assignment to update (otherwise Canvas makes or matches one by title).",
    )


def staff_assignment(user: User, assignment_id: int) -> Assignment:
    assignment = require_assignment(user, assignment_id, staff_to="see its scoreboard and grades")
    return assignment


def _max_score(assignment: Assignment) -> float | None:
    spec = spec_of(assignment)
    return spec.points if spec is not None else None


def _student(row: boards.ScoreRow) -> StudentRef:
    return StudentRef(id=row.student_id, name=row.name, email=row.email)


@api.operation(
    "GET", "/assignments/<int:assignment_id>/scoreboard", summary="Get an assignment's scoreboard",
    query=ScoreboardQuery, response=Scoreboard, headers=("Link",),
)  # fmt: skip
def scoreboard(user: User, assignment_id: int, query: ScoreboardQuery) -> Scoreboard:
    """Every student of the course with their best (or last) graded submission, sorted and filtered
    as asked (course staff only)."""
    assignment = staff_assignment(user, assignment_id)
    board = boards.scoreboard(
        assignment, sort=query.sort, descending=query.order == "desc", page=query.page,
        per_page=query.per_page, pick=query.pick, search=query.q,
    )  # fmt: skip
    rows = board.rows if query.page <= board.pages else []  # the query clamps; past the end is empty
    items = [
        ScoreRow(
            student=_student(r),
            attempts=r.attempts,
            last_submission_at=r.last_at,
            submission_id=r.submission_id,
            score=r.score,
            metric_value=r.metric_value,
            verdict=r.verdict,
            late=r.late,
            set_by_hand=r.set_by_hand,
            left=r.left,
        )
        for r in rows
    ]
    return Scoreboard(
        assignment_id=assignment.id, max_score=_max_score(assignment), pick=query.pick, submitted=board.submitted,
        items=items, **paging(query, board.students),
    )  # fmt: skip


@api.operation(
    "GET", "/assignments/<int:assignment_id>/grades", summary="Get an assignment's grades",
    query=PageQuery, response=GradesPage, headers=("Link",),
)  # fmt: skip
def grades(user: User, assignment_id: int, query: PageQuery) -> GradesPage:
    """Each student's grade: the best score of their submissions (course staff only)."""
    assignment = staff_assignment(user, assignment_id)
    board = boards.scoreboard(assignment, page=query.page, per_page=query.per_page, pick="best")
    rows = board.rows if query.page <= board.pages else []
    top = _max_score(assignment)
    items = [
        Grade(student=_student(r), grade=r.score, max_score=top, submission_id=r.submission_id) for r in rows
    ]
    return GradesPage(assignment_id=assignment.id, items=items, **paging(query, board.students))


@api.operation(
    "GET", "/assignments/<int:assignment_id>/grades.csv", summary="Download grades for Canvas or Moodle",
    query=GradebookQuery, response=None, media_type="text/csv", headers=("Content-Disposition", LEFT_OUT_HEADER),
)  # fmt: skip
def grades_csv(user: User, assignment_id: int, query: GradebookQuery) -> Response:
    """The students' best scores as a CSV that Canvas (Grades > Import) or Moodle (Grades > Import >
    CSV file, mapping 'Email address' to the user) imports as is. Students with nothing graded are
    left out, so an import never blanks a grade the LMS has; so are students whose email is an LTI
    placeholder (ending in .invalid), whom no import can match: X-Grader-Left-Out says how many."""
    assignment = staff_assignment(user, assignment_id)
    return gradebook_file(assignment, query.format, query.canvas_assignment_id)


@api.operation(
    "GET", "/submissions/<int:submission_id>/results.json", summary="Get a result as Gradescope results.json",
    response=GradescopeResults, errors=(409,),
)  # fmt: skip
def gradescope(user: User, submission_id: int) -> GradescopeResults:
    """The result in Gradescope's autograder format (course staff only): the scored test, one test per
    diagnosis, the metric and score as leaderboard columns, the seeds in extra_data."""
    submission = require_submission(user, submission_id, staff_to="export results for Gradescope")
    if submission.result is None:
        raise ApiProblem(
            409, "Conflict", f"Submission {submission_id} is {submission.state.value} and has no result yet."
        )
    return gradescope_results(submission)
