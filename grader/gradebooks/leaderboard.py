"""A leaderboard, where the instructor turns it on: students by the pseudonym they chose (the
query and the ranking; the page is grader/web/leaderboards.py, and the API may use the same).

Until the deadline the ranking is by the public score (the metric on a fixed 30%
of the hidden set); after it, by the full hidden-set score, with each student's
public rank beside it, so the class sees what tuning to the public part did.
Only submissions made before the deadline count; the platform's reference runs
and staff never appear. One query per page, whatever the class size.

In a team assignment each team is one entry, under its team name (chosen by its members, so no
pseudonym is needed): its members share its submissions and its rank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, true

from grader.accounts.models import Role, User
from grader.assignments.models import Assignment
from grader.courses.models import Enrollment
from grader.extensions import db
from grader.submissions.credit import CREDITED_USER, with_credit
from grader.submissions.models import Result, State, Submission, counts_as_grade
from grader.teams.queries import team_names


@dataclass
class Entry:
    user_id: int
    pseudonym: str | None
    name: str  # shown to staff only
    rank: int | None  # among the listed students (those with a pseudonym)
    score: float | None
    metric_value: float | None
    entries: int
    public_rank: int | None = None  # after the deadline: where the public score had placed them
    member_ids: list[int] = field(default_factory=list)  # the viewer's own entry is one of these


@dataclass
class Leaderboard:
    assignment: Assignment
    final: bool  # after the deadline: the hidden-set ranking
    listed: list[Entry]
    unlisted: int  # students with a graded submission but no pseudonym
    me: Entry | None  # the viewer's own entry, listed or not


def _per_student(assignment: Assignment) -> Any:
    """Each student's best public and best hidden-set result among the submissions made in time."""
    in_time = Submission.created_at <= assignment.deadline if assignment.deadline else true()
    ranked = (
        with_credit(
            select(
                CREDITED_USER.label("user_id"),
                Result.public_score,
                Result.public_metric,
                Result.score,
                Result.metric_value,
                func.row_number()
                .over(
                    partition_by=CREDITED_USER,
                    order_by=(Result.public_score.desc().nulls_last(), Submission.created_at, Submission.id),
                )
                .label("by_public"),
                func.row_number()
                .over(
                    partition_by=CREDITED_USER,
                    order_by=(Result.score.desc().nulls_last(), Submission.created_at, Submission.id),
                )
                .label("by_score"),
            ).join(Result, Result.submission_id == Submission.id)
        )
        .where(
            Submission.assignment_version_id.in_(assignment.version_ids),
            Submission.state == State.SCORED,
            Submission.is_reference.is_(False),
            counts_as_grade(),
            Submission.late.is_(False),
            in_time,
        )
        .cte("ranked")
    )

    def best(column: Any, order: Any) -> Any:
        """The column's value in the row ranked first by ``order`` (one row per student)."""
        return func.max(case((order == 1, column)))

    return (
        select(
            ranked.c.user_id,
            best(ranked.c.public_score, ranked.c.by_public).label("public_score"),
            best(ranked.c.public_metric, ranked.c.by_public).label("public_metric"),
            best(ranked.c.score, ranked.c.by_score).label("score"),
            best(ranked.c.metric_value, ranked.c.by_score).label("metric_value"),
            func.count().label("entries"),
        )
        .group_by(ranked.c.user_id)
        .subquery("per_student")
    )


def _ranks(entries: list[Entry], key: Any) -> dict[int, int]:
    """Competition ranking (1, 2, 2, 4) by a score, higher first; no score, no rank."""
    ordered = sorted((e for e in entries if key(e) is not None), key=lambda e: -key(e))
    ranks: dict[int, int] = {}
    for position, entry in enumerate(ordered, start=1):
        previous = ordered[position - 2] if position > 1 else None
        same = previous is not None and key(previous) == key(entry)
        ranks[entry.user_id] = ranks[previous.user_id] if same and previous else position
    return ranks


def leaderboard(assignment: Assignment, viewer: User, now: datetime) -> Leaderboard:
    final = assignment.deadline is not None and now >= assignment.deadline
    per = _per_student(assignment)
    rows = db.session.execute(
        select(Enrollment.user_id, Enrollment.pseudonym, User.name, per)
        .join(per, per.c.user_id == Enrollment.user_id)
        .join(User, User.id == Enrollment.user_id)
        .where(Enrollment.course_id == assignment.course_id, Enrollment.role == Role.STUDENT)
    ).all()
    everyone = []
    public_scores: dict[int, float | None] = {}
    teams = team_names(assignment.id) if assignment.in_teams else {}
    of_team: dict[str, Entry] = {}
    for row in rows:
        score, metric = (row.score, row.metric_value) if final else (row.public_score, row.public_metric)
        team = teams.get(row.user_id)
        if team is not None and team in of_team:  # a teammate: the same submissions, one entry
            of_team[team].member_ids.append(row.user_id)
            of_team[team].name += f", {row.name}"
            continue
        entry = Entry(row.user_id, team or row.pseudonym, row.name, None, score, metric, row.entries)
        entry.member_ids.append(row.user_id)
        if team is not None:
            of_team[team] = entry
        everyone.append(entry)
        public_scores[row.user_id] = row.public_score
    listed = [e for e in everyone if e.pseudonym]
    ranks = _ranks(listed, lambda e: e.score)
    public_ranks = _ranks(listed, lambda e: public_scores[e.user_id]) if final else {}
    for entry in listed:
        entry.rank, entry.public_rank = ranks.get(entry.user_id), public_ranks.get(entry.user_id)
    listed.sort(key=lambda e: (e.rank is None, e.rank or 0, (e.pseudonym or "").lower()))
    me = next((e for e in everyone if viewer.id in e.member_ids), None)
    if me is not None and me.rank is None and me.score is not None:
        # Where they would stand if listed: the number of listed students strictly ahead, plus one.
        me.rank = 1 + sum(1 for e in listed if e.score is not None and e.score > me.score)
    return Leaderboard(assignment, final, listed, sum(1 for e in everyone if not e.pseudonym), me)
