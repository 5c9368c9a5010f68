"""The status page's live feed: Server-Sent Events, with a JSON snapshot for browsers that poll.

The stream reads the submission whenever the worker's notification arrives over
Redis pub/sub (``submissions.notify``, delivered through the process's one shared
subscription, ``live_hub``), when its queue moves (throttled: its place and estimate
change with every claim), and every ``FOLLOW_SECONDS`` in case a notification was
lost; without Redis it polls about once a second. It sends an event whenever the
state, progress or place in the queue changed. It ends when the state is final, and
after a hard time cap whatever happens (the browser's EventSource then reconnects by
itself), so a stuck submission or a vanished client never holds a server for long.
Under gevent workers (``grader serve``, docker-compose.yml) an open stream costs a
greenlet and a socket; under threads it holds a thread, hence the caps in
``stream_slots``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Response, current_app, stream_with_context, url_for

from grader.submissions import notify
from grader.submissions.models import State
from grader.workers import queue_estimate

from . import queries, stream_slots
from .live_hub import Hub, Watch

POLL_SECONDS = 1.0
FOLLOW_SECONDS = 15.0  # with notifications, the safety-net read in case one was lost
# For this long after a stream opens, it reads again as soon as the queue's snapshot may be read for a
# newcomer while its submission has no place yet (a time, not a count: its queue's moves wake it too,
# and reads they cause before the snapshot may be read again would spend a count for nothing).
PLACING_SECONDS = 5.0
MAX_SECONDS = 300.0  # the hard cap of one stream under threads, where it holds one
GEVENT_MAX_SECONDS = 1800.0  # under gevent workers: each reconnection costs a request, an idle stream little
KEEPALIVE_SECONDS = 15.0  # a comment line, so proxies keep the connection and dead clients are noticed
RETRY_MS = 2000  # how long EventSource waits before reconnecting
HUB_CLIENT_NAME = "grader-live-hub"  # how the shared subscription shows in Redis's CLIENT LIST


def status_payload(submission_id: int) -> dict[str, Any] | None:
    """What the status page shows: state, progress snapshot and where the result will be."""
    status = queries.status_of(submission_id)
    if status is not None:
        status["result_url"] = url_for("web.result", submission_id=submission_id)
    return status


def _event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'), allow_nan=False)}\n\n"


def max_seconds() -> float:
    default = GEVENT_MAX_SECONDS if stream_slots.cooperative() else MAX_SECONDS
    return float(current_app.config.get("GRADER_EVENTS_MAX_SECONDS", default))


def held_response(user_id: int, body: Callable[[], Iterator[str]]) -> Response:
    """An event stream in one of the user's stream places, or 204 when the caps are reached
    (EventSource then stops reconnecting, and the page polls its JSON instead)."""
    slot = stream_slots.acquire(user_id, max_seconds())
    if slot is None:
        return Response(status=204, headers={"Cache-Control": "no-store"})
    response = Response(
        stream_slots.HeldStream(stream_with_context(body()), slot), mimetype="text/event-stream"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # a buffering proxy would hold the events back
    return response


def live_hub() -> Hub | None:
    """The process's shared subscription (made with the first stream), or None without Redis."""
    extensions = current_app.extensions
    if "grader.live_hub" not in extensions:
        url: str = extensions["grader.config"].broker_url
        hub = None
        if url.startswith(("redis://", "rediss://")):
            import redis

            def connect() -> Any:
                # Its own connection: a subscribed connection can do nothing else. The health check
                # notices a connection that died quietly (a restarted Redis, a dropped route).
                return redis.Redis.from_url(
                    url, client_name=f"{HUB_CLIENT_NAME}-{os.getpid()}", socket_connect_timeout=2, socket_timeout=10,
                    health_check_interval=15,
                )  # fmt: skip

            hub = Hub(connect)
        extensions.setdefault("grader.live_hub", hub)
    found: Hub | None = extensions["grader.live_hub"]
    return found


def stream(
    submission_id: int,
    queue: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] | None = None,
) -> Iterator[str]:
    """The event stream's text: the current status at once, then each change, until final or capped.

    ``queue``: the queue the submission waits in, whose moves change its place; ``sleep``: tests
    drive the stream step by step with it (it then polls and follows nothing)."""
    config = current_app.config
    poll = float(config.get("GRADER_EVENTS_POLL_SECONDS", POLL_SECONDS))
    cap = max_seconds()
    start = clock()
    yield f"retry: {RETRY_MS}\n\n"
    hub = live_hub() if sleep is None else None
    if hub is None:
        yield from _changes(submission_id, None, clock, sleep, poll, cap, start)
        return
    queues = (notify.QUEUE_CHANNEL.format(queue),) if queue else ()
    with hub.follow((notify.CHANNEL.format(submission_id),), queues) as watch:
        yield from _changes(submission_id, watch, clock, sleep, poll, cap, start, queue)


def _moved(submission_id: int, payload: dict[str, Any] | None, queue: str | None) -> dict[str, Any] | None:
    """After a move of its queue alone, a waiting submission's new place from the queue's shared
    snapshot, without reading its row (the state did not change: its own notification would say);
    None when that cannot tell (it left the waiting line), and the row is read."""
    if payload is None or queue is None or not _waiting(payload):
        return None
    place = queue_estimate.place(submission_id, State(payload["state"]), queue)
    return None if place is None else {**payload, "queue": place.as_payload()}


def _waiting(payload: dict[str, Any]) -> bool:
    return payload["state"] in (State.QUEUED.value, State.RECEIVED.value)


def _unplaced(payload: dict[str, Any]) -> bool:
    """Waiting in a queue whose snapshot does not have it yet (or no longer: out of attempts)."""
    return _waiting(payload) and payload.get("queue") is None


def _changes(
    submission_id: int,
    watch: Watch | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None] | None,
    poll: float,
    cap: float,
    start: float,
    queue: str | None = None,
) -> Iterator[str]:
    last_sent = start
    previous: tuple[str, str] | None = None
    payload: dict[str, Any] | None = None
    queue_moved = False
    try:
        while True:
            payload = (queue_moved and _moved(submission_id, payload, queue)) or status_payload(submission_id)
            queries.end_read()
            if payload is None:
                yield "event: gone\ndata: {}\n\n"
                return
            # The estimates count down with the clock: a new event only when what the page shows changed.
            place = payload.get("queue") or {}
            shown = [payload["progress"], place.get("position"), place.get("summary")]
            key = (payload["state"], json.dumps(shown, sort_keys=True))
            if key != previous:
                previous, last_sent = key, clock()
                yield _event(payload)
            elif clock() - last_sent >= KEEPALIVE_SECONDS:
                last_sent = clock()
                yield ": keepalive\n\n"
            if payload["final"]:
                return
            live = watch is not None and watch.live
            wait = min(FOLLOW_SECONDS, KEEPALIVE_SECONDS) if live else poll
            if _unplaced(payload) and clock() - start < PLACING_SECONDS:
                # Uploaded since the queue's snapshot: its place comes with the snapshot's next read.
                wait = min(wait, queue_estimate.MISSING_REFRESH_SECONDS)
            if clock() - start + wait > cap:
                yield "event: timeout\ndata: {}\n\n"
                return
            if watch is not None and live:
                queue_moved = watch.wait(wait) and watch.woke_for == "queue"
            else:
                (sleep or time.sleep)(poll)
    finally:
        queries.end_read()
