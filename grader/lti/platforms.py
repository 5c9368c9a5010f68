"""Registering an LMS, disabling, enabling and deleting its registration (admins: the platforms page and
`grader lti ...`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete as sa_delete
from sqlalchemy import select

from grader.accounts.models import User
from grader.audit import services as audit
from grader.audit.models import Action
from grader.extensions import db, utcnow

from .models import LtiContext, LtiDeployment, LtiPlatform


class RegistrationRefused(ValueError):
    pass


@dataclass
class PlatformForm:
    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    deployment_ids: list[str]
    token_audience: str = ""
    name: str = ""
    frame_origins: list[str] = field(default_factory=list)  # given: they replace the registered ones


def _frame_origin(value: str) -> str:
    parts = urlsplit(_url("frame origin", value))
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise RegistrationRefused(
            f"The frame origin {value!r} must be an origin only (https://school.instructure.com), no path."
        )
    return f"{parts.scheme}://{parts.netloc}".lower()


def _url(label: str, value: str) -> str:
    parts = urlsplit(value.strip())
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise RegistrationRefused(f"The {label} {value!r} must be an https:// URL (http only on localhost).")
    if not parts.netloc:
        raise RegistrationRefused(f"The {label} {value!r} has no host.")
    return value.strip()


def list_platforms() -> list[LtiPlatform]:
    return list(db.session.scalars(select(LtiPlatform).order_by(LtiPlatform.id)))


def register(form: PlatformForm) -> tuple[LtiPlatform, list[str]]:
    """Register a platform, or add deployments to the one with the same issuer and client id; commits.

    Returns the platform and the deployment ids that were new. Raises RegistrationRefused (nothing saved).
    """
    issuer, client_id = form.issuer.strip(), form.client_id.strip()
    if not issuer or not client_id:
        raise RegistrationRefused("The issuer and the client id are both required (the LMS shows them).")
    urls = {
        "auth_login_url": _url("login (OIDC authorization) URL", form.auth_login_url),
        "auth_token_url": _url("token URL", form.auth_token_url),
        "key_set_url": _url("key set (JWKS) URL", form.key_set_url),
    }
    deployments = [d.strip() for d in form.deployment_ids if d.strip()]
    frame_origins = sorted({_frame_origin(o) for o in form.frame_origins if o.strip()})
    if any(len(d) > 255 for d in deployments) or len(issuer) > 255 or len(client_id) > 255:
        raise RegistrationRefused("The issuer, client id and deployment ids may be at most 255 characters.")
    platform = db.session.scalar(
        select(LtiPlatform).where(LtiPlatform.issuer == issuer, LtiPlatform.client_id == client_id)
    )
    if platform is None:
        if not deployments:
            raise RegistrationRefused(
                "Give at least one deployment id (the LMS shows it once the tool is installed)."
            )
        platform = LtiPlatform(issuer=issuer, client_id=client_id, **urls)
        db.session.add(platform)
    else:
        for key, value in urls.items():
            setattr(platform, key, value)
    platform.name = (form.name.strip() or urlsplit(issuer).netloc or issuer)[:200]
    platform.token_audience = form.token_audience.strip() or None
    if frame_origins:
        platform.frame_origins = frame_origins
    known = {d.deployment_id for d in platform.deployments}
    added = [d for d in dict.fromkeys(deployments) if d not in known]
    for deployment_id in added:
        platform.deployments.append(LtiDeployment(deployment_id=deployment_id))
    # A changed key set URL must not keep trusting the old cached keys.
    platform.key_set, platform.key_set_fetched_at = None, None
    db.session.commit()
    return platform, added


def _courses_linked(platform: LtiPlatform) -> list[tuple[int, str]]:
    rows = db.session.execute(
        select(LtiContext.course_id, LtiContext.title).where(LtiContext.platform_id == platform.id)
    ).all()
    return [(course_id, title) for course_id, title in dict((r[0], r[1]) for r in rows).items()]


def _record(action: Action, platform: LtiPlatform, by: User | None, details: dict[str, Any]) -> None:
    """One entry for the administrators (no course), and one in each course linked to the platform,
    whose instructors see their LMS link change in their own trail."""
    subject = audit.Subject(
        "lti_platform", platform.id, f"{platform.name} ({platform.issuer}, client {platform.client_id})"
    )
    audit.record(action, by=by, course_id=None, subject=subject, details=details)
    for course_id, _ in _courses_linked(platform):
        audit.record(action, by=by, course_id=course_id, subject=subject, details=details)


def set_disabled(platform: LtiPlatform, disabled: bool, by: User | None) -> None:
    """Disable a platform (launches refused, no passback or roster sync) or enable it again; commits."""
    if (platform.disabled_at is not None) == disabled:
        return
    platform.disabled_at = utcnow() if disabled else None
    _record(Action.PLATFORM_DISABLED if disabled else Action.PLATFORM_ENABLED, platform, by, {})
    db.session.commit()


@dataclass(frozen=True)
class Deleted:
    name: str
    deployments: int
    courses: int  # grader courses that were linked to it (kept, with their students and grades)


def delete(platform: LtiPlatform, by: User | None) -> Deleted:
    """Delete a registration and everything that only makes sense with it: deployments, login states,
    LMS contexts, users' LMS identities, resource links, line items and their passbacks. The grader's
    own courses, accounts, submissions and grades stay. Commits."""
    deleted = Deleted(platform.name, len(platform.deployments), len(_courses_linked(platform)))
    _record(
        Action.PLATFORM_DELETED, platform, by,
        {"deployments": deleted.deployments, "courses": deleted.courses},
    )  # fmt: skip
    # The database's ON DELETE CASCADE removes the rows that hang off the platform, in one statement.
    db.session.execute(sa_delete(LtiPlatform).where(LtiPlatform.id == platform.id))
    db.session.commit()
    db.session.expunge_all()
    return deleted
