"""The host's side of a fork server: one warm sandbox that runs job after job, each in a sealed child.

A warm sandbox used once costs its start and ``import torch`` (about two CPU-seconds) per run; a fork
server pays that once, for up to ``MAX_JOBS`` runs. grader/engine/harness/forked.py says how each job's child is
sealed off from the server and from the jobs before and after it. Here a ``ForkServer`` owns the
sandbox (bubblewrap as root: its cgroup, scratch and job folder), and ``ForkServer.fork()`` hands out a
``ForkedJob``: to the supervisor and the session a ``Sandbox`` like any other, with channels and output
pipes of its own, the sandbox's cgroup read from the job's start, and a kill that takes every process
of the job and none of the server's.

Jobs of a server come one after another, never two at once. A server is thrown away after a job whose
end it does not report cleanly, and after ``MAX_JOBS`` jobs.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .backend import make_jobdir
from .bwrap import SandboxProcess, SandboxUnavailable, runtime_paths, scratch_sizes, spawn
from .cgroups import Cgroup
from .limits import Limits

# A server's own state does not change with its jobs (it never runs their code, nor reads their files or
# frames): the bound is hygiene, and high enough that a server's start costs a run almost nothing.
MAX_JOBS = 500
EXIT_SECONDS = 10.0
MAX_MESSAGE = 4096
KILLED = 128 + 9


def setup(limits: Limits) -> dict[str, Any]:
    """How a server seals each job: its scratch mounts, and the runtime folders they would cover."""
    places = scratch_sizes(limits)
    covered = [path for path in runtime_paths() if any(path.startswith(place + "/") for place in places)]
    return {"t": "setup", "places": places, "keep": covered}


class ForkUnavailable(SandboxUnavailable):
    """This kernel does not let the server seal a child (user namespaces off): plain warm sandboxes then."""


class JobCounters:
    """The sandbox's cgroup as one job sees it: the server idles while a job runs, so the counters from
    the job's start are the job's (its peak memory includes the server's, as a warm sandbox's did)."""

    def __init__(self, group: Cgroup) -> None:
        self.group = group
        self.version = group.version
        self._oom, self._refused = group.oom_kills(), group.pids_refused()
        self._peak = group.peak_from_now()

    def cpu_seconds(self) -> float:
        return self.group.cpu_seconds()

    def peak_memory(self) -> int | None:
        return self._peak()

    def oom_killed(self) -> bool:
        return self.group.oom_kills() > self._oom

    def pids_limit_hit(self) -> bool:
        return self.group.pids_refused() > self._refused


class ForkServer:
    def __init__(self, sandbox: SandboxProcess, limits: Limits) -> None:
        assert sandbox.link is not None and sandbox.cgroup is not None
        self.sandbox = sandbox
        self.link = sandbox.link
        self.group = sandbox.cgroup
        self.limits = limits
        self.hello: dict[str, Any] = {}
        self.own: set[int] = set()  # the server's processes: never a job's to kill
        self.jobs = 0
        self.busy = False
        self.broken: str | None = None
        self.idle_since = time.monotonic()

    @classmethod
    def start(cls, limits: Limits, uid: int, jobs_root: Path | None) -> ForkServer:
        jobdir = make_jobdir(jobs_root, uid)
        try:
            sandbox = spawn(limits, jobdir, uid, fork_server=True)
        except Exception:
            shutil.rmtree(jobdir, ignore_errors=True)
            raise
        sandbox.started = time.monotonic()
        server = cls(sandbox, limits)
        try:  # read once torch is imported, before the server's probe: how each of its jobs is sealed
            server.link.send(json.dumps(setup(limits)).encode())
        except OSError as exc:
            server.close()
            raise SandboxUnavailable(f"a fork server did not take its setup: {exc}") from exc
        return server

    def wait_hello(self, timeout: float) -> dict[str, Any]:
        """The server's hello, once torch is imported and it has sealed a probe child."""
        record = self.receive(timeout)
        if record is None or record.get("t") != "hello":
            raise SandboxUnavailable("a fork server did not start (no hello from the harness)")
        if not record.pop("fork", False):
            raise ForkUnavailable(
                f"this kernel does not let a fork server seal its jobs: {record.get('why')}"
            )
        record.pop("t")
        record.pop("why", None)
        self.hello = record
        self.own = set(self.group.pids())
        return record

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """One message from the server within ``timeout`` (None: none yet); a dead or garbled server is broken."""
        ready, _, _ = select.select([self.link], [], [], max(timeout, 0.0))
        if not ready:
            return None
        try:
            data = self.link.recv(MAX_MESSAGE)
            record = json.loads(data) if data else None
        except (OSError, ValueError):
            record = None
        if not isinstance(record, dict):
            self.broken = "the fork server went away"
            return {"t": "exit", "status": KILLED}
        return record

    @property
    def usable(self) -> bool:
        return self.broken is None and self.jobs < MAX_JOBS and self.sandbox.poll() is None

    def fork(self, on_done: Callable[[ForkServer], None]) -> ForkedJob:
        """A new job in a sealed child; ``on_done`` hears when the job is closed."""
        if self.busy or not self.usable:
            raise SandboxUnavailable("this fork server cannot take a job now")
        pipes = [
            os.pipe() for _ in range(5)
        ]  # stdout, stderr, metrics, results: to the host; control: from it
        stdout, stderr, metrics, control, results = pipes
        theirs = [stdout[1], stderr[1], metrics[1], control[0], results[1]]
        mine = [stdout[0], stderr[0], metrics[0], control[1], results[0]]
        counters = JobCounters(self.group)
        try:
            socket.send_fds(self.link, [b'{"t":"job"}'], theirs)
        except OSError as exc:
            for fd in mine:
                os.close(fd)
            self.broken = f"the fork server did not take a job: {exc}"
            raise SandboxUnavailable(self.broken) from exc
        finally:
            for fd in theirs:
                os.close(fd)
        self.busy = True
        self.jobs += 1
        return ForkedJob(self, mine, counters, on_done)

    def kill_job(self) -> None:
        """Kill every process in the sandbox's cgroup that is not the server's, until none is left."""
        for _ in range(200):
            others = [pid for pid in self.group.pids() if pid not in self.own]
            if not others:
                return
            for pid in others:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            time.sleep(0.005)
        self.broken = "a job's processes outlived the kill"

    def close(self) -> None:
        self.sandbox.close()


