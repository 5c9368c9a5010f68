"""The tool's own RSA keys: made on first use (or by `grader lti rotate-key`), kept in the database.

The newest key signs (deep linking responses, client assertions); every stored key not yet retired
is published in the JWKS. A rotation adds a key, which signs from then on, and keeps the old ones
published until a date (platforms cache the tool's JWKS, and may still check a message signed just
before); after it they leave the JWKS and are deleted.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK
from sqlalchemy import delete, select

from grader.accounts.models import User
from grader.audit import services as audit
from grader.audit.models import Action
from grader.extensions import db, utcnow

from .models import LtiToolKey

KEY_BITS = 2048  # what LTI platforms (Canvas, Moodle) expect for RS256


def _public_jwk(private_pem: str) -> dict[str, Any]:
    key = JWK.from_pem(private_pem.encode())
    public: dict[str, Any] = json.loads(key.export_public())
    public.update(alg="RS256", use="sig")
    return public


def public_pem(key: LtiToolKey) -> str:
    private = serialization.load_pem_private_key(key.private_key_pem.encode(), password=None)
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def generate_key() -> LtiToolKey:
    """A new signing key (it becomes the one that signs); commits."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key = LtiToolKey(kid=_public_jwk(pem)["kid"], private_key_pem=pem)
    db.session.add(key)
    db.session.commit()
    return key


def signing_key() -> LtiToolKey:
    """The newest key; made (and committed) on first use."""
    key = db.session.scalar(select(LtiToolKey).order_by(LtiToolKey.id.desc()).limit(1))
    return key if key is not None else generate_key()


def published() -> list[LtiToolKey]:
    """The keys in the JWKS: every stored one whose retirement date has not come (made on first use)."""
    now = utcnow()
    keys = [
        key
        for key in db.session.scalars(select(LtiToolKey).order_by(LtiToolKey.id))
        if key.retire_after is None or key.retire_after > now
    ]
    return keys or [signing_key()]


def jwks() -> dict[str, list[dict[str, Any]]]:
    """The public half of every published key, as the platforms fetch it."""
    return {"keys": [_public_jwk(key.private_key_pem) | {"kid": key.kid} for key in published()]}


KEEP_DAYS_MAX = 365


def rotate(keep_days: int, by: User | None) -> LtiToolKey:
    """A new signing key; the keys it replaces stay published for ``keep_days`` (0: retired at once),
    then are deleted by ``prune``. Commits. Raises ValueError for a period out of 0..365 days."""
    if not 0 <= keep_days <= KEEP_DAYS_MAX:
        raise ValueError(f"Keep the old key published for 0 to {KEEP_DAYS_MAX} days, not {keep_days}.")
    until = utcnow() + timedelta(days=keep_days)
    old = [key for key in db.session.scalars(select(LtiToolKey)) if key.retire_after is None]
    for key in old:
        key.retire_after = until
    new = generate_key()  # commits the retirement dates with it
    audit.record(
        Action.TOOL_KEY_ROTATED, by=by, course_id=None, subject=audit.Subject("lti_tool_key", new.id, new.kid),
        details={"old_kids": ", ".join(key.kid[:12] for key in old), "old_published_until": f"{until:%Y-%m-%d %H:%M}"},
    )  # fmt: skip
    db.session.commit()
    return new


def prune() -> int:
    """Delete the keys past their retirement date (never the newest, which signs); commits."""
    newest = signing_key()
    removed = db.session.execute(
        delete(LtiToolKey).where(LtiToolKey.retire_after <= utcnow(), LtiToolKey.id != newest.id)
    )
    db.session.commit()
    return getattr(removed, "rowcount", 0) or 0


def all_keys() -> list[LtiToolKey]:
    return list(db.session.scalars(select(LtiToolKey).order_by(LtiToolKey.id.desc())))
