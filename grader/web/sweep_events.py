"""A sweep page's live feed: an event whenever one of its runs changes state.

The page used to fetch its whole comparison (every point, every run, new curves) every three
seconds while runs were going, each poll a full comparison query. Now it follows its runs through
the process's shared subscription (``live_hub``) and fetches the comparison only when an event
says a run moved on. A run's own notifications come with every progress step, so the stream reads
the runs' states (one small grouped query) at most every ``MIN_GAP_SECONDS`` and sends an event
only when they changed. Without Redis it reads every ``POLL_SECONDS``; it ends when every run is
final, and at the same time cap as the status stream (EventSource then reconnects by itself).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext

from sqlalchemy import func, select

from grader.extensions import db
from grader.submissions import notify
from grader.submissions.models import State, Submission

from . import queries
from .events import FOLLOW_SECONDS, KEEPALIVE_SECONDS, RETRY_MS, live_hub, max_seconds

MIN_GAP_SECONDS = 2.0
POLL_SECONDS = 3.0  # without Redis: as often as the page polled before
FINAL = (State.SCORED, State.FAILED, State.ERROR)


def run_ids(sweep_id: int) -> list[int]:
    return list(db.session.scalars(select(Submission.id).where(Submission.sweep_id == sweep_id)))


def states_of(sweep_id: int) -> dict[str, int]:
    """How many of the sweep's runs are in each state."""
    rows = db.session.execute(
        select(Submission.state, func.count())
        .where(Submission.sweep_id == sweep_id)
        .group_by(Submission.state)
    ).all()
    return {state.value: int(count) for state, count in rows}


def stream(
    sweep_id: int,
    runs: list[int],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[str]:
    """The sweep's event stream: its runs' state counts at once, then on each change, until all are final."""
    cap = max_seconds()
    start = last_sent = clock()
    yield f"retry: {RETRY_MS}\n\n"
    hub = live_hub()
    channels = tuple(notify.CHANNEL.format(run) for run in runs)
    with hub.follow(channels) if hub is not None and channels else nullcontext() as watch:
        previous: dict[str, int] | None = None
        try:
            while True:
                counts = states_of(sweep_id)
                queries.end_read()
                done = sum(counts.get(state.value, 0) for state in FINAL)
                total = sum(counts.values())
                if counts != previous:
                    previous, last_sent = counts, clock()
                    payload = {"done": done, "total": total, "states": counts}
                    yield f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"
                elif clock() - last_sent >= KEEPALIVE_SECONDS:
                    last_sent = clock()
                    yield ": keepalive\n\n"
                if done >= total:
                    return
                live = watch is not None and watch.live
                wait = min(FOLLOW_SECONDS, KEEPALIVE_SECONDS) if live else POLL_SECONDS
                if clock() - start + wait + MIN_GAP_SECONDS > cap:
                    yield "event: timeout\ndata: {}\n\n"
                    return
                if live:
                    watch.wait(wait)
                    sleep(MIN_GAP_SECONDS)  # progress steps come every second: read at most this often
                else:
                    sleep(POLL_SECONDS)
        finally:
            queries.end_read()
