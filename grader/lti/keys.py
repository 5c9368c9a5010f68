"""The tool's own RSA keys: made on first use (or by `grader lti generate-key`), kept in the database.

The newest key signs (deep linking responses, client assertions); every stored key is published
in the JWKS, so a rotation can add a key first and delete the old one once platforms refetched.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK
from sqlalchemy import select

from grader.extensions import db

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


def jwks() -> dict[str, list[dict[str, Any]]]:
    """The public half of every stored key, as the platforms fetch it."""
    keys = db.session.scalars(select(LtiToolKey).order_by(LtiToolKey.id)).all()
    if not keys:
        keys = [signing_key()]
    return {"keys": [_public_jwk(key.private_key_pem) | {"kid": key.kid} for key in keys]}
