"""The class similarity check of /api/v1: start one for an assignment, read its progress and its most
similar pairs. Course staff only; a lead for a human, never a verdict."""

from __future__ import annotations

from flask import url_for
from pydantic import Field

from grader.access.kit import require_assignment, require_course
from grader.accounts.models import User
from grader.assignments.models import Assignment
from grader.denials import NotYours
from grader.extensions import db
from grader.rest.registry import Api, Reply
from grader.rest.schemas import Id, Model, Number, UtcDateTime
from grader.similarity import services
from grader.similarity.models import SimilarityCheck, SimilaritySource

api = Api("similarity_api", "Similarity")


class SimilarPairOut(Model):
    rank: int = Field(ge=1)
    left_submission_id: Id
    right_submission_id: Id | None = Field(description="null when the other side is a past submission.")
    right_source: str | None = Field(
        description="The past submission or known solution on the other side (its file's name), if any."
    )
    code: float = Field(description="0..1: the larger share of either side's code found in the other.")
    behaviour: Number = Field(
        description="0..1: how alike the trained models err and their loss curves are; null when "
        "neither could be compared."
    )
    combined: float = Field(description="0..1: 1 - (1 - code)(1 - behaviour); high when either is.")
    page_url: str = Field(description="The side-by-side page, matching fragments marked.")


class SimilarityCheckOut(Model):
    id: Id
    url: str
    page_url: str
    assignment_id: Id
    state: str = Field(description="queued, running, done or failed")
    students: int = Field(ge=0, description="Students with a counted submission, compared pairwise.")
    done: int = Field(ge=0)
    total: int = Field(ge=0, description="Steps of the check: one per student, one per pair.")
    message: str = Field(description="Why it failed, when it did.")
    created_at: UtcDateTime
    finished_at: UtcDateTime | None
    pairs: list[SimilarPairOut] = Field(
        description=f"Once done: the {services.KEEP} most similar pairs at most, most similar first. "
        "Similarity is a lead for a human, not a verdict."
    )


def _staff_assignment(user: User, assignment_id: int) -> Assignment:
    assignment = require_assignment(user, assignment_id)
    require_course(user, assignment.course_id, staff=True)
    return assignment


def _source_name(source_id: int | None) -> str | None:
    source = db.session.get(SimilaritySource, source_id) if source_id is not None else None
    return source.name if source is not None else None


def check_body(check: SimilarityCheck) -> SimilarityCheckOut:
    pairs = [
        SimilarPairOut(
            rank=rank, left_submission_id=p.left_submission_id, right_submission_id=p.right_submission_id,
            right_source=_source_name(p.right_source_id),
            code=p.code, behaviour=p.behaviour, combined=p.combined,
            page_url=url_for("similarity.pair", assignment_id=check.assignment_id, pair_id=p.id),
        )
        for rank, p in enumerate(check.pairs, start=1)
    ]  # fmt: skip
    return SimilarityCheckOut(
        id=check.id, url=url_for("similarity_api.get_similarity_check", check_id=check.id),
        page_url=url_for("similarity.page", assignment_id=check.assignment_id),
        assignment_id=check.assignment_id, state=check.state.value, students=check.students, done=check.done,
        total=check.total, message=check.message, created_at=check.created_at, finished_at=check.finished_at,
        pairs=pairs,
    )  # fmt: skip


@api.operation(
    "POST", "/assignments/<int:assignment_id>/similarity-checks", summary="Start a class similarity check",
    scope="grade", response=SimilarityCheckOut, status=202, headers=("Location",),
)  # fmt: skip
def start_similarity_check(user: User, assignment_id: int) -> Reply:
    """Compare every student's counted submission with every other's, code and behaviour, in the
    background (course staff only). Follow it at ``url``; its pairs come once it is done."""
    check = services.start_check(_staff_assignment(user, assignment_id), user)
    body = check_body(check)
    return Reply(body, headers={"Location": body.url})


@api.operation(
    "GET", "/similarity-checks/<int:check_id>", summary="Get a similarity check and its pairs",
    response=SimilarityCheckOut,
)  # fmt: skip
def get_similarity_check(user: User, check_id: int) -> SimilarityCheckOut:
    """Its progress and, once done, the most similar pairs with their scores (course staff only)."""
    check = db.session.get(SimilarityCheck, check_id)
    if check is None:
        raise NotYours(f"There is no similarity check {check_id} you can see.")
    _staff_assignment(user, check.assignment_id)
    return check_body(check)
