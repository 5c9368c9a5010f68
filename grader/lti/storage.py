"""Launches inside the LMS's frame: what the server keeps and checks for LTI platform storage
(1EdTech "LTI Client Side postMessages" and "Platform Storage"), and which origins may frame the tool.

A browser that blocks third-party cookies drops the cookie that ties a launch to the browser its
login began in (login CSRF protection, see views.launch). Where the LMS offers storage
(``lti_storage_target`` on the login), the login page keeps a random value in the LMS's own frame
and the launch page reads it back from there: only the browser that ran this login holds it, so it
binds the launch as the cookie would. The database keeps only its SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from sqlalchemy import select

from grader.extensions import db, utcnow

from .models import LtiLoginState, LtiPlatform

# How long the tool's pages wait for the LMS's frame to answer before falling back (milliseconds).
ANSWER_WITHIN_MS = 2000


@dataclass(frozen=True)
class PendingLogin:
    """A login in flight, as its launch sees it (before the launch consumes it)."""

    platform_id: int
    storage_target: str | None
    storage_origin: str  # where storage messages go and answers may come from: the OIDC auth URL's
    frame_origins: list[str]
    login_params: dict[str, str] = field(default_factory=dict)


def storage_key(state: str) -> str:
    """The key a login's value is kept under in the LMS's frame (one per login in flight)."""
    return "grader-lti-" + hashlib.sha256(state.encode()).hexdigest()[:24]


def origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def platform_origins(platform: LtiPlatform) -> list[str]:
    """The origins an LMS shows its pages from, as registered: its issuer's, its auth URL's and any
    frame origins its administrator added."""
    found = (origin_of(platform.issuer), origin_of(platform.auth_login_url), *(platform.frame_origins or []))
    return sorted({o for o in found if o})


def frame_ancestors(platform_id: object) -> list[str]:
    """Who may frame a session launched from this platform: its origins while it is registered and
    enabled, nobody otherwise (a disabled or deleted registration ends the embedding at once)."""
    if not isinstance(platform_id, int):
        return []
    platform = db.session.get(LtiPlatform, platform_id)
    if platform is None or platform.disabled_at is not None:
        return []
    return platform_origins(platform)


def pending_login(state: str) -> PendingLogin | None:
    """The unexpired login this state belongs to, or None."""
    if not state:
        return None
    row = db.session.scalar(select(LtiLoginState).where(LtiLoginState.state == state))
    if row is None or row.expires_at < utcnow():
        return None
    platform = db.session.get(LtiPlatform, row.platform_id)
    if platform is None or platform.disabled_at is not None:
        return None
    return PendingLogin(
        platform_id=platform.id,
        storage_target=row.storage_target,
        storage_origin=origin_of(platform.auth_login_url) or "",
        frame_origins=platform_origins(platform),
        login_params=dict(row.login_params or {}),
    )


def storage_value_matches(state: str, value: str) -> bool:
    """Whether ``value`` is the one this login kept in platform storage."""
    row = db.session.scalar(select(LtiLoginState).where(LtiLoginState.state == state))
    if row is None or not row.storage_secret_sha256 or not value:
        return False
    sent = hashlib.sha256(value.encode()).hexdigest()
    return hmac.compare_digest(row.storage_secret_sha256, sent)


def restart_url(login_url: str, pending: PendingLogin | None) -> str | None:
    """The login initiation again, without platform storage, for a new top-level window."""
    if pending is None or not pending.login_params.get("iss") or not pending.login_params.get("login_hint"):
        return None
    return f"{login_url}?{urlencode(pending.login_params)}"
