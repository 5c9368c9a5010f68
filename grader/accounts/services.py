"""Users and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from grader.extensions import db, utcnow

from .models import ApiToken, Role, User

SCOPES = ("read", "submit", "grade", "admin")
LAST_USED_PRECISION = timedelta(minutes=1)


def create_user(email: str, name: str, role: Role, password: str | None = None) -> User:
    user = User(email=email.strip().lower(), name=name, role=role)
    if password:
        user.password_hash = generate_password_hash(password)
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    user: User | None = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.password_hash or not check_password_hash(user.password_hash, password):
        return None
    return user


def user_by_email(email: str) -> User | None:
    user: User | None = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    return user


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, name: str, scopes: list[str]) -> str:
    """A new token; its clear text is returned once and never stored."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; allowed: {', '.join(SCOPES)}")
    token = "grd_" + secrets.token_urlsafe(32)
    db.session.add(
        ApiToken(user_id=user.id, name=name, prefix=token[:10], token_hash=_hash(token), scopes=scopes)
    )
    db.session.commit()
    return token


def user_for_token(token: str, scope: str) -> tuple[User | None, str]:
    """The token's user if it is valid and carries the scope; else None and why."""
    record = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    if record is None or record.revoked_at is not None:
        return None, "The API token is unknown or revoked."
    if scope not in record.scopes and "admin" not in record.scopes:
        return None, f"The API token lacks the {scope!r} scope."
    now = utcnow()
    # "Last used" to the minute: a script polling every second would otherwise write and commit a
    # row on each of its requests.
    if record.last_used_at is None or now - record.last_used_at >= LAST_USED_PRECISION:
        record.last_used_at = now
        db.session.commit()
    return record.user, ""
