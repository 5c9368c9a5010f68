"""Fault: Redis restarted, without persistence, in the middle of a burst of uploads.

Everything in the broker is lost: the messages of the queued submissions, and, while it is down,
the uploads' own publishes fail (the uploads are still accepted: the committed row is the truth).
The reconciler finds the broker without its marker, publishes every queued submission again at
once (not after the five minutes a single lost message waits) and the received ones after their
grace; the worker reconnects by itself. Every accepted submission ends scored exactly once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from support.fault_stack import make_stack
from support.private_servers import Servers

from grader.submissions import services

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def test_redis_restarted_mid_burst_loses_its_messages_and_the_reconciler_recovers_them(
    servers: Servers, tmp_path: Path
) -> None:
    with make_stack(servers, tmp_path) as stack:
        workers = [stack.start_worker(), stack.start_worker()]
        stack.wait_ready(*workers)
        stack.query(services.reconcile)  # what beat did before the burst: the broker has the marker
        ids: list[int] = []
        down_at = restarted_at = 0.0
        # Two solo workers hold at most two running and two prefetched: eight uploads before the stop
        # leave several whose only message is in the Redis about to go.
        for number in range(13):
            if number == 8:
                servers.redis.stop()  # the queued submissions' messages go with it
                down_at = time.monotonic()
            if number == 11:
                servers.redis.start()  # empty: no persistence
                restarted_at = time.monotonic()
            ids.append(stack.accepted())
            time.sleep(0.1)
        print(f"Redis down for {restarted_at - down_at:.1f} s during the burst")
        states = stack.states(ids)
        # Really lost: submissions queued before the restart whose messages the new Redis lacks
        # (it holds at most those published after it came back), and uploads made while it was down.
        waiting = [i for i in ids[:8] if states[i] == "queued"]
        in_broker = redis.Redis.from_url(stack.settings["GRADER_REDIS_URL"]).llen("cpu")
        assert len(waiting) >= 2 and in_broker <= len(ids) - 11, (states, in_broker)
        assert all(states[i] == "received" for i in ids[8:11]), states
        started = time.monotonic()
        with stack.reconciling():
            stack.wait_final(ids, timeout=180)
        print(f"{len(ids)} submissions final {time.monotonic() - started:.1f} s after the burst")
        stack.check_graded_exactly_once(ids)
        assert all(w.alive for w in workers)  # they reconnected to the new Redis on their own
