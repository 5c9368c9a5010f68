"""Failed logins, counted per account and per client address: guessing passwords stops quickly.

The counting is the ``limits`` library's moving window (the core of Flask-Limiter), stored in
the Redis the service already has (in this process's memory on the embedded default). Each app
gets a limiter of its own, bound to its own Redis, so that several apps in one process (tests)
never share counters. Only failures count: a user who logs in often is never locked out, and a
locked account refuses even the right password until its window passes. With Redis away, logins
go on unlimited rather than failing.
"""

from __future__ import annotations

from flask import Flask, current_app
from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


def init_app(app: Flask) -> None:
    url = app.extensions["grader.config"].broker_url
    uri = url if url.startswith(("redis://", "rediss://")) else "memory://"
    app.extensions["grader.login_limits"] = MovingWindowRateLimiter(storage_from_string(uri))


def _checks(email: str, address: str) -> list[tuple[str, str, str]]:
    config = current_app.extensions["grader.config"]
    return [
        (config.login_limit_account, "login-account", email.strip().lower()[:254]),
        (config.login_limit_address, "login-address", address),
    ]


def locked(email: str, address: str) -> bool:
    """Whether this account, or this address, has used up its failed attempts for now."""
    limiter: MovingWindowRateLimiter = current_app.extensions["grader.login_limits"]
    prefix = current_app.extensions["grader.config"].rate_limit_prefix
    try:
        return any(
            not limiter.test(item, prefix, kind, key)
            for limit, kind, key in _checks(email, address)
            for item in parse_many(limit)
        )
    except Exception:  # noqa: BLE001 - Redis away: logins go on rather than fail
        current_app.logger.warning("login limits unavailable: logins are not limited")
        return False


def failed(email: str, address: str) -> None:
    limiter: MovingWindowRateLimiter = current_app.extensions["grader.login_limits"]
    prefix = current_app.extensions["grader.config"].rate_limit_prefix
    try:
        for limit, kind, key in _checks(email, address):
            for item in parse_many(limit):
                limiter.hit(item, prefix, kind, key)
    except Exception:  # noqa: BLE001 - Redis away: nothing is counted
        pass
