"""What a sandbox may use, and what it did use."""

from __future__ import annotations

from dataclasses import dataclass, field

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 300.0  # the whole run: training, evaluation, start-up
    cpu_seconds: float | None = None  # all processes together; None: 2 x wall
    memory_bytes: int = 2048 * MiB  # resident memory of the whole sandbox, no swap
    processes: int = 64  # processes and threads together
    file_bytes: int = 64 * MiB  # the largest single file
    disk_bytes: int = 128 * MiB  # everything written (work dir and /tmp together, each capped)
    open_files: int = 256
    output_bytes: int = 8 * MiB  # stdout and stderr together before the run is stopped
    threads: int = 1  # compute threads for torch/BLAS
    cpus: float | None = None  # CPU cores' worth of time the whole sandbox may use at once; None: threads
    gpu_index: int | None = None  # the one GPU this worker slot owns, if any

    @property
    def cpu_cores(self) -> float:
        return self.cpus if self.cpus is not None else float(max(1, self.threads))

    @property
    def effective_cpu_seconds(self) -> float:
        return self.cpu_seconds if self.cpu_seconds is not None else 2.0 * self.wall_seconds


@dataclass
class Usage:
    wall_seconds: float = 0.0
    cpu_seconds: float | None = None
    peak_memory_bytes: int | None = None
    processes_peak: int | None = None
    output_bytes: int = 0
    enforcement: str = "fallback"  # "cgroup-v1", "cgroup-v2" or "fallback"


@dataclass
class CappedLog:
    """Keeps the head and the tail of a stream; counts everything."""

    head_limit: int = 16 * 1024
    tail_limit: int = 16 * 1024
    head: bytearray = field(default_factory=bytearray)
    tail: bytearray = field(default_factory=bytearray)
    total: int = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > self.tail_limit:
                del self.tail[: len(self.tail) - self.tail_limit]

    def text(self) -> str:
        head = self.head.decode("utf-8", "replace")
        if self.total <= len(self.head) + len(self.tail):
            return head + self.tail.decode("utf-8", "replace")
        skipped = self.total - len(self.head) - len(self.tail)
        return f"{head}\n[... {skipped:,} bytes not kept ...]\n{self.tail.decode('utf-8', 'replace')}"
