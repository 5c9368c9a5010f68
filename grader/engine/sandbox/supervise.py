"""Watches one running sandbox: pipes, timers and limits, in a single loop.

The loop is backend-neutral: it reads stdout and stderr into capped logs, feeds
the metrics and results channels to a ``Conversation`` (the grading protocol,
which lives in the runner), writes what the conversation wants to send, and
stops the sandbox when a limit is reached. It never interprets stdout.
"""

from __future__ import annotations

import os
import selectors
import time
from dataclasses import dataclass, field
from typing import Protocol

from .backend import Sandbox
from .limits import CappedLog, Limits, Usage

TICK = 0.05
DRAIN_SECONDS = 2.0
# A pipe that gave less than this is left alone for PAUSE seconds, so that a sandbox writing a byte at
# a time costs the host one read per pause, not one per write (the pipe holds 64 KiB meanwhile).
SMALL_READ = 4096
PAUSE = 0.005
COLLECT_READS = 8  # at most 512 KiB of each stream collected at once when evaluation starts


class Conversation(Protocol):
    done: bool  # stop the sandbox now: everything needed has arrived
    logs_open: bool  # False once evaluation starts: later output is discarded
    deadline: float | None  # monotonic time at which the current phase has run out
    deadline_reason: str

    def on_metrics(self, data: bytes) -> None: ...
    def on_results(self, data: bytes) -> None: ...
    def outgoing(self) -> bytes: ...
    def sent(self, count: int) -> None: ...


@dataclass
class SandboxOutcome:
    exit_code: int | None = None  # None when killed by a signal
    signal: int | None = None
    killed_for: str | None = None  # wall_time, cpu_time, memory, processes, output or a phase reason
    oom_killed: bool = False
    pids_limit_hit: bool = False
    usage: Usage = field(default_factory=Usage)
    stdout: str = ""
    stderr: str = ""


def _tree_usage(root: int) -> tuple[int, float, int]:
    """Resident bytes, CPU seconds and process count of a process tree (no cgroup)."""
    parents: dict[int, int] = {}
    stats: dict[int, tuple[int, float]] = {}
    page, hz = os.sysconf("SC_PAGE_SIZE"), os.sysconf("SC_CLK_TCK")
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2 :].split()
        parents[int(name)] = int(fields[1])
        stats[int(name)] = (int(fields[21]) * page, (int(fields[11]) + int(fields[12])) / hz)
    tree, frontier = {root}, [root]
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in tree:
                tree.add(child)
                frontier.append(child)
    rss = sum(stats[p][0] for p in tree if p in stats)
    cpu = sum(stats[p][1] for p in tree if p in stats)
    return rss, cpu, len(tree)


