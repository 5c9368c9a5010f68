"""How many live status streams may be open: each holds a server thread, or a greenlet, until its cap.

Two caps. Per user, across every web process: a sorted set in Redis per user, one member per open
stream scored by when it expires (so a process that dies frees its streams at the stream's time
cap), checked and added in one Lua script; without Redis, counted in this process. Per process,
because a process's threads are what streams exhaust: a counter here, a few under threads and
thousands under gevent workers (where a stream costs memory and a socket, not a thread). A stream refused is answered
204 No Content, which tells EventSource to stop reconnecting; the status page then polls the JSON
snapshot, which holds no thread.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from flask import current_app

from grader.submissions import notify

# KEYS[1]: the user's set; ARGV: now, expiry of this stream, its token, the cap.
TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(ARGV[2] - ARGV[1]) + 1)
return 1
"""
SLACK_SECONDS = 30.0  # a stream ends at its cap; a member outlives it this long at most

_lock = threading.Lock()


class Counts:
    """This process's open streams, in all and per user (the latter only without Redis)."""

    def __init__(self) -> None:
        self.total = 0
        self.per_user: dict[int, int] = {}


def _counts() -> Counts:
    counts: Counts = current_app.extensions.setdefault("grader.stream_slots", Counts())
    return counts


class Slot:
    """One open stream's place; ``release`` frees it (once, whatever happens to the stream)."""

    def __init__(
        self, counts: Counts, user_id: int, token: str | None = None, key: str = "", client: Any = None
    ) -> None:
        # Everything release needs is kept here: the server closes a stream outside any app context.
        self.counts, self.user_id, self.token, self.key, self.client = counts, user_id, token, key, client
        self.released = False

    def release(self) -> None:
        with _lock:
            if self.released:
                return
            self.released = True
            self.counts.total -= 1
            if self.token is None:
                self.counts.per_user[self.user_id] -= 1
        if self.token is not None:
            try:
                self.client.zrem(self.key, self.token)
            except Exception:  # noqa: BLE001 - Redis away: the member expires with the stream's cap
                pass


def cooperative() -> bool:
    """Whether this process runs under gevent (gunicorn's gevent workers patch threads and sockets)."""
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey is not None and monkey.is_module_patched("socket"))


class _Refused(Exception):
    pass


def acquire(user_id: int, lasts: float) -> Slot | None:
    """A place for a stream of at most ``lasts`` seconds, or None when a cap is reached."""
    config = current_app.extensions["grader.config"]
    counts = _counts()
    cap = config.streams_per_gevent_process if cooperative() else config.streams_per_process
    with _lock:
        if counts.total >= cap:
            return None
        counts.total += 1
    client = notify.redis_client()
    key = f"{config.rate_limit_prefix}:streams:user:{user_id}"
    try:
        if client is not None:
            token = uuid.uuid4().hex
            now = time.time()
            expires = now + lasts + SLACK_SECONDS
            if not client.eval(TAKE, 1, key, now, expires, token, config.streams_per_user):
                raise _Refused
            return Slot(counts, user_id, token, key, client)
        with _lock:
            if counts.per_user.get(user_id, 0) >= config.streams_per_user:
                raise _Refused
            counts.per_user[user_id] = counts.per_user.get(user_id, 0) + 1
    except _Refused:
        with _lock:
            counts.total -= 1
        return None
    except Exception:  # noqa: BLE001 - Redis away: counted here, and the per-process cap still holds
        with _lock:
            counts.per_user[user_id] = counts.per_user.get(user_id, 0) + 1
    return Slot(counts, user_id)


class HeldStream:
    """A response body that frees its slot when the server closes it (ended, cut off or never read)."""

    def __init__(self, body: Iterator[str], slot: Slot) -> None:
        self.body, self.slot = body, slot

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self.body)

    def __del__(self) -> None:
        self.slot.release()  # a body dropped without close() (only ever seen in tests) frees its place

    def close(self) -> None:
        try:
            close: Any = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.slot.release()
