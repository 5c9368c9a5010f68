"""The status page's live feed: Server-Sent Events, with a JSON snapshot for browsers that poll.

The stream reads the submission whenever the worker's notification arrives over
Redis pub/sub (``submissions.notify``), and at least every few seconds in case one
was lost, or about once a second without Redis; it sends an event whenever the
state or progress changed. It ends when the state is final, and after a hard time
cap whatever happens (the browser's EventSource then reconnects by itself), so a
stuck submission or a vanished client never holds a server thread for long.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import current_app, url_for

from grader.submissions import notify

from . import queries

POLL_SECONDS = 1.0
FOLLOW_SECONDS = 5.0  # with notifications, the safety-net read in case one was lost
MAX_SECONDS = 300.0  # the hard cap of one stream
KEEPALIVE_SECONDS = 15.0  # a comment line, so proxies keep the connection and dead clients are noticed
RETRY_MS = 2000  # how long EventSource waits before reconnecting


def status_payload(submission_id: int) -> dict[str, Any] | None:
    """What the status page shows: state, progress snapshot and where the result will be."""
    status = queries.status_of(submission_id)
    if status is not None:
        status["result_url"] = url_for("web.result", submission_id=submission_id)
    return status


def _event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'), allow_nan=False)}\n\n"


def max_seconds() -> float:
    return float(current_app.config.get("GRADER_EVENTS_MAX_SECONDS", MAX_SECONDS))


def stream(
    submission_id: int,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] | None = None,
) -> Iterator[str]:
    """The event stream's text: the current status at once, then each change, until final or capped."""
    config = current_app.config
    poll = float(config.get("GRADER_EVENTS_POLL_SECONDS", POLL_SECONDS))
    cap = max_seconds()
    start = clock()
    yield f"retry: {RETRY_MS}\n\n"
    with notify.follow(submission_id) as follower:
        yield from _changes(submission_id, follower, clock, sleep, poll, cap, start)


def _changes(
    submission_id: int,
    follower: notify.Follower,
    clock: Callable[[], float],
    sleep: Callable[[float], None] | None,
    poll: float,
    cap: float,
    start: float,
) -> Iterator[str]:
    last_sent = start
    previous: tuple[str, str] | None = None
    try:
        while True:
            payload = status_payload(submission_id)
            queries.end_read()
            if payload is None:
                yield "event: gone\ndata: {}\n\n"
                return
            key = (payload["state"], json.dumps(payload["progress"], sort_keys=True))
            if key != previous:
                previous, last_sent = key, clock()
                yield _event(payload)
            elif clock() - last_sent >= KEEPALIVE_SECONDS:
                last_sent = clock()
                yield ": keepalive\n\n"
            if payload["final"]:
                return
            wait = min(FOLLOW_SECONDS, KEEPALIVE_SECONDS) if follower.live and sleep is None else poll
            if clock() - start + wait > cap:
                yield "event: timeout\ndata: {}\n\n"
                return
            if sleep is not None or not follower.live:
                (sleep or time.sleep)(poll)
            else:
                follower.wait(wait)
    finally:
        queries.end_read()
