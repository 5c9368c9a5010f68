"""One Redis subscription per web process, shared by every open live stream.

Each stream used to open a Redis connection of its own; at a deadline that is hundreds of
connections, each with a thread blocked on it. Here one reader (a thread, or a greenlet where
gevent has patched threading, as under ``grader serve``'s gevent workers) subscribes to every
submission's and every queue's channel by pattern and wakes the streams that follow the channel a
message arrived on. A watcher costs an event and its own socket to the browser, nothing more.

A queue's channel says "a slot claimed from this queue, or a run of it ended": everything waiting in
it moved one place. That happens every run, so a stream that follows a queue is woken for it at most
once per ``QUEUE_REFRESH_SECONDS`` (its own submission's changes always wake it at once), and
reads its new place from the queue's shared snapshot, not its row (``events._moved``): three
hundred watchers then cost a few cheap wakes a second, not three hundred reads per claim.

When the subscription fails, the hub wakes every stream (each reads once, then polls) and connects
again with a growing pause; streams see ``live`` false meanwhile. The reader stops once no stream
has followed anything for ``IDLE_SECONDS`` and starts again with the next stream.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

PATTERNS = ("grader:submission:*", "grader:queue:*")
QUEUE_REFRESH_SECONDS = 10.0  # a place and an estimate in minutes: fresh enough every 10 s
IDLE_SECONDS = 30.0
READ_SECONDS = 1.0  # the reader's longest wait for a message: how soon it notices a stop or idleness
BACKOFF_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0)


class Watch:
    """What one stream follows, and what woke it: its own channels (at once) or a queue's (throttled)."""

    def __init__(self, channels: tuple[str, ...], queue_channels: tuple[str, ...], hub: Hub) -> None:
        self.channels, self.queue_channels, self.hub = channels, queue_channels, hub
        self.event = threading.Event()
        self.changed = False  # its own submission (or the hub's state) changed
        self.queue_moved = False
        self.queue_due: float | None = None  # when a pending queue move is to be read
        self.queue_read = 0.0  # when the last queue move was read
        self.woke_for = ""  # what the last wait returned True for: "change" or "queue"

    @property
    def live(self) -> bool:
        return self.hub.live

    def wake(self, queue: bool) -> None:
        if queue:
            if self.queue_moved or self.queue_due is not None:
                # A move is already pending: the stream reads the place when it is due, and that
                # read sees this move too. Waking it to learn nothing new costs three hundred
                # watchers a switch each on every claim of a deadline.
                return
            self.queue_moved = True
        else:
            self.changed = True
        self.event.set()

    def wait(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> bool:
        """True when the stream should read again: its submission changed, or its queue moved and
        the last such read is ``QUEUE_REFRESH_SECONDS`` old; False when ``timeout`` passed."""
        end = clock() + timeout
        while True:
            if self.event.is_set():
                self.event.clear()
                if self.changed:
                    self.changed = self.queue_moved = False
                    self.queue_due, self.queue_read = None, clock()  # the read to come shows the queue too
                    self.woke_for = "change"
                    return True
                if self.queue_moved:
                    self.queue_moved = False
                    if self.queue_due is None:
                        self.queue_due = max(clock(), self.queue_read + QUEUE_REFRESH_SECONDS)
            now = clock()
            if self.queue_due is not None and now >= self.queue_due:
                self.queue_due, self.queue_read = None, now
                self.woke_for = "queue"
                return True
            limit = end if self.queue_due is None else min(end, self.queue_due)
            if now >= limit:
                return False
            self.event.wait(limit - now)


class Hub:
    """The process's shared subscription; ``follow`` registers a stream's channels while it is open."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect  # a new Redis client, for the subscription's own connection
        self._lock = threading.Lock()
        self._watches: dict[str, set[Watch]] = {}
        self._reader: threading.Thread | None = None
        self._idle_since: float | None = None
        self._stopping = False
        self._stopped = threading.Event()  # wakes a reader pausing between attempts to connect
        self.live = False

    @contextmanager
    def follow(self, channels: tuple[str, ...], queue_channels: tuple[str, ...] = ()) -> Iterator[Watch]:
        watch = Watch(channels, queue_channels, self)
        with self._lock:
            for channel in (*channels, *queue_channels):
                self._watches.setdefault(channel, set()).add(watch)
            self._idle_since = None
            if self._reader is None or not self._reader.is_alive():
                self._stopping = False
                self._stopped.clear()
                self._reader = threading.Thread(target=self._read, name="grader-live-hub", daemon=True)
                self._reader.start()
        try:
            yield watch
        finally:
            with self._lock:
                for channel in (*channels, *queue_channels):
                    followers = self._watches.get(channel)
                    if followers is not None:
                        followers.discard(watch)
                        if not followers:
                            del self._watches[channel]
                if not self._watches:
                    self._idle_since = time.monotonic()

    def watching(self) -> int:
        with self._lock:
            return len({watch for watches in self._watches.values() for watch in watches})

    def stop(self) -> None:
        """Stop the reader (tests, and an app being torn down); a later ``follow`` starts it again."""
        self._stopping = True
        self._stopped.set()
        reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(timeout=READ_SECONDS * 3)

    def _wake(self, channel: str) -> None:
        with self._lock:
            watches = list(self._watches.get(channel, ()))
        queue = channel.startswith("grader:queue:")
        for watch in watches:
            watch.wake(queue)

    def _wake_all(self) -> None:
        with self._lock:
            watches = {watch for followers in self._watches.values() for watch in followers}
        for watch in watches:
            watch.wake(False)

    def _idle(self) -> bool:
        with self._lock:
            return self._idle_since is not None and time.monotonic() - self._idle_since > IDLE_SECONDS

    def _read(self) -> None:
        while True:
            self._subscribe_until_idle()
            with self._lock:  # under the lock ``follow`` takes: a stream arriving now finds no reader
                if self._stopping or not self._watches:
                    self._reader = None
                    return
                self._idle_since = None  # a stream came while the reader was leaving: go on

    def _subscribe_until_idle(self) -> None:
        failures = 0
        while not self._stopping and not self._idle():
            pubsub = None
            try:
                pubsub = self._connect().pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(*PATTERNS)
                # Nothing to catch up on: while not subscribed the streams polled the database.
                self.live, failures = True, 0
                while not self._stopping and not self._idle():
                    message = pubsub.get_message(timeout=READ_SECONDS)
                    if message is not None and message.get("type") == "pmessage":
                        channel = message["channel"]
                        self._wake(channel.decode() if isinstance(channel, bytes) else str(channel))
            except Exception as exc:  # noqa: BLE001 - Redis away: the streams poll until it is back
                if self.live or failures == 0:
                    log.warning("live updates: the Redis subscription failed (%s); pages poll meanwhile", exc)
                self.live = False
                self._wake_all()
                self._stopped.wait(BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)])
                failures += 1
            finally:
                self.live = False
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:  # noqa: BLE001 - closing a broken connection
                        pass
