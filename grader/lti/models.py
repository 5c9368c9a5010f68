"""LTI 1.3 records: the platforms an admin registered, the tool's own keys, single-use login state
and nonces, how LMS contexts, users and links map to ours, line items, passbacks and access tokens.

Times are naive UTC like everywhere else (``utcnow``).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grader.accounts.models import User
from grader.assignments.models import Assignment
from grader.courses.models import Course
from grader.extensions import db, str_enum, utcnow


class LtiPlatform(db.Model):  # type: ignore[name-defined,misc]
    """An LMS registration (one issuer may register the tool more than once, under other client ids)."""

    __tablename__ = "lti_platforms"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    issuer: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(255))
    auth_login_url: Mapped[str] = mapped_column(String(500))
    auth_token_url: Mapped[str] = mapped_column(String(500))
    key_set_url: Mapped[str] = mapped_column(String(500))
    # The "aud" of our client assertion when the token endpoint wants something else than its URL.
    token_audience: Mapped[str | None] = mapped_column(String(500))
    # The platform's public keys, cached: fetched again on an unknown kid or once a day.
    key_set: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    key_set_fetched_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by an administrator: launches are refused and nothing is sent to it until enabled again.
    disabled_at: Mapped[datetime | None]
    # Where the LMS shows its pages when that is neither the issuer's nor the auth URL's origin (a
    # hosted Canvas: https://school.instructure.com): they too may frame the tool's launched sessions.
    frame_origins: Mapped[list[str] | None] = mapped_column(JSON)

    deployments: Mapped[list[LtiDeployment]] = relationship(
        back_populates="platform", order_by="LtiDeployment.id", cascade="all, delete-orphan"
    )


class LtiDeployment(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "lti_deployments"
    __table_args__ = (UniqueConstraint("platform_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    platform: Mapped[LtiPlatform] = relationship(back_populates="deployments")


class LtiToolKey(db.Model):  # type: ignore[name-defined,misc]
    """The tool's RSA key pair (the newest signs; every one is published in the JWKS until retired)."""

    __tablename__ = "lti_tool_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)  # the RFC 7638 thumbprint
    private_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A rotated-out key stays published until then (platforms cache the JWKS), then is deleted.
    retire_after: Mapped[datetime | None]


class LtiLoginState(db.Model):  # type: ignore[name-defined,misc]
    """An OIDC login in flight: its state and the nonce issued with it, deleted by the launch that uses it."""

    __tablename__ = "lti_login_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(100), unique=True)
    nonce: Mapped[str] = mapped_column(String(100))
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The frame the LMS offered for platform storage (lti_storage_target), when it offered one: the
    # launch may then prove it is in this login's browser by a value kept there instead of a cookie.
    storage_target: Mapped[str | None] = mapped_column(String(200))
    # SHA-256 of the random value kept in the platform's storage (never the value itself).
    storage_secret_sha256: Mapped[str | None] = mapped_column(String(64))
    # The login initiation's parameters, to start it again in a new window when the frame cannot launch.
    login_params: Mapped[dict[str, str] | None] = mapped_column(JSON)


