"""OIDC login initiation and launch validation, on pylti1p3's OIDCLogin and MessageLaunch.

What the library leaves open is closed here:
* State and nonce live in the database, not in a cookie and the session. The app's session cookie
  is SameSite=Lax, so the browser does not send it with the platform's cross-site form POST, and a
  SameSite=None state cookie is dropped by browsers that block third-party cookies (and needs
  https). The login stores (state, nonce) in a row; the launch must bring that state back, unused
  and unexpired, with an id_token whose nonce is the one issued with it, and deletes the row.
* The library's ``check_nonce`` only checks that a nonce exists; here each launch's nonce is
  recorded in a unique column, so a replayed id_token is refused (even a concurrent one: the
  second commit fails on the constraint).
* The signature is checked before anything touches the database (the library checks state and
  nonce first), ``exp`` and ``iat`` are required, the audience is checked against the
  registration's client id (the library turns ``verify_aud`` off), with ``azp`` when there are
  several audiences, and only resource link and deep linking messages are accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

import jwt
from pylti1p3.contrib.flask.message_launch import FlaskMessageLaunch
from pylti1p3.contrib.flask.oidc_login import FlaskOIDCLogin
from pylti1p3.contrib.flask.request import FlaskRequest
from pylti1p3.cookie import CookieService
from pylti1p3.exception import LtiException
from pylti1p3.session import SessionService
from sqlalchemy import delete, select

from grader.extensions import db, utcnow

from .models import LtiDeployment, LtiLoginState, LtiPlatform, LtiUsedNonce
from .toolconf import DbToolConf, PlatformError, fetch_key_set, key_set_is_stale, platforms_for
from .toolconf import registration_for as _registration_for

STATE_LIFETIME = timedelta(minutes=10)  # from the login redirect to the launch POST
LEEWAY = 30  # seconds of clock difference tolerated on exp and iat
NONCE_KEPT = timedelta(hours=2)  # past any id_token's expiry (platforms use minutes)
ALGORITHMS = ("RS256", "RS384", "RS512")
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPES = ("LtiResourceLinkRequest", "LtiDeepLinkingRequest")
REGISTER_HINT = (
    "An administrator registers platforms on the LTI platforms page (/admin/lti/platforms) "
    "or with `grader lti register-platform`."
)


class LaunchRefused(Exception):
    """A login or launch this tool will not accept; the message says what was wrong and what to do."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


# OIDC login initiation ------------------------------------------------------------------------


class _Captured(SessionService, CookieService):
    """Where the library puts the state and nonce it makes during a login (stored by us afterwards)."""

    def __init__(self) -> None:
        self.state: str | None = None
        self.nonce: str | None = None

    def set_cookie(self, name: str, value: str | int, exp: int | None = 3600) -> None:
        self.state = str(value)

    def get_cookie(self, name: str) -> str | None:
        return None

    def save_nonce(self, nonce: str) -> None:
        self.nonce = nonce

    def save_state_params(self, state: str, params: Any) -> None:
        pass


def _platform_for_login(issuer: str, client_id: str | None) -> LtiPlatform:
    found = platforms_for(issuer)
    if not found:
        raise LaunchRefused(f"No LMS with issuer {issuer!r} is registered with this tool. {REGISTER_HINT}")
    if client_id:
        platform = next((p for p in found if p.client_id == client_id), None)
        if platform is None:
            known = ", ".join(sorted(p.client_id for p in found))
            raise LaunchRefused(
                f"The LMS {issuer!r} is registered here with client id {known}, not {client_id!r}. "
                "Check the client id (Canvas: the developer key's id; Moodle: the tool's client ID)."
            )
        return _enabled(platform)
    if len(found) > 1:
        raise LaunchRefused(
            f"The LMS {issuer!r} is registered here more than once and its login request names no "
            "client_id: configure it to send client_id, or remove the extra registration."
        )
    return _enabled(found[0])


