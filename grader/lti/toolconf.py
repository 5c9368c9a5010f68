"""The library's side of the configuration, backed by the database: pylti1p3's ToolConf (registration
by issuer and client id, deployments), its Registration, the platform's cached key set, and a
ServiceConnector that caches access tokens in the database and reads both forms of ``Link: rel=next``.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import requests
from pylti1p3.deployment import Deployment
from pylti1p3.registration import Registration
from pylti1p3.service_connector import ServiceConnector, TServiceConnectorResponse
from pylti1p3.tool_config.abstract import ToolConfAbstract
from sqlalchemy import select

from grader.extensions import db, utcnow

from . import keys
from .models import LtiAccessToken, LtiDeployment, LtiPlatform

HTTP_TIMEOUT = 15  # seconds, for every call to a platform
KEY_SET_MAX_AGE = timedelta(days=1)  # a key the platform revoked stops being trusted within a day
KEY_SET_MIN_REFRESH = timedelta(seconds=30)  # an unknown kid refetches at most this often
TOKEN_MARGIN = timedelta(seconds=60)  # a cached token is not used this close to its expiry
USER_AGENT = "grader-lti/1.0"


class PlatformError(Exception):
    """A platform could not be reached or answered something unusable (the message says which)."""


def http() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def platforms_for(issuer: str) -> list[LtiPlatform]:
    return list(db.session.scalars(select(LtiPlatform).where(LtiPlatform.issuer == issuer)))


def find_platform(issuer: str, client_id: str | None) -> LtiPlatform | None:
    """The registration for the issuer and client id; without a client id, the issuer's only one."""
    found = platforms_for(issuer)
    if client_id:
        return next((p for p in found if p.client_id == client_id), None)
    return found[0] if len(found) == 1 else None


def registration_for(platform: LtiPlatform, with_tool_key: bool = False) -> Registration:
    registration = (
        Registration()
        .set_issuer(platform.issuer)
        .set_client_id(platform.client_id)
        .set_auth_login_url(platform.auth_login_url)
        .set_auth_token_url(platform.auth_token_url)
        .set_key_set_url(platform.key_set_url)
        .set_key_set(platform.key_set)  # type: ignore[arg-type]
    )
    if platform.token_audience:
        registration.set_auth_audience(platform.token_audience)
    if with_tool_key:
        key = keys.signing_key()
        registration.set_tool_private_key(key.private_key_pem).set_tool_public_key(keys.public_pem(key))
    return registration


def key_set_is_stale(platform: LtiPlatform, kid: str | None) -> bool:
    """Fetch again: nothing cached, cached too long ago, or (not too often) a kid the cache lacks."""
    fetched = platform.key_set_fetched_at
    if platform.key_set is None or fetched is None or utcnow() - fetched > KEY_SET_MAX_AGE:
        return True
    known = {k.get("kid") for k in platform.key_set.get("keys", []) if isinstance(k, dict)}
    return kid not in known and utcnow() - fetched > KEY_SET_MIN_REFRESH


def fetch_key_set(platform: LtiPlatform) -> dict[str, Any]:
    """Fetch the platform's key set into the row and commit it at once (callers fetch before writing
    anything else): a cache kept even when the launch that fetched it is refused, so launches with
    unknown key ids cannot make the tool fetch more often than KEY_SET_MIN_REFRESH."""
    url = platform.key_set_url
    try:
        response = http().get(url, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        key_set = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise PlatformError(
            f"The platform's key set at {url} could not be fetched ({exc}). Check the key set URL "
            "registered for this platform."
        ) from None
    if not isinstance(key_set, dict) or not isinstance(key_set.get("keys"), list):
        raise PlatformError(f"The platform's key set at {url} is not a JWKS (no 'keys' list).")
    platform.key_set, platform.key_set_fetched_at = key_set, utcnow()
    db.session.commit()
    return key_set


class DbToolConf(ToolConfAbstract[Any]):
    """Registrations and deployments from the database; always looked up by issuer *and* client id."""

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False  # never the library's class-level issuer table: every lookup names the client id

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Registration:
        platform = find_platform(iss, None)
        return registration_for(platform) if platform else None  # type: ignore[return-value]

    def find_registration_by_params(
        self, iss: str, client_id: str | None, *args: Any, **kwargs: Any
    ) -> Registration:
        platform = find_platform(iss, client_id)
        return registration_for(platform) if platform else None  # type: ignore[return-value]

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        return self.find_deployment_by_params(iss, deployment_id, None)  # type: ignore[arg-type]

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str, *args: Any, **kwargs: Any
    ) -> Deployment | None:
        platform = find_platform(iss, client_id)
        if platform is None:
            return None
        found = db.session.scalar(
            select(LtiDeployment).where(
                LtiDeployment.platform_id == platform.id, LtiDeployment.deployment_id == deployment_id
            )
        )
        return Deployment().set_deployment_id(deployment_id) if found else None


class DbServiceConnector(ServiceConnector):
    """Access tokens cached per platform and scope set in the database, shared by every worker."""

    def __init__(self, platform: LtiPlatform) -> None:
        super().__init__(registration_for(platform, with_tool_key=True), http())
        self._platform_id = platform.id
        # The library passes no timeout; a hung platform must not hold a worker slot forever.
        self._requests_session.request = _with_timeout(self._requests_session.request)  # type: ignore[method-assign]

    def _scope_key(self, scopes: Any) -> str:
        return hashlib.sha256(" ".join(sorted(scopes)).encode()).hexdigest()

    def _get_cached_access_token(self, scope_key: str) -> str | None:
        row = db.session.scalar(
            select(LtiAccessToken).where(
                LtiAccessToken.platform_id == self._platform_id, LtiAccessToken.scope_key == scope_key
            )
        )
        if row is None or row.expires_at - TOKEN_MARGIN <= utcnow():
            return None
        return str(row.token)

    def _cache_access_token(self, scope_key: str, access_token: str, expires_in: float) -> None:
        expires_at = utcnow() + timedelta(seconds=float(expires_in or 0))
        row = db.session.scalar(
            select(LtiAccessToken).where(
                LtiAccessToken.platform_id == self._platform_id, LtiAccessToken.scope_key == scope_key
            )
        )
        if row is None:
            row = LtiAccessToken(platform_id=self._platform_id, scope_key=scope_key)
            db.session.add(row)
        row.token, row.expires_at = access_token, expires_at
        # Committed at once: a token is worth keeping whatever happens to the caller's request.
        db.session.commit()

    def make_service_request(self, scopes: Any, url: str, **kwargs: Any) -> TServiceConnectorResponse:
        response = super().make_service_request(scopes, url, **kwargs)
        if response["next_page_url"] is None:
            # The library only reads rel="next" quoted; RFC 8288 (and lti1p3platform) allow rel=next.
            link = {k.lower(): v for k, v in response["headers"].items()}.get("link", "")
            for entry in requests.utils.parse_header_links(link) if link else []:
                if entry.get("rel", "").strip('"').lower() == "next" and entry.get("url"):
                    response["next_page_url"] = entry["url"]
        return response


def _with_timeout(request: Any) -> Any:
    def call(method: str, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return request(method, url, **kwargs)

    return call
