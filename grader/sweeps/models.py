from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from grader.extensions import db, utcnow


class Sweep(db.Model):  # type: ignore[name-defined,misc]
    """One upload that asked for a sweep; each of its runs (point x seed) is a submission of its own.

    The runs are ``submissions`` rows with ``sweep_id`` set: queued, claimed, graded and retried
    like any other, so the workers run them in parallel. Counted as one upload against the limits.
    """

    __tablename__ = "sweeps"
    __table_args__ = (Index("ix_sweeps_user_version", "user_id", "assignment_version_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    assignment_version_id: Mapped[int] = mapped_column(ForeignKey("assignment_versions.id"))
    filename: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(ForeignKey("stored_files.sha256"))
    # method ("grid" | "random"), space (as asked), points (settings of each), seeds per point
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Once every run is final: when its grade was settled, and the run that carries it (None: the
    # sweep is not graded, its seeds being fewer than the assignment grades on).
    settled_at: Mapped[datetime | None]
    graded_submission_id: Mapped[int | None]