def _enabled(platform: LtiPlatform) -> LtiPlatform:
    if platform.disabled_at is not None:
        raise LaunchRefused(
            f"This tool's registration of {platform.name!r} was disabled by the grader's administrators "
            f"on {platform.disabled_at:%Y-%m-%d}: launches from it are refused until they enable it again. "
            "Ask them (or your LMS administrator) about it.",
            403,
        )
    return platform


@dataclass(frozen=True)
class LoginRedirect:
    url: str  # the LMS's authorization endpoint, with state and nonce
    state: str  # also bound to the browser (a cookie, see views.login): the launch must come back to it
    platform: LtiPlatform
    # With platform storage offered: the frame to keep the value in, and the value (see storage.py).
    storage_target: str | None = None
    storage_secret: str | None = None


# What a new window needs to start the same login again (the rest is per-login).
RESTART_PARAMS = (
    "iss",
    "login_hint",
    "lti_message_hint",
    "client_id",
    "target_link_uri",
    "lti_deployment_id",
)


def state_cookie_name(state: str) -> str:
    """The cookie that ties a launch to the browser its login started in (one per login in flight)."""
    return "lti-state-" + hashlib.sha256(state.encode()).hexdigest()[:24]


def start_login(values: dict[str, str], launch_url: str) -> LoginRedirect:
    """Check a login initiation (GET or POST from the LMS), record its state, return the LMS's auth URL."""
    issuer = values.get("iss", "")
    if not issuer or not values.get("login_hint"):
        raise LaunchRefused(
            "This login request lacks iss or login_hint: it must come from an LMS starting an LTI 1.3 "
            "launch (open the tool from the course in the LMS)."
        )
    platform = _platform_for_login(issuer, values.get("client_id") or None)
    target = values.get("target_link_uri", "")
    if target and _origin(target) != _origin(launch_url):
        raise LaunchRefused(
            f"The LMS asked to launch {target!r}, which is not this tool ({_origin(launch_url)}). Check "
            "the target link URI registered in the LMS (see `grader lti show-config`)."
        )
    captured = _Captured()
    service: Any = captured  # the library types these as its Flask classes; any implementation works
    login = FlaskOIDCLogin(_request(values), DbToolConf(), session_service=service, cookie_service=service)
    try:
        url: str = login.get_redirect_object(launch_url).get_redirect_url()
    except LtiException as exc:
        raise LaunchRefused(f"The login request was refused: {exc}") from None
    if not captured.state or not captured.nonce:
        raise LaunchRefused("The LTI library made no state or nonce for this login; nothing was sent.", 500)
    storage = values.get("lti_storage_target", "")[:200] or None
    secret = secrets.token_urlsafe(32) if storage else None
    db.session.add(
        LtiLoginState(
            state=captured.state, nonce=captured.nonce, platform_id=platform.id,
            expires_at=utcnow() + STATE_LIFETIME, storage_target=storage,
            storage_secret_sha256=hashlib.sha256(secret.encode()).hexdigest() if secret else None,
            login_params={k: values[k][:1000] for k in RESTART_PARAMS if values.get(k)},
        )
    )  # fmt: skip
    db.session.commit()
    return LoginRedirect(url, captured.state, platform, storage, secret)


def _request(values: dict[str, str]) -> Any:
    """The library's Flask request adapter over these parameters (the form or the query string)."""
    return FlaskRequest(request_data=values)  # type: ignore[no-untyped-call]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


# The launch -----------------------------------------------------------------------------------


@dataclass
class ValidLaunch:
    platform: LtiPlatform
    deployment_id: str
    claims: dict[str, Any]

    @property
    def message_type(self) -> str:
        return str(self.claims.get(CLAIM + "message_type"))


