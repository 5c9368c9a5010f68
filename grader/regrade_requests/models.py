from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Float, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grader.accounts.models import User
from grader.extensions import db, str_enum, utcnow
from grader.submissions.models import Submission


class RequestState(enum.StrEnum):
    OPEN = "open"
    REGRADED = "regraded"  # queued for grading again (the new result is the answer's score)
    ADJUSTED = "adjusted"  # the score was set by hand
    DECLINED = "declined"

    @property
    def answered(self) -> bool:
        return self is not RequestState.OPEN


class RegradeRequest(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "regrade_requests"
    __table_args__ = (
        # One open request per student and assignment: a second waits for the first's answer.
        Index(
            "uq_regrade_requests_open",
            "assignment_id",
            "student_id",
            unique=True,
            postgresql_where=sa.text("state = 'open'"),
            sqlite_where=sa.text("state = 'open'"),
        ),
        Index("ix_regrade_requests_course_state", "course_id", "state", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[RequestState] = mapped_column(str_enum(RequestState), default=RequestState.OPEN)
    score_when_asked: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    answered_at: Mapped[datetime | None]
    score_set: Mapped[float | None] = mapped_column(Float)  # ADJUSTED: the score given by hand

    submission: Mapped[Submission] = relationship()
    student: Mapped[User] = relationship(foreign_keys=[student_id])
    answered_by: Mapped[User | None] = relationship(foreign_keys=[answered_by_id])
