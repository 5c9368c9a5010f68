"""Warm sandboxes: started ahead, torch already imported.

``import torch`` takes about as long as training the reference solution, so a
worker slot keeps a few sandboxes that have imported it and wait for a job. A
used sandbox is destroyed and a fresh one is started in the background. With
``fork_server`` (bubblewrap as root), the pool keeps fork servers instead, each
running job after job in a sealed child of its own (``forkserver``): the import
is paid once per server, not once per run.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import selectors
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.engine.harness import protocol

from .backend import Backend, BwrapBackend, Sandbox
from .bwrap import SandboxUnavailable
from .forkserver import ForkServer, ForkUnavailable
from .limits import Limits

HELLO_SECONDS = 60.0
MAX_IDLE_SECONDS = 15 * 60.0
log = logging.getLogger(__name__)


class StaleHarness(SandboxUnavailable):
    """The sandbox's harness speaks another protocol version than this worker (an old image)."""


@dataclass
class ReadySandbox:
    proc: Sandbox
    hello: dict[str, Any] | None  # None when started cold (the conversation reads it)
    ready_at: float


def start_cold(
    limits: Limits, uid: int | None, jobs_root: Path | None, backend: Backend | None = None
) -> ReadySandbox:
    """A sandbox started now (``backend``: bubblewrap as ``uid`` when None)."""
    backend = backend if backend is not None else BwrapBackend(uid)
    jobdir = backend.new_jobdir(jobs_root)
    try:
        proc = backend.start(limits, jobdir)
    except Exception:
        shutil.rmtree(jobdir, ignore_errors=True)
        raise
    proc.started = time.monotonic()
    return ReadySandbox(proc, None, proc.started)


def wait_for_hello(proc: Sandbox, timeout: float) -> dict[str, Any]:
    """Read the harness's hello line (sent once torch is imported)."""
    buffer = b""
    end = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.metrics, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = end - time.monotonic()
            if remaining <= 0 or proc.poll() is not None:
                raise SandboxUnavailable("a warm sandbox did not start (no hello from the harness)")
            if selector.select(min(remaining, 0.5)):
                chunk = os.read(proc.metrics, 4096)
                if not chunk:
                    raise SandboxUnavailable("a warm sandbox closed its metrics channel before hello")
                buffer += chunk
    line = buffer.split(b"\n", 1)[0]
    record: dict[str, Any] = json.loads(line)
    if record.get("t") != "hello":
        raise SandboxUnavailable("a warm sandbox sent something other than hello first")
    record.pop("t")
    mismatch = protocol.version_mismatch(record)
    if mismatch is not None:
        raise StaleHarness(mismatch)
    return record


