from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grader.accounts.models import User
from grader.assignments.models import AssignmentVersion
from grader.extensions import db, str_enum, utcnow
from grader.teams.models import Team


class State(enum.StrEnum):
    """Only moves forward: received -> queued -> running -> scored | failed | error."""

    RECEIVED = "received"  # committed; the message may not be sent yet
    QUEUED = "queued"  # a message was published after commit
    RUNNING = "running"  # an attempt holds the lease
    SCORED = "scored"
    FAILED = "failed"  # the student's code failed (charged)
    ERROR = "error"  # the platform failed after all retries (never charged)

    @property
    def final(self) -> bool:
        return self in (State.SCORED, State.FAILED, State.ERROR)


class StoredFile(db.Model):  # type: ignore[name-defined,misc]
    """An uploaded file, stored once by content (its SHA-256) under the storage folder."""

    __tablename__ = "stored_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Submission(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "submissions"
    __table_args__ = (
        Index("ix_submissions_state_updated", "state", "updated_at"),
        Index("ix_submissions_user_created", "user_id", "created_at"),
        Index("ix_submissions_version_user", "assignment_version_id", "user_id"),  # scoreboards
        # The workers' fair pick (fairness.py): the waiting, and each lane's runs of the last hour.
        Index("ix_submissions_queue_state_updated", "queue", "state", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Of a team assignment: the team's (its members see it, share its limits and get its grade);
    # ``user_id`` is the member who uploaded it.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    assignment_version_id: Mapped[int] = mapped_column(ForeignKey("assignment_versions.id"))
    filename: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(ForeignKey("stored_files.sha256"))
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[State] = mapped_column(str_enum(State), default=State.RECEIVED)
    late: Mapped[bool] = mapped_column(default=False)
    # The assignment's reference solution run by the platform at publication: the class's yardstick.
    is_reference: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # The Celery queue that grades it ("cpu", "gpu" or "gpu-<kind>"), fixed when it is queued, and
    # its turn-taking lane: None is the student's own; a regrade waits in its assignment's lane
    # (fairness.py).
    queue: Mapped[str] = mapped_column(String(20), default="cpu", server_default="cpu")
    lane: Mapped[str | None] = mapped_column(String(40))
    # A run of a sweep: its point's settings (passed into the run) and which seed of that point.
    sweep_id: Mapped[int | None] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"), index=True)
    sweep_point: Mapped[int | None]
    sweep_seed: Mapped[int | None]
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The one run of a sweep that carries its grade (grader/sweeps/settle.py); the others are not
    # grades, only the experiment: see ``counts_as_grade``.
    sweep_grade: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The current attempt's lease: claimed and renewed with conditional updates.
    attempts: Mapped[int] = mapped_column(default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    user: Mapped[User] = relationship()
    team: Mapped[Team | None] = relationship()
    assignment_version: Mapped[AssignmentVersion] = relationship()
    result: Mapped[Result | None] = relationship(back_populates="submission")

    @property
    def charged(self) -> bool:
        """Counts against the student's limits unless the platform failed."""
        return self.state is not State.ERROR


# One upload, counted against the limits and in the attempts columns: a plain submission, or a
# whole sweep (its id negated, apart from the submissions' ids).
UPLOAD = sa.func.coalesce(-Submission.sweep_id, Submission.id)


def counts_as_grade() -> sa.ColumnElement[bool]:
    """The submissions whose results are grades: plain ones, and the graded run of each sweep."""
    return sa.or_(Submission.sweep_id.is_(None), Submission.sweep_grade.is_(True))


class Attempt(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "attempts"
    __table_args__ = (UniqueConstraint("submission_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    number: Mapped[int]
    worker: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(20), default="running")  # running, finished, expired, error
    detail: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class Result(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "results"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), unique=True)
    attempt_number: Mapped[int]
    verdict: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text, default="")
    metric_name: Mapped[str] = mapped_column(String(40))
    metric_value: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)
    # On a fixed part of the hidden set: what a leaderboard shows before the deadline.
    public_metric: Mapped[float | None] = mapped_column(Float)
    public_score: Mapped[float | None] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    passed: Mapped[bool] = mapped_column(default=False)
    seed: Mapped[int]
    device: Mapped[str] = mapped_column(String(20), default="cpu")
    wall_seconds: Mapped[float | None] = mapped_column(Float)
    cpu_seconds: Mapped[float | None] = mapped_column(Float)
    peak_memory_bytes: Mapped[int | None]
    stdout: Mapped[str] = mapped_column(Text, default="")
    stderr: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The trained weights (safetensors, stored by content; kept for sweep runs): parsed, never unpickled.
    weights_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    submission: Mapped[Submission] = relationship(back_populates="result")
    curves: Mapped[list[Curve]] = relationship(back_populates="result", cascade="all, delete-orphan")
    diagnoses: Mapped[list[ResultDiagnosis]] = relationship(cascade="all, delete-orphan")
    fit: Mapped[ResultFit | None] = relationship(cascade="all, delete-orphan")
    adjustment: Mapped[ScoreAdjustment | None] = relationship(cascade="all, delete-orphan")
    behaviour: Mapped[ResultBehaviour | None] = relationship(cascade="all, delete-orphan")


class ScoreAdjustment(db.Model):  # type: ignore[name-defined,misc]
    """A score an instructor set by hand on a result, with why. ``Result.score`` holds the set score,
    so every gradebook, export, leaderboard and LMS passback reads the grade as it now stands; the
    machine's own score is kept here. A regrade makes a new result, and the adjustment goes with the
    old one (the audit trail keeps what was done). Removing it gives the machine's score back."""

    __tablename__ = "score_adjustments"

    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), primary_key=True)
    machine_score: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    by_label: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the machine's score was given back (the row stays: its times make the LMS and the
    # webhooks' events of each change distinct).
    removed_at: Mapped[datetime | None]

    @property
    def active(self) -> bool:
        return self.removed_at is None


class ResultDiagnosis(db.Model):  # type: ignore[name-defined,misc]
    """One diagnosis of a result, in its own row so a class's counts are one GROUP BY (details has the text)."""

    __tablename__ = "result_diagnoses"
    __table_args__ = (Index("ix_result_diagnoses_code", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(60))
    severity: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(200))


class Curve(db.Model):  # type: ignore[name-defined,misc]
    """One series (loss, lr, grad_norm/<layer>, ...), at most ~500 points; full resolution in storage."""

    __tablename__ = "curves"
    __table_args__ = (UniqueConstraint("result_id", "series"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"))
    series: Mapped[str] = mapped_column(String(120))
    steps: Mapped[list[int]] = mapped_column(JSON)
    values: Mapped[list[float | None]] = mapped_column(JSON)
    points_total: Mapped[int]
    full_sha256: Mapped[str | None] = mapped_column(String(64))

    result: Mapped[Result] = relationship(back_populates="curves")


class ResultFit(db.Model):  # type: ignore[name-defined,misc]
    """What the trained model predicts over its input domain (a line, a heat map or decision regions)."""

    __tablename__ = "result_fits"

    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class ResultBehaviour(db.Model):  # type: ignore[name-defined,misc]
    """How the trained model errs on the public evaluation points (grader/engine/fingerprint.py): staff
    only, for the class similarity check."""

    __tablename__ = "result_behaviours"

    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class RegradeBatch(db.Model):  # type: ignore[name-defined,misc]
    """Staff asked to regrade every submission of an assignment; progress is counted from the rows."""

    __tablename__ = "regrade_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"), index=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    submission_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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