class _Launch(FlaskMessageLaunch):
    """The library's launch with its registration, keys, state and nonce checks made strict (see above)."""

    def __init__(self, platform: LtiPlatform, values: dict[str, str]) -> None:
        super().__init__(_request(values), DbToolConf())
        self.platform, self.values = platform, values
        self.set_jwt_verify_options({"verify_aud": False, "require": ["exp", "iat"]})

    def validate(self) -> _Launch:
        self._validated = True
        try:
            self.validate_jwt_format().validate_registration().validate_jwt_signature()
            self.validate_deployment().validate_message().validate_nonce().validate_state()
        except Exception:
            self._validated = False
            raise
        return self

    @property
    def body(self) -> dict[str, Any]:
        return cast(dict[str, Any], self._jwt.get("body", {}))

    def validate_registration(self) -> _Launch:
        self._registration = _registration_for(self.platform)
        return self

    def fetch_public_key(self, key_set_url: str) -> Any:
        try:
            return fetch_key_set(self.platform)
        except PlatformError as exc:
            raise LaunchRefused(str(exc), 502) from None

    def validate_jwt_signature(self) -> _Launch:
        kid = self._jwt.get("header", {}).get("kid")
        try:
            public_key, alg = self.get_public_key()
        except LtiException:
            raise LaunchRefused(
                f"The launch is signed with key {kid!r}, which the LMS's key set at "
                f"{self.platform.key_set_url} does not list. Check the key set URL registered for "
                f"{self.platform.issuer!r}."
            ) from None
        if alg not in ALGORITHMS:
            raise LaunchRefused(
                f"The LMS's key {kid!r} is for {alg}; LTI 1.3 launches are signed with RS256."
            )
        try:
            jwt.decode(
                self._get_id_token(),
                public_key,
                algorithms=[alg],
                options=self._jwt_verify_options,
                leeway=LEEWAY,
            )
        except jwt.ExpiredSignatureError:
            expired = datetime.fromtimestamp(int(self.body.get("exp", 0)), UTC)
            raise LaunchRefused(
                f"The launch expired at {expired:%Y-%m-%d %H:%M:%S} UTC, before it reached the tool. Launch "
                "again from the LMS; if it keeps happening, check the clocks of the LMS and this server."
            ) from None
        except jwt.InvalidSignatureError:
            raise LaunchRefused(
                f"The launch's signature does not verify with the LMS's key {kid!r} from "
                f"{self.platform.key_set_url}: it was altered or signed with another key. Nothing was "
                "created; launch again from the LMS, and check the key set URL registered for it."
            ) from None
        except jwt.InvalidTokenError as exc:
            raise LaunchRefused(
                f"The launch's id_token is not valid ({exc}). Launch again from the LMS."
            ) from None
        return self

    def validate_deployment(self) -> _Launch:
        deployment_id = str(self.body.get(CLAIM + "deployment_id") or "")
        known = db.session.scalar(
            select(LtiDeployment.id).where(
                LtiDeployment.platform_id == self.platform.id, LtiDeployment.deployment_id == deployment_id
            )
        )
        if known is None:
            raise LaunchRefused(
                f"The deployment {deployment_id!r} of the LMS {self.platform.issuer!r} is not registered "
                f"with this tool. Add it to the platform's deployments. {REGISTER_HINT}",
                403,
            )
        return self

    def validate_message(self) -> _Launch:
        body = self.body
        version = body.get(CLAIM + "version")
        if version != "1.3.0":
            raise LaunchRefused(f"The launch is LTI version {version!r}; this tool speaks LTI 1.3.0.")
        kind = body.get(CLAIM + "message_type")
        if kind not in MESSAGE_TYPES:
            raise LaunchRefused(
                f"The launch is a {kind!r} message; this tool accepts resource link launches and "
                "deep linking (LtiResourceLinkRequest, LtiDeepLinkingRequest)."
            )
        try:
            super().validate_message()
        except LtiException as exc:
            raise LaunchRefused(f"The launch message is incomplete: {exc}.") from None
        return self

    def validate_nonce(self) -> _Launch:
        nonce = str(self.body.get("nonce") or "")
        if not nonce:
            raise LaunchRefused("The launch carries no nonce; the LMS must echo the one from the login.")
        if len(nonce) > 255:  # stored whole, so the single-use check compares what was sent
            raise LaunchRefused("The launch's nonce is longer than 255 characters; LTI nonces are short.")
        used = db.session.scalar(select(LtiUsedNonce.id).where(LtiUsedNonce.nonce == nonce))
        if used is not None:
            raise LaunchRefused(
                "This launch was already used (its nonce was seen before): launches are single-use. "
                "Open the tool again from the LMS.",
                403,
            )
        expires = datetime.fromtimestamp(int(self.body["exp"]), UTC).replace(tzinfo=None)
        db.session.add(
            LtiUsedNonce(nonce=nonce, platform_id=self.platform.id, expires_at=expires + NONCE_KEPT)
        )
        return self

    def validate_state(self) -> _Launch:
        state = self.values.get("state", "")
        row = db.session.scalar(select(LtiLoginState).where(LtiLoginState.state == state).with_for_update())
        if row is None or row.platform_id != self.platform.id or row.expires_at < utcnow():
            raise LaunchRefused(
                "The launch's login state is unknown, expired or already used (a launch must follow its "
                f"login within {STATE_LIFETIME.seconds // 60} minutes, once). Open the tool again from the LMS.",
                403,
            )
        if not hmac.compare_digest(row.nonce, str(self.body.get("nonce"))):
            raise LaunchRefused(
                "The launch's nonce is not the one issued at its login. Open the tool again.", 403
            )
        db.session.delete(row)
        return self


