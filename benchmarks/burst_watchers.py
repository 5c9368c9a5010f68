"""The burst's browsers: each student keeps the status page's event stream open until graded, as
EventSource does, and a few others keep opening pages (benchmarks/deadline_burst.py).

A watcher reads the stream until an event says the state is final. When the server ends a stream
at its time cap (``event: timeout``) it reconnects after the advertised retry, as EventSource does;
a 204 means "no stream for you": it then polls ``status.json`` every two seconds, as the page's
script does (a fallback, counted). A stream that breaks without either (a reset, an error status,
an end with no final state) is a drop: the figure that must stay at zero.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field

RETRY_SECONDS = 2.0
POLL_SECONDS = 2.0


@dataclass
class Watch:
    submission_id: int
    streams: int = 0  # connections opened
    reconnects: int = 0  # after the server's time cap
    fell_back: bool = False  # answered 204: polled status.json instead
    polls: int = 0
    drops: list[str] = field(default_factory=list)
    final_at: float | None = None  # time.time() when the final state reached this watcher
    final_state: str | None = None


def _poll(port: int, watch: Watch, cookie: str, until: float) -> None:
    while time.monotonic() < until:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", f"/submissions/{watch.submission_id}/status.json",
                               headers={"Cookie": cookie, "Accept": "application/json"})  # fmt: skip
            response = connection.getresponse()
            payload = response.read()
            watch.polls += 1
            if response.status == 200:
                status = json.loads(payload)
                if status.get("final"):
                    watch.final_at, watch.final_state = time.time(), status["state"]
                    return
        except (OSError, http.client.HTTPException) as exc:
            watch.drops.append(f"poll: {exc!r}")
        finally:
            connection.close()
        time.sleep(POLL_SECONDS)


def _stream_once(port: int, watch: Watch, cookie: str) -> str:
    """One EventSource connection: "final", "timeout" (reconnect), "refused" (204) or a drop's reason."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("GET", f"/submissions/{watch.submission_id}/events",
                           headers={"Cookie": cookie, "Accept": "text/event-stream"})  # fmt: skip
        response = connection.getresponse()
        watch.streams += 1
        if response.status == 204:
            return "refused"
        if response.status != 200:
            return f"status {response.status}"
        event = ""
        while True:
            line = response.readline()
            if not line:
                return "ended without a final state"
            text = line.decode(errors="replace").rstrip("\n")
            if text.startswith("event: "):
                event = text[7:]
                if event == "timeout":
                    return "timeout"
            elif text.startswith("data: ") and event == "":
                status = json.loads(text[6:])
                if status.get("final"):
                    watch.final_at, watch.final_state = time.time(), status["state"]
                    return "final"
            elif text == "":
                event = ""
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return repr(exc)
    finally:
        connection.close()


def watch(port: int, submission_id: int, cookie: str, seconds: float) -> Watch:
    """Follow one submission for at most ``seconds``, the way the status page does."""
    record = Watch(submission_id)
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        outcome = _stream_once(port, record, cookie)
        if outcome == "final":
            return record
        if outcome == "refused":
            record.fell_back = True
            _poll(port, record, cookie, until)
            return record
        if outcome == "timeout":
            record.reconnects += 1
        else:
            record.drops.append(outcome)
        time.sleep(RETRY_SECONDS)
    return record


class Watchers:
    """One thread per student's open status page, started as each upload is answered."""

    def __init__(self, port: int, seconds: float) -> None:
        self.port, self.seconds = port, seconds
        self.records: list[Watch] = []
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()

    def open(self, submission_id: int, cookie: str) -> None:
        def follow() -> None:
            record = watch(self.port, submission_id, cookie, self.seconds)
            with self.lock:
                self.records.append(record)

        thread = threading.Thread(target=follow, daemon=True)
        thread.start()
        with self.lock:
            self.threads.append(thread)

    def join(self) -> list[Watch]:
        for thread in list(self.threads):
            thread.join(timeout=self.seconds + 60)
        return self.records


class PageViews:
    """Students opening pages during the burst: each request timed (``paths`` taken in turn)."""

    def __init__(self, port: int, paths: list[tuple[str, str]], per_second: float) -> None:
        self.port, self.paths, self.gap = port, paths, 1.0 / per_second
        self.timings: list[float] = []
        self.errors: list[str] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=60)

    def _run(self) -> None:
        turn = 0
        while not self.stopping.is_set():
            path, cookie = self.paths[turn % len(self.paths)]
            turn += 1
            started = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                connection.request("GET", path, headers={"Cookie": cookie, "Accept": "text/html"})
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    self.errors.append(f"{path}: {response.status}")
            except (OSError, http.client.HTTPException) as exc:
                self.errors.append(f"{path}: {exc!r}")
            finally:
                connection.close()
            self.timings.append((time.perf_counter() - started) * 1000)
            self.stopping.wait(max(0.0, self.gap - (time.perf_counter() - started)))