class LtiUsedNonce(db.Model):  # type: ignore[name-defined,misc]
    """A nonce a launch consumed: a second launch with it is a replay (purged once the token expired)."""

    __tablename__ = "lti_used_nonces"

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce: Mapped[str] = mapped_column(String(255), unique=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LtiContext(db.Model):  # type: ignore[name-defined,misc]
    """An LMS course (context) and the course it launches into, with its service endpoints."""

    __tablename__ = "lti_contexts"
    __table_args__ = (UniqueConstraint("platform_id", "context_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    context_id: Mapped[str] = mapped_column(String(255))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    deployment_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255), default="")
    # Assignment and Grade Services (from the latest launch's endpoint claim).
    lineitems_url: Mapped[str | None] = mapped_column(String(500))
    ags_scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Names and Role Provisioning Services.
    memberships_url: Mapped[str | None] = mapped_column(String(500))
    roster_synced_at: Mapped[datetime | None]
    roster_error: Mapped[str | None] = mapped_column(Text)
    # The sync in progress (None: none), and the last one's counts (pages, members, new, left, back).
    roster_started_at: Mapped[datetime | None]
    roster_report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    platform: Mapped[LtiPlatform] = relationship()
    course: Mapped[Course] = relationship()


class LtiUser(db.Model):  # type: ignore[name-defined,misc]
    """A platform's user (its stable ``sub``) and our account for them."""

    __tablename__ = "lti_users"
    __table_args__ = (UniqueConstraint("platform_id", "sub"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    sub: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()


class LtiResourceLink(db.Model):  # type: ignore[name-defined,misc]
    """A link placed in an LMS course, and the assignment it opens (None: the course's pages)."""

    __tablename__ = "lti_resource_links"
    __table_args__ = (UniqueConstraint("context_id", "resource_link_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("lti_contexts.id", ondelete="CASCADE"))
    resource_link_id: Mapped[str] = mapped_column(String(255))
    assignment_id: Mapped[int | None] = mapped_column(
        ForeignKey("assignments.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LtiLineItem(db.Model):  # type: ignore[name-defined,misc]
    """The gradebook column of one assignment in one LMS course: exactly one (PrairieLearn#15643)."""

    __tablename__ = "lti_line_items"
    __table_args__ = (UniqueConstraint("context_id", "assignment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("lti_contexts.id", ondelete="CASCADE"))
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"), index=True)
    # The line item's id (a URL) on the platform; None until found or made there by the first passback
    # (the row, unique per context and assignment, is what keeps concurrent passbacks to one column).
    url: Mapped[str | None] = mapped_column(String(500))
    resource_id: Mapped[str] = mapped_column(String(255))
    tag: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(255))
    score_maximum: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    context: Mapped[LtiContext] = relationship()
    assignment: Mapped[Assignment] = relationship()


class PassbackState(enum.StrEnum):
    PENDING = "pending"  # to send (again, from next_attempt_at on)
    SENT = "sent"
    FAILED = "failed"  # gave up after the retries, or the platform refused it for good


class LtiGradePassback(db.Model):  # type: ignore[name-defined,misc]
    """One score for one student in one line item; sent by a task, retried by the sweep, shown to staff."""

    __tablename__ = "lti_grade_passbacks"
    __table_args__ = (
        Index("ix_lti_grade_passbacks_state_next", "state", "next_attempt_at"),
        Index("ix_lti_grade_passbacks_item_user", "line_item_id", "lti_user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    line_item_id: Mapped[int] = mapped_column(ForeignKey("lti_line_items.id", ondelete="CASCADE"))
    lti_user_id: Mapped[int] = mapped_column(ForeignKey("lti_users.id", ondelete="CASCADE"))
    # The result that asked for it (the score sent is the student's best at sending time).
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submissions.id", ondelete="SET NULL"), index=True
    )
    score_given: Mapped[float | None] = mapped_column(Float)
    score_maximum: Mapped[float] = mapped_column(Float)
    timestamp: Mapped[datetime | None]  # the score's timestamp as sent
    state: Mapped[PassbackState] = mapped_column(str_enum(PassbackState), default=PassbackState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    line_item: Mapped[LtiLineItem] = relationship()
    lti_user: Mapped[LtiUser] = relationship()


class LtiAccessToken(db.Model):  # type: ignore[name-defined,misc]
    """A platform's OAuth2 token for a set of scopes, reused until shortly before it expires (Hypothesis#1305)."""

    __tablename__ = "lti_access_tokens"
    __table_args__ = (UniqueConstraint("platform_id", "scope_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    scope_key: Mapped[str] = mapped_column(String(64))  # SHA-256 of the sorted scopes
    token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
