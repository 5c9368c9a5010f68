"""The place in the queue in words (the status page's sentence, `grader submit`'s line), and the
per-process snapshot cache that lets hundreds of watchers of one queue share one read of it."""

from __future__ import annotations

import threading
import time

import pytest

from grader.cli_client import progress_line
from grader.workers.queue_estimate import MISSING_REFRESH_SECONDS, SnapshotCache
from grader.workers.queue_words import duration, ordinal, place_sentence


def test_ordinals_and_estimates_read_as_a_person_would_say_them():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111, 112)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st", "111th", "112th",
    ]  # fmt: skip
    assert duration(0) == duration(59) == "under a minute"
    assert [duration(s) for s in (60, 170, 479)] == ["about 1 minute", "about 3 minutes", "about 8 minutes"]
    assert (duration(3600), duration(4200), duration(7300)) == (
        "about 1 hour", "about 1 hour 10 minutes", "about 2 hours",
    )  # fmt: skip
    assert place_sentence("cpu", 12, 480, 540) == (
        "12th in the cpu queue · grading starts in about 8 minutes, results in about 9 minutes."
    )
    assert place_sentence("gpu", 1, 20, 200).startswith("Next in the gpu queue · grading starts in under")
    assert place_sentence("cpu", None, None, 150) == "Results in about 2 minutes."


def test_grader_submit_draws_the_place_in_the_queue():
    place = {"queue": "cpu", "position": 12, "ahead": 11, "starts_in_seconds": 480, "ends_in_seconds": 540}
    line = progress_line({"state": "queued", "final": False, "queue": place}, 3.0)
    assert "queued: 12th, starts in ~8 min" in line and "waiting for a worker" not in line
    soon = progress_line({"state": "queued", "queue": place | {"position": 1, "starts_in_seconds": 20}}, 1.0)
    assert "queued: 1st, starts in <1 min" in soon
    late = progress_line({"state": "received", "queue": place | {"starts_in_seconds": 4200}}, 1.0)
    assert "received: 12th, starts in ~1 h 10 min" in late
    # An older server without places: as before.
    assert "queued  waiting for a worker" in progress_line({"state": "queued", "final": False}, 1.0)


def test_watchers_of_a_stale_queue_wait_for_one_read_instead_of_each_reading():
    cache: SnapshotCache[int] = SnapshotCache(ttl=1.5)
    reads = []
    start = threading.Barrier(12)

    def read() -> int:
        reads.append(1)
        time.sleep(0.05)  # the database's time: the others arrive meanwhile
        return len(reads)

    seen: list[int] = []

    def watcher() -> None:
        start.wait()
        seen.append(cache.get("cpu", read))

    threads = [threading.Thread(target=watcher) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(reads) == 1 and seen == [1] * 12
    assert cache.get("gpu", read) == 2  # each queue its own


@pytest.mark.parametrize("missing", [False, True])
def test_a_snapshot_lives_its_time_and_one_missing_a_submission_is_read_again_soon(missing):
    now = [0.0]
    cache: SnapshotCache[int] = SnapshotCache(ttl=1.5, clock=lambda: now[0])
    reads = iter(range(1, 100))
    assert cache.get("cpu", lambda: next(reads)) == 1
    now[0] = MISSING_REFRESH_SECONDS / 2  # too soon to read again, even for a newcomer
    assert cache.get("cpu", lambda: next(reads), lambda _: missing) == 1
    now[0] = MISSING_REFRESH_SECONDS
    assert cache.get("cpu", lambda: next(reads), lambda _: missing) == (2 if missing else 1)
    now[0] += 1.5
    assert cache.get("cpu", lambda: next(reads)) == (3 if missing else 2)
