from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grader.extensions import db, str_enum, utcnow


class CheckState(enum.StrEnum):
    QUEUED = "queued"  # committed; its message is sent after the commit
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class SimilarityCheck(db.Model):  # type: ignore[name-defined,misc]
    """One run of the similarity check over an assignment's class; ``done`` of ``total`` for the page."""

    __tablename__ = "similarity_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"), index=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    state: Mapped[CheckState] = mapped_column(str_enum(CheckState), default=CheckState.QUEUED)
    students: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    pairs: Mapped[list[SimilarityPair]] = relationship(
        cascade="all, delete-orphan", order_by="desc(SimilarityPair.combined)"
    )


class SimilarityPair(db.Model):  # type: ignore[name-defined,misc]
    """Two counted submissions and how alike they are (0..1); only a check's most similar are kept."""

    __tablename__ = "similarity_pairs"
    __table_args__ = (Index("ix_similarity_pairs_check_combined", "check_id", "combined"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("similarity_checks.id", ondelete="CASCADE"))
    left_submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    # The other side: another student's counted submission, or a past one (``SimilaritySource``).
    right_submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    right_source_id: Mapped[int | None] = mapped_column(
        ForeignKey("similarity_sources.id", ondelete="CASCADE")
    )
    code: Mapped[float] = mapped_column(Float)
    behaviour: Mapped[float | None] = mapped_column(Float)  # None: neither errors nor curves to compare
    combined: Mapped[float] = mapped_column(Float)
    # The matching fragments (character offsets in each side's code) and the behaviour's parts.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SimilaritySource(db.Model):  # type: ignore[name-defined,misc]
    """A past year's submission or a known public solution the instructor added: compared on code with
    every student's (never with each other). Kept as the text compared, at most ``code.MAX_CODE_CHARS``."""

    __tablename__ = "similarity_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
