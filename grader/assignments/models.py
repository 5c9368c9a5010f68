from __future__ import annotations

import base64
import hashlib
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grader.courses.models import Course
from grader.engine import spec as spec_module
from grader.extensions import db, utcnow

# A version never changes once published, so each process keeps its parsed spec (every page of an
# assignment and every run reads it; parsing decodes its files and the TOML each time), keyed by its
# content: the text's own hash and the digest that covers its files. Least recently used dropped.
PARSED_SPECS_KEPT = 64
_parsed: OrderedDict[tuple[str, str, str], spec_module.Assignment] = OrderedDict()
_parsed_guard = threading.Lock()


class Assignment(db.Model):  # type: ignore[name-defined,misc]
    """An assignment placed in a course; what it asks is in its versions."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("course_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    deadline: Mapped[datetime | None]
    daily_limit: Mapped[int] = mapped_column(default=10)
    # Hidden: staff see it and can test it; students neither see it nor submit to it.
    hidden: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # A leaderboard by pseudonym: the public score until the deadline, the hidden-set ranking after.
    leaderboard: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Done in teams (grader/teams) when ``team_max`` is set: members per team, set by the instructor.
    team_min: Mapped[int] = mapped_column(default=1, server_default="1")
    team_max: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    course: Mapped[Course] = relationship()
    versions: Mapped[list[AssignmentVersion]] = relationship(
        back_populates="assignment", order_by="AssignmentVersion.number"
    )

    @property
    def current(self) -> AssignmentVersion:
        return self.versions[-1]

    @property
    def in_teams(self) -> bool:
        return self.team_max is not None

    @property
    def version_ids(self) -> list[int]:
        """Every version's id: a submission belongs to the assignment if it names one of them."""
        return [version.id for version in self.versions]


class AssignmentVersion(db.Model):  # type: ignore[name-defined,misc]
    """One published spec. A changed spec makes a new version; results record the one they used."""

    __tablename__ = "assignment_versions"
    __table_args__ = (UniqueConstraint("assignment_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    number: Mapped[int]
    spec_sha256: Mapped[str] = mapped_column(String(64))
    spec_text: Mapped[str] = mapped_column(Text)
    # The hidden set is drawn from this secret: stored here, never in the repository.
    hidden_secret: Mapped[str] = mapped_column(String(64))
    # The hidden set drawn at publication, stored (content-addressed .npz), so a regrade months later
    # uses the very same points whatever happened to the sampling code or NumPy meanwhile.
    hidden_sha256: Mapped[str | None] = mapped_column(String(64))
    # The files the spec refers to (a target function, data files), base64 by relative path, so a
    # version stays gradable whatever later happens to the assignment folder.
    files: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    assignment: Mapped[Assignment] = relationship(back_populates="versions")

    def spec(self) -> spec_module.Assignment:
        """The spec as published in this version (raises SpecError if it no longer parses)."""
        where = f"{self.assignment.slug} v{self.number}"
        key = (hashlib.sha256(self.spec_text.encode()).hexdigest(), self.spec_sha256, where)
        with _parsed_guard:
            found = _parsed.get(key)
            if found is not None:
                _parsed.move_to_end(key)
                return found
        files = {name: base64.b64decode(text) for name, text in (self.files or {}).items()}
        parsed = spec_module.parse(
            self.spec_text, where, spec_module.bundle_reader(files, where), validate=False
        )
        with _parsed_guard:
            _parsed[key] = parsed
            while len(_parsed) > PARSED_SPECS_KEPT:
                _parsed.popitem(last=False)
        return parsed

    @staticmethod
    def encode_files(files: dict[str, bytes]) -> dict[str, str]:
        return {name: base64.b64encode(content).decode() for name, content in files.items()}


class DeadlineExtension(db.Model):  # type: ignore[name-defined,misc]
    """One student's own deadline for one assignment, granted by staff (replaces the course's)."""

    __tablename__ = "deadline_extensions"
    __table_args__ = (UniqueConstraint("assignment_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    deadline: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(200), default="")
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SpecDraft(db.Model):  # type: ignore[name-defined,misc]
    """An assignment folder uploaded by staff: previewed and checked before it is published."""

    __tablename__ = "spec_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(100))
    # The folder's files, base64 by relative path (spec.toml, solutions, target functions, data).
    files: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20), default="uploaded")  # uploaded, checking, checked, failed
    check_report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignments.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
