from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from grader.extensions import db, str_enum, utcnow


class Action(enum.StrEnum):
    """What a member of staff did; its words are the trail's (``WORDS``)."""

    REGRADE = "regrade"
    REGRADE_ALL = "regrade_all"
    SCORE_ADJUSTED = "score_adjusted"
    ADJUSTMENT_REMOVED = "adjustment_removed"
    REGRADE_REQUEST_ANSWERED = "request_answered"
    EXTENSION_GRANTED = "extension_granted"
    EXTENSION_REVOKED = "extension_revoked"
    ASSIGNMENT_HIDDEN = "assignment_hidden"
    ASSIGNMENT_SHOWN = "assignment_shown"
    LEADERBOARD_CHANGED = "leaderboard_changed"
    VERSION_PUBLISHED = "version_published"
    TEAM_CHANGED = "team_changed"
    PLATFORM_DELETED = "platform_deleted"
    PLATFORM_DISABLED = "platform_disabled"
    PLATFORM_ENABLED = "platform_enabled"
    TOOL_KEY_ROTATED = "tool_key_rotated"
    LMS_COURSE_LINKED = "lms_course_linked"


WORDS = {
    Action.REGRADE: "regraded a submission",
    Action.REGRADE_ALL: "regraded every submission of an assignment",
    Action.SCORE_ADJUSTED: "set a score by hand",
    Action.ADJUSTMENT_REMOVED: "removed a score set by hand",
    Action.REGRADE_REQUEST_ANSWERED: "answered a regrade request",
    Action.EXTENSION_GRANTED: "granted a deadline extension",
    Action.EXTENSION_REVOKED: "revoked a deadline extension",
    Action.ASSIGNMENT_HIDDEN: "hid an assignment from students",
    Action.ASSIGNMENT_SHOWN: "showed an assignment to students",
    Action.LEADERBOARD_CHANGED: "turned a leaderboard on or off",
    Action.VERSION_PUBLISHED: "published a version of an assignment",
    Action.TEAM_CHANGED: "changed a team",
    Action.PLATFORM_DELETED: "deleted an LMS platform's registration",
    Action.PLATFORM_DISABLED: "disabled an LMS platform",
    Action.PLATFORM_ENABLED: "enabled an LMS platform again",
    Action.TOOL_KEY_ROTATED: "rotated the tool's LTI signing key",
    Action.LMS_COURSE_LINKED: "linked an LMS course to another course",
}


class AuditEntry(db.Model):  # type: ignore[name-defined,misc]
    """One staff action. Never updated or deleted by the service: the trail only grows.

    Who and what are kept as words too (``actor_label``, ``subject_label``), because the trail must
    still read right after an account, a submission or a platform is gone.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_course_time", "course_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # None: an action outside any course (an LMS platform's registration)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(300))
    action: Mapped[Action] = mapped_column(str_enum(Action))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int | None]
    subject_label: Mapped[str] = mapped_column(String(300))
    # The student the action concerns, when it concerns one (what they see or their grade)
    student_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