class WarmPool:
    def __init__(
        self, limits: Limits, uid: int | None, size: int = 1, jobs_root: Path | None = None,
        backend: Backend | None = None, fork_server: bool = False,
    ) -> None:  # fmt: skip
        self.limits = limits
        self.uid = uid
        self.backend = backend
        # Only bubblewrap as root: the server's sandbox and each job's seal rely on a uid and a cgroup of their
        # own. Not on a GPU slot: CUDA cannot be used in a child forked after the driver was initialised
        # (the hello asks torch.cuda.is_available()), and there is no GPU here to make it safe against.
        self.fork_server = (
            fork_server and uid is not None and limits.gpu_index is None
            and (backend is None or backend.name == "bwrap")
        )  # fmt: skip
        self._servers: queue.Queue[ForkServer] = queue.Queue()
        self.size = size
        self.jobs_root = jobs_root
        self._ready: queue.Queue[ReadySandbox] = queue.Queue()
        self._wanted = threading.Semaphore(0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, name="warm-pool", daemon=True)
        self.failures = 0
        self.broken: str | None = None  # why the pool stopped filling for good (a stale image)

    def start(self) -> WarmPool:
        for _ in range(self.size):
            self._wanted.release()
        self._thread.start()
        return self

    def _fill(self) -> None:
        while not self._stop.is_set():
            if not self._wanted.acquire(timeout=0.5):
                continue
            if self.fork_server and self._start_server():
                continue
            ready: ReadySandbox | None = None
            try:
                ready = start_cold(self.limits, self.uid, self.jobs_root, self.backend)
                ready.hello = wait_for_hello(ready.proc, HELLO_SECONDS)
                ready.ready_at = time.monotonic()
                if self._stop.is_set():
                    ready.proc.close()
                    return
                self._ready.put(ready)
            except StaleHarness as exc:  # retrying cannot help: jobs go cold and fail as the platform's
                if ready is not None:
                    ready.proc.close()
                self.broken = str(exc)
                log.error("the warm pool stopped: %s", exc)
                return
            except Exception:  # noqa: BLE001 - a failed warm start is retried; jobs fall back to cold
                if ready is not None:  # this attempt's sandbox only, never one already handed out
                    ready.proc.close()
                self._retry_later()

    def _start_server(self) -> bool:
        """Start one fork server (True), or say that this host cannot have them (False: plain ones from now)."""
        server: ForkServer | None = None
        try:
            assert self.uid is not None
            server = ForkServer.start(self.limits, self.uid, self.jobs_root)
            hello = server.wait_hello(HELLO_SECONDS)
            mismatch = protocol.version_mismatch(hello)
            if mismatch is not None:
                raise StaleHarness(mismatch)
            if self._stop.is_set():
                server.close()
                return True
            self._servers.put(server)
        except ForkUnavailable as exc:
            if server is not None:
                server.close()
            log.warning("warm sandboxes are started one per run: %s", exc)
            self.fork_server = False
            return False
        except StaleHarness as exc:
            if server is not None:
                server.close()
            self.broken = str(exc)
            log.error("the warm pool stopped: %s", exc)
            self._stop.set()
        except Exception:  # noqa: BLE001 - retried; jobs fall back to cold sandboxes meanwhile
            if server is not None:
                server.close()
            self._retry_later()
        return True

    def _server_done(self, server: ForkServer) -> None:
        """A job of ``server`` is closed: it serves the next one, or a fresh server replaces it."""
        if server.usable and not self._stop.is_set():
            self._servers.put(server)
            return
        if server.broken:
            log.warning("a fork server was replaced: %s", server.broken)
        server.close()
        self._wanted.release()

    def _retry_later(self) -> None:
        self.failures += 1
        time.sleep(min(5.0, 0.5 * self.failures))
        self._wanted.release()

    def acquire(self, wait: float = 0.0) -> ReadySandbox | None:
        """A warm sandbox if one is ready (waiting up to ``wait`` seconds), else None."""
        deadline = time.monotonic() + wait
        while self.fork_server or not self._servers.empty():
            remaining = deadline - time.monotonic()
            try:
                server = self._servers.get(timeout=remaining) if remaining > 0 else self._servers.get_nowait()
            except queue.Empty:
                return None
            if server.usable and time.monotonic() - server.idle_since <= MAX_IDLE_SECONDS:
                try:
                    return ReadySandbox(server.fork(self._server_done), dict(server.hello), time.monotonic())
                except SandboxUnavailable:
                    pass
            server.close()
            self._wanted.release()
        while True:
            remaining = deadline - time.monotonic()
            try:
                ready = self._ready.get(timeout=remaining) if remaining > 0 else self._ready.get_nowait()
            except queue.Empty:
                return None
            self._wanted.release()  # replace it in the background
            stale = time.monotonic() - ready.ready_at > MAX_IDLE_SECONDS
            if ready.proc.poll() is None and not stale:
                return ready
            ready.proc.close()

    def fork_servers(self) -> list[ForkServer]:
        """The fork servers waiting for a job (none while each is running one, or without fork servers)."""
        return list(self._servers.queue)

    def wait_ready(self, timeout: float) -> bool:
        """Block until a warm sandbox is ready (used by benchmarks and tests)."""
        end = time.monotonic() + timeout
        while self._ready.qsize() + self._servers.qsize() < 1:
            if time.monotonic() > end:
                return False
            time.sleep(0.05)
        return True

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=HELLO_SECONDS)
        while True:
            try:
                self._ready.get_nowait().proc.close()
            except queue.Empty:
                break
        while True:
            try:
                self._servers.get_nowait().close()
            except queue.Empty:
                break
