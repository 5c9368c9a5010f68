"""Whether the broker lost its messages since the reconciler last looked (a Redis restart or flush).

Redis without persistence comes back from a restart empty: every "queued" submission's message is
gone at once, and waiting ``REQUEUE_AFTER`` for each would leave them all stuck for minutes. The
reconciler keeps a marker key in the broker; a broker that no longer has it has lost everything
that was in it, so every queued row is published again at once (a row whose message did survive
gets a second one, which the conditional claim ignores).
"""

from __future__ import annotations

from typing import Any

from flask import current_app

MARKER = "grader:reconciler-marker"


def _client() -> Any | None:
    url: str = current_app.extensions["grader.config"].broker_url
    if not url.startswith(("redis://", "rediss://")):
        return None  # the embedded broker keeps its messages in a database file
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def lost_messages() -> bool:
    """True when the broker is up and has lost its data since ``mark_seen`` (or never had it)."""
    client = _client()
    if client is None:
        return False
    try:
        return not client.exists(MARKER)
    except Exception:  # noqa: BLE001 - the broker is down: nothing can be published now anyway
        return False
    finally:
        client.close()


def mark_seen() -> None:
    """Leave the marker once everything queued is in the broker again."""
    client = _client()
    if client is None:
        return
    try:
        client.set(MARKER, "1")
    except Exception:  # noqa: BLE001 - not marked: the next reconcile publishes the queued rows again
        current_app.logger.warning("could not mark the broker as seen by the reconciler")
    finally:
        client.close()