class ForkedJob:
    """One job of a fork server, as the supervisor drives a sandbox."""

    shared = False

    def __init__(
        self, server: ForkServer, fds: list[int], counters: JobCounters, on_done: Callable[[ForkServer], None]
    ) -> None:
        self.server = server
        self._stdout, self._stderr, self.metrics, self.control, self.results = fds
        for fd in (self._stdout, self._stderr, self.metrics, self.results, self.control):
            os.set_blocking(fd, False)
        self._counters = counters
        self._on_done = on_done
        self.jobdir = server.sandbox.jobdir
        self.uid: int | None = server.sandbox.uid
        self.started = time.monotonic()
        self.status: int | None = None
        self.closed = False

    @property
    def stdout(self) -> int:
        return self._stdout

    @property
    def stderr(self) -> int:
        return self._stderr

    @property
    def pid(self) -> int | None:
        return None  # always counted through the cgroup

    @property
    def cgroup(self) -> JobCounters:
        return self._counters

    def poll(self) -> int | None:
        return self.wait(0.0)

    def wait(self, timeout: float) -> int | None:
        end = time.monotonic() + timeout
        while self.status is None:
            if self.server.sandbox.poll() is not None:
                self.server.broken = "the fork server exited"
                self.status = KILLED
                break
            record = self.server.receive(min(max(end - time.monotonic(), 0.0), 0.5))
            if record is not None:
                status = record.get("status") if record.get("t") == "exit" else None
                if not isinstance(status, int):
                    self.server.broken = "the fork server said something other than a job's end"
                    status = KILLED
                elif record.get("sealed") is not True:  # the job never ran: the next would not either
                    self.server.broken = self.server.broken or "the fork server could not seal a job"
                self.status = status
            elif time.monotonic() >= end:
                break
        return self.status

    def apply_limits(self, limits: Limits) -> None:
        self.server.group.set_limits(limits.memory_bytes, limits.processes, limits.cpu_cores)

    def kill(self) -> None:
        if self.status is None:
            self.server.kill_job()

    def close(self) -> None:
        """Kill what is left of the job, hear its end, empty the job folder, and give the server back."""
        if self.closed:
            return
        self.closed = True
        self.kill()
        if self.wait(EXIT_SECONDS) is None:
            self.server.broken = "the fork server did not report a job's end"
        self.server.kill_job()  # a job's leftovers (none when the pid namespace did its work)
        for fd in (self._stdout, self._stderr, self.metrics, self.control, self.results):
            try:
                os.close(fd)
            except OSError:
                pass
        for entry in list(self.jobdir.iterdir()):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        server = self.server
        server.busy = False
        server.idle_since = time.monotonic()
        try:  # back to the slot's limits, for the next job's apply
            server.group.set_limits(
                server.limits.memory_bytes, server.limits.processes, server.limits.cpu_cores
            )
        except OSError as exc:
            server.broken = f"the fork server's limits could not be set back: {exc}"
        self._on_done(server)
