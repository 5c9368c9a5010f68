"""Progress notifications over Redis pub/sub: a running attempt says "something changed".

The database holds the progress; a notification only wakes the status pages
that follow the submission, so they read it at once instead of on their next
poll. Without Redis (the embedded default) or when it is down, nothing is
published and the pages poll: a lost notification costs a second, never data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from flask import current_app

CHANNEL = "grader:submission:{}"


def redis_client() -> Any | None:
    """The app's Redis client (made once), or None on the embedded default without Redis."""
    extensions = current_app.extensions
    if "grader.redis" not in extensions:
        url = extensions["grader.config"].broker_url
        client = None
        if url.startswith(("redis://", "rediss://")):
            import redis

            client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        extensions["grader.redis"] = client
    return extensions["grader.redis"]


def notify(submission_id: int) -> None:
    """Tell the submission's followers that its state or progress changed (after the commit)."""
    client = redis_client()
    if client is None:
        return
    try:
        client.publish(CHANNEL.format(submission_id), b"changed")
    except Exception:  # noqa: BLE001 - followers fall back to polling; the database has the change
        current_app.logger.debug("progress notification for %s not sent", submission_id)


class Follower:
    """Waits for a submission's notifications; ``wait`` returns True when one arrived."""

    def __init__(self, pubsub: Any | None) -> None:
        self.pubsub = pubsub

    @property
    def live(self) -> bool:
        return self.pubsub is not None

    def wait(self, timeout: float) -> bool:
        if self.pubsub is None:
            return False
        try:
            message = self.pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
        except Exception:  # noqa: BLE001 - Redis went away: poll from now on
            self.pubsub = None
            return False
        if message is not None:
            while self.pubsub.get_message(ignore_subscribe_messages=True, timeout=0) is not None:
                pass  # several changes since the last read: one read covers them all
        return message is not None


@contextlib.contextmanager
def follow(submission_id: int) -> Iterator[Follower]:
    client = redis_client()
    pubsub = None
    if client is not None:
        try:
            pubsub = client.pubsub()
            pubsub.subscribe(CHANNEL.format(submission_id))
        except Exception:  # noqa: BLE001 - no Redis now: the page polls
            pubsub = None
    try:
        yield Follower(pubsub)
    finally:
        if pubsub is not None:
            with contextlib.suppress(Exception):
                pubsub.close()