class Supervisor:
    def __init__(self, proc: Sandbox, limits: Limits, conversation: Conversation) -> None:
        self.proc = proc
        self.limits = limits
        self.talk = conversation
        self.stdout = CappedLog()
        self.stderr = CappedLog()
        self.outcome = SandboxOutcome()
        self.selector = selectors.DefaultSelector()
        self.cpu_base = proc.cgroup.cpu_seconds() if proc.cgroup else 0.0
        self.peak_rss = 0
        self.peak_procs = 0
        self.output_bytes = 0
        self.paused: dict[int, tuple[float, str]] = {}  # fd -> (when to read it again, its name)
        self.next_check = 0.0

    def run(self, started: float) -> SandboxOutcome:
        streams = {
            self.proc.stdout: "stdout",
            self.proc.stderr: "stderr",
            self.proc.metrics: "metrics",
            self.proc.results: "results",
        }
        for fd, name in streams.items():
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ, name)
        wall_deadline = started + self.limits.wall_seconds
        writing = False
        try:
            while True:
                pending = self.talk.outgoing()
                if pending and not writing:
                    self.selector.register(self.proc.control, selectors.EVENT_WRITE, "control")
                    writing = True
                elif not pending and writing:
                    self.selector.unregister(self.proc.control)
                    writing = False
                for key, _ in self.selector.select(self._resume_paused()):
                    if key.data == "control":
                        self._write_control(pending)
                    elif self._read(key.fd, key.data) < SMALL_READ:
                        self._pause(key.fd, key.data)
                if self.talk.done:
                    if self.talk.logs_open:  # a failure said on the metrics pipe before its output was read
                        self._collect_logs()
                    break
                if self.proc.poll() is not None:
                    self._drain(streams)
                    break
                reason = self._check_limits(wall_deadline)
                if reason:
                    self.outcome.killed_for = reason
                    break
        finally:
            self.selector.close()
        self._finish(started)
        return self.outcome

    def _write_control(self, pending: bytes) -> None:
        try:
            self.talk.sent(os.write(self.proc.control, pending[:65536]))
        except BlockingIOError:
            pass
        except OSError:
            self.talk.sent(len(pending))  # the sandbox closed its end; nothing more to say

    def _pause(self, fd: int, name: str) -> None:
        if fd in self.selector.get_map():
            self.selector.unregister(fd)
            self.paused[fd] = (time.monotonic() + PAUSE, name)

    def _resume_paused(self, everything: bool = False) -> float:
        """Read paused pipes again once their pause is over; how long the next select may wait."""
        now = time.monotonic()
        wait = TICK
        for fd, (when, name) in list(self.paused.items()):
            if everything or when <= now:
                del self.paused[fd]
                self.selector.register(fd, selectors.EVENT_READ, name)
            else:
                wait = min(wait, when - now)
        return wait

    def _read(self, fd: int, name: str) -> int:
        """Bytes read: 0 at EOF (then unregistered) or when none is ready."""
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return 0
        except OSError:
            data = b""
        if not data:
            if fd in self.selector.get_map():
                self.selector.unregister(fd)
            return 0
        if name in ("stdout", "stderr"):
            self.output_bytes += len(data)
            if self.talk.logs_open:
                (self.stdout if name == "stdout" else self.stderr).add(data)
        elif name == "metrics":
            was_open = self.talk.logs_open
            self.talk.on_metrics(data)
            if was_open and not self.talk.logs_open:
                self._collect_logs()
        else:
            self.talk.on_results(data)
        return len(data)

    def _collect_logs(self) -> None:
        """Keep what the run printed before the record that ended training or the run (pipes do not keep
        order between them: a script that prints and then fails lost its output now and then).

        The evaluation inputs have not been written yet, so nothing here comes after them.
        """
        for fd, log in ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr)):
            for _ in range(COLLECT_READS):  # bounded: writers that never stop cannot hold the host here
                try:
                    data = os.read(fd, 65536)
                except (BlockingIOError, OSError):
                    break
                if not data:
                    break
                self.output_bytes += len(data)
                log.add(data)

    def _drain(self, streams: dict[int, str]) -> None:
        """The process has exited: collect what is still in the pipes, briefly."""
        end = time.monotonic() + DRAIN_SECONDS
        self._resume_paused(everything=True)
        registered = set(self.selector.get_map())
        for fd, name in streams.items():
            # Every writer is gone with the pid namespace, so each read ends at EOF.
            while fd in registered and time.monotonic() < end and not self.talk.done:
                if not self._read(fd, name):
                    break

    def _check_limits(self, wall_deadline: float) -> str | None:
        now = time.monotonic()
        if now >= wall_deadline:
            return "wall_time"
        if self.talk.deadline is not None and now >= self.talk.deadline:
            return self.talk.deadline_reason
        if self.output_bytes > self.limits.output_bytes:
            return "output"
        if now < self.next_check:
            return None  # the kernel's counters are read once a tick, however busy the pipes are
        self.next_check = now + TICK
        group = self.proc.cgroup
        if group is not None:
            if group.pids_limit_hit():
                return "processes"
            if group.cpu_seconds() - self.cpu_base > self.limits.effective_cpu_seconds:
                return "cpu_time"
            return None
        if self.proc.pid is None:
            return None  # a container: the engine enforces memory and processes, rlimits the CPU time
        rss, cpu, count = _tree_usage(self.proc.pid)
        self.peak_rss, self.peak_procs = max(self.peak_rss, rss), max(self.peak_procs, count)
        if rss > self.limits.memory_bytes:
            return "memory"
        if count > self.limits.processes:
            return "processes"
        if cpu > self.limits.effective_cpu_seconds:
            return "cpu_time"
        return None

    def _finish(self, started: float) -> None:
        group = self.proc.cgroup
        usage = self.outcome.usage
        usage.wall_seconds = round(time.monotonic() - started, 3)
        usage.output_bytes = self.output_bytes
        if group is not None:
            usage.enforcement = group.version
            usage.cpu_seconds = round(group.cpu_seconds() - self.cpu_base, 3)
            self.outcome.oom_killed = (
                group.oom_killed()
            )  # first: a container's counters learn its peak from it
            usage.peak_memory_bytes = group.peak_memory()
            self.outcome.pids_limit_hit = group.pids_limit_hit()
        else:
            usage.peak_memory_bytes = self.peak_rss or None
            usage.processes_peak = self.peak_procs or None
        self.proc.kill()
        status = self.proc.wait(10)
        if status is not None:
            if status < 0:
                self.outcome.signal = -status
            elif (
                status > 128
            ):  # bubblewrap (and a container's init) report a child killed by signal N as 128 + N
                self.outcome.signal = status - 128
            else:
                self.outcome.exit_code = status
        self.outcome.stdout = self.stdout.text()
        self.outcome.stderr = self.stderr.text()
