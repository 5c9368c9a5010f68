"""Gradebook files an LMS imports as they are: Canvas's gradebook CSV and Moodle's grade import CSV.

Canvas (Grades > Import) reads its own export's layout: the columns Student, ID, SIS User ID,
SIS Login ID, Section, then one column per assignment, "Title" or "Title (canvas id)", and a
second row "Points Possible". It finds each student by ID, then SIS User ID, then SIS Login ID
(the login, an email at most institutions), then by name; the grader knows the email only, so it
fills SIS Login ID. Without a Canvas assignment id the column makes a new assignment (or matches
one of that exact title); with one, it updates that assignment.

Moodle (Grades > Import > CSV file) maps a column to the user ("Map from: Email address", "Map to:
Email address") and each other column to a grade item; a blank cell or "-" sets "no grade", and
one row whose user is not found aborts the whole import.

So both files list only the students who have a graded score: importing one never blanks a grade
the LMS already has, and never fails on a student who is not in the LMS's course yet. They also leave
out the students whose email is an LTI placeholder (``…@lti.invalid``, made when the LMS sent no
email): neither LMS could match that row to anyone (Moodle would abort the whole import on it). How
many graded students were left out that way is sent with the file, in ``X-Grader-Left-Out``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from flask import Response

from grader.assignments.models import Assignment
from grader.assignments.queries import spec_of
from grader.gradebooks import scoreboard
from grader.spreadsheet import Cell, csv_text

FORMATS = ("canvas", "moodle")
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_ROW = "    Points Possible"  # as Canvas writes it in its own export
MOODLE_IDENTITY = ("Email address", "Full name")
# RFC 2606 reserves .invalid: no mailbox has it, so an LMS has no user with such an address. LTI
# launches that carry no email get one (grader/lti/identities.py).
PLACEHOLDER_SUFFIX = ".invalid"
LEFT_OUT_HEADER = "X-Grader-Left-Out"


class GradeRow(Protocol):
    name: str
    email: str
    score: float | None


def has_real_email(row: GradeRow) -> bool:
    return not row.email.strip().lower().endswith(PLACEHOLDER_SUFFIX)


def left_out(rows: Iterable[GradeRow]) -> int:
    """Graded students the files leave out because their email is a placeholder."""
    return sum(1 for r in rows if r.score is not None and not has_real_email(r))


def points(value: float) -> str:
    """A grade as both LMSs parse it: a plain decimal with at most two places, no exponent."""
    text = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def canvas_csv(
    title: str, max_points: float, rows: Iterable[GradeRow], canvas_assignment_id: int | None = None
) -> str:
    column = f"{title} ({canvas_assignment_id})" if canvas_assignment_id else title
    lines: list[list[str]] = [
        [*CANVAS_IDENTITY, column],
        [CANVAS_POINTS_ROW, "", "", "", "", points(max_points)],
    ]
    lines += [
        [r.name, "", "", r.email, "", points(r.score)]
        for r in rows
        if r.score is not None and has_real_email(r)
    ]
    return csv_text(lines)


def moodle_csv(title: str, rows: Iterable[GradeRow]) -> str:
    lines: list[list[str]] = [[*MOODLE_IDENTITY, title]]
    lines += [[r.email, r.name, points(r.score)] for r in rows if r.score is not None and has_real_email(r)]
    return csv_text(lines)


def gradebook_csv(
    fmt: str, title: str, max_points: float, rows: Iterable[GradeRow], canvas_assignment_id: int | None = None
) -> str:
    if fmt == "canvas":
        return canvas_csv(title, max_points, rows, canvas_assignment_id)
    if fmt == "moodle":
        return moodle_csv(title, rows)
    raise ValueError(f"unknown gradebook format {fmt!r}; use one of {', '.join(FORMATS)}")


def _file_stem(assignment: Assignment) -> str:
    return "".join(
        c if c.isalnum() or c in "-_" else "-" for c in f"{assignment.course.code}-{assignment.slug}"
    )


def gradebook_file(assignment: Assignment, fmt: str, canvas_assignment_id: int | None = None) -> Response:
    """The class's best scores as Canvas's or Moodle's import CSV, as a download (for the pages and the
    API alike); ``X-Grader-Left-Out`` says how many graded students it leaves out (placeholder emails)."""
    board = scoreboard.scoreboard(assignment, per_page=None, pick="best")
    spec = spec_of(assignment)
    text = gradebook_csv(
        fmt, assignment.title, spec.points if spec else 0.0, board.rows, canvas_assignment_id
    )
    name = f"{_file_stem(assignment)}-{fmt}-grades.csv"
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        LEFT_OUT_HEADER: str(left_out(board.rows)),
    }
    return Response(text, mimetype="text/csv", headers=headers)


SCOREBOARD_COLUMNS = (
    "student", "email", "score", "max_score", "metric", "verdict", "attempts", "last_submission_utc", "late",
    "submission_id", "set_by_hand", "left_the_course",
)  # fmt: skip


def scoreboard_file(assignment: Assignment, **board_args: Any) -> Response:
    """The whole class as the scoreboard page shows it (same sort, filter and pick), for a spreadsheet."""
    board = scoreboard.scoreboard(assignment, per_page=None, **board_args)
    spec = spec_of(assignment)
    header = [spec.metric if spec and c == "metric" else c for c in SCOREBOARD_COLUMNS]
    lines: list[list[Cell]] = [list(header)]
    for r in board.rows:
        last = r.last_at.isoformat(timespec="seconds") if r.last_at else None
        late = None if r.late is None else ("yes" if r.late else "no")
        max_points = spec.points if spec else None
        lines.append([r.name, r.email, r.score, max_points, r.metric_value, r.verdict, r.attempts, last, late,
                      r.submission_id, "yes" if r.set_by_hand else "no", "yes" if r.left else "no"])  # fmt: skip
    return Response(
        csv_text(lines),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{_file_stem(assignment)}-{board.pick}.csv"'},
    )
