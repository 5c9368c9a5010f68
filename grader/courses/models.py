from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grader.accounts.models import Role, User
from grader.extensions import db, str_enum, utcnow


class Course(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Enrollment(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "enrollments"
    __table_args__ = (
        UniqueConstraint("course_id", "user_id"),
        UniqueConstraint("course_id", "pseudonym", name="uq_enrollments_pseudonym"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(str_enum(Role))
    # The name this student shows on the course's leaderboards (chosen by them; None: not shown).
    pseudonym: Mapped[str | None] = mapped_column(String(40))
    # When the LMS's roster stopped listing them (None: a member). Their access ends; their
    # submissions and grades stay, shown to staff as "left"; a later roster or launch brings them back.
    left_at: Mapped[datetime | None]

    course: Mapped[Course] = relationship()
    user: Mapped[User] = relationship()


def current_member() -> ColumnElement[bool]:
    """An enrollment that gives access: not marked as left by the LMS's roster."""
    return Enrollment.left_at.is_(None)
