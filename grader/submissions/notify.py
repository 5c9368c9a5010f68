"""Progress notifications over Redis pub/sub: a running attempt says "something changed".

The database holds the progress; a notification only wakes the status pages
that follow the submission (``grader.web.live_hub``), so they read it at once
instead of on their next poll. Without Redis (the embedded default) or when it is down, nothing is
published and the pages poll: a lost notification costs a second, never data.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

CHANNEL = "grader:submission:{}"
QUEUE_CHANNEL = "grader:queue:{}"  # a queue moved: a slot claimed from it, or a run of it ended


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


def notify_queue(queue: str) -> None:
    """Tell the pages of everything waiting in ``queue`` that their place in it moved (after the commit)."""
    client = redis_client()
    if client is None:
        return
    try:
        client.publish(QUEUE_CHANNEL.format(queue), b"moved")
    except Exception:  # noqa: BLE001 - the pages' next safety-net read shows the new place
        current_app.logger.debug("queue notification for %s not sent", queue)