def validate_launch(values: dict[str, str]) -> ValidLaunch:
    """Check a launch POST; the nonce and state it consumes are written but not committed."""
    id_token = values.get("id_token", "")
    if not id_token:
        raise LaunchRefused(
            "This request carries no id_token: an LTI launch is a form POST from the LMS. Open the tool "
            "from the course in the LMS."
        )
    try:
        header = jwt.get_unverified_header(id_token)
        body = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise LaunchRefused("The launch's id_token is not a JWT. Open the tool again from the LMS.") from None
    issuer = str(body.get("iss") or "")
    found = platforms_for(issuer)
    if not found:
        raise LaunchRefused(
            f"No LMS with issuer {issuer!r} is registered with this tool. {REGISTER_HINT}", 403
        )
    aud = body.get("aud")
    audiences: list[Any] = aud if isinstance(aud, list) else [aud]
    platform = next((p for p in found if p.client_id in audiences), None)
    if platform is None:
        known = ", ".join(sorted(p.client_id for p in found))
        raise LaunchRefused(
            f"The launch is addressed to {', '.join(map(str, audiences))} (aud), but the LMS {issuer!r} is "
            f"registered here with client id {known}. Check the client id registered for the LMS.",
            403,
        )
    _enabled(platform)
    # The security framework: with several audiences azp is required; whenever present it must be us.
    if (len(audiences) > 1 or "azp" in body) and body.get("azp") != platform.client_id:
        raise LaunchRefused(
            f"The launch's authorized party (azp) {body.get('azp')!r} is not this tool's client id "
            f"{platform.client_id!r}.",
            403,
        )
    if key_set_is_stale(platform, header.get("kid")):
        try:
            fetch_key_set(platform)
        except PlatformError as exc:
            raise LaunchRefused(str(exc), 502) from None
    launch = _Launch(platform, values).validate()
    claims = dict(launch.get_launch_data())
    return ValidLaunch(platform, str(claims[CLAIM + "deployment_id"]), claims)


def purge_expired() -> dict[str, int]:
    """Delete login states and used nonces past their expiry (the maintenance sweep); commits."""
    now = utcnow()
    states = db.session.execute(delete(LtiLoginState).where(LtiLoginState.expires_at < now))
    nonces = db.session.execute(delete(LtiUsedNonce).where(LtiUsedNonce.expires_at < now))
    db.session.commit()
    return {"states": getattr(states, "rowcount", 0) or 0, "nonces": getattr(nonces, "rowcount", 0) or 0}
