"""Resource limits bubblewrap does not enforce itself: one cgroup per sandbox.

cgroup v1 (memory + memsw, pids, cpu quota, cpuacct, freezer) is what these
machines have and is what the tests exercise; cgroup v2 follows the same shape
(memory.max, memory.swap.max, pids.max, cpu.max, cpu.stat, cgroup.kill) and is
untested here. When no hierarchy is writable at all the caller may fall back to
rlimits plus a watchdog (unprivileged development); when one is writable but a
sandbox's group cannot be made or limited, ``create`` raises: a run never goes
ahead with weaker limits than the host can set.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct", "freezer")
CPU_PERIOD_US = 100_000
PARENT = "grader-sandbox"
# The sandboxes' parent group weighs a quarter of a default group or process: when the host's CPU
# is full (a deadline on a host that also serves pages, or a worker's own bookkeeping and
# heartbeats), those go first and the runs take the rest. Idle CPU is the runs' all the same.
SANDBOX_SHARES = 256  # cgroup v1 cpu.shares (default 1024)
SANDBOX_WEIGHT = 25  # cgroup v2 cpu.weight (default 100)
STALE_SECONDS = 600.0


def _own_path(controller: str) -> str:
    """Our process's cgroup path in a v1 hierarchy (sandboxes nest under it)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return path.lstrip("/")
    return ""


def _write(path: Path, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


def _weigh(path: Path, weight: int) -> None:
    """The sandboxes' share of a full CPU (see SANDBOX_SHARES); a hierarchy that refuses it only
    leaves the default, equal to everything else's."""
    try:
        if _read(path).strip() != str(weight):
            _write(path, str(weight))
    except OSError:
        pass


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def quota_us(cpus: float) -> int:
    """CPU time per period for ``cpus`` cores (the kernel's floor is 1 ms)."""
    return max(1000, int(cpus * CPU_PERIOD_US))


def _field(text: str, key: str) -> int:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            return int(parts[1])
    return 0


class CgroupFailed(OSError):
    """A cgroup hierarchy is writable but this sandbox's group could not be made or limited."""


class Cgroup:
    """Limits, usage and a reliable kill for one sandbox's process tree."""

    version = "none"

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs
        self._peak_fds: list[int] = []

    # -- creation -------------------------------------------------------------
    @classmethod
    def create(cls, name: str, memory_bytes: int, processes: int, cpus: float) -> Cgroup | None:
        """A limited group, or None when no hierarchy is writable here (raises when one fails)."""
        failures = []
        for kind in (CgroupV1, CgroupV2):
            if kind.available():
                group = None
                try:
                    kind.sweep_stale()
                    group = kind.make(name)
                    group.set_limits(memory_bytes, processes, cpus)
                    return group
                except OSError as exc:
                    failures.append(f"{kind.version}: {exc}")
                    if group is not None:
                        group.destroy()
        if failures:
            raise CgroupFailed("the sandbox's cgroup could not be made: " + "; ".join(failures))
        return None

    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def pids(self) -> list[int]:
        first = next(iter(self.dirs.values()))
        return [int(p) for p in _read(first / "cgroup.procs").split()]

    def destroy(self) -> None:
        for fd in self._peak_fds:
            os.close(fd)
        self._peak_fds = []
        for _ in range(50):
            self.kill_all()
            try:
                for d in self.dirs.values():
                    if d.exists():
                        d.rmdir()
                return
            except OSError:
                time.sleep(0.02)

    @classmethod
    def parents(cls) -> list[Path]:
        raise NotImplementedError

    @classmethod
    def sweep_stale(cls) -> None:
        """Remove empty sandbox cgroups left by a worker that died (older than STALE_SECONDS).

        Age protects a cgroup another worker has just made and not yet joined.
        """
        now = time.time()
        for parent in cls.parents():
            for path in parent.glob("sb-*"):
                try:
                    if (
                        now - path.stat().st_mtime > STALE_SECONDS
                        and not _read(path / "cgroup.procs").strip()
                    ):
                        path.rmdir()
                except OSError:
                    continue

    # -- per version ----------------------------------------------------------
    def set_limits(self, memory_bytes: int, processes: int, cpus: float) -> None:
        raise NotImplementedError

    def cpu_seconds(self) -> float:
        raise NotImplementedError

    def peak_memory(self) -> int | None:
        raise NotImplementedError

    def oom_killed(self) -> bool:
        return self.oom_kills() > 0

    def pids_limit_hit(self) -> bool:
        return self.pids_refused() > 0

    def oom_kills(self) -> int:
        raise NotImplementedError

    def pids_refused(self) -> int:
        raise NotImplementedError

    def peak_from_now(self) -> Callable[[], int | None]:
        """Reset the peak to the present use; what then reads the peak since (a fork server's next job)."""
        raise NotImplementedError

    def kill_all(self) -> None:
        raise NotImplementedError


class CgroupV1(Cgroup):
    version = "cgroup-v1"

    @staticmethod
    def available() -> bool:
        return (
            all(os.access(ROOT / c, os.W_OK) for c in V1_CONTROLLERS)
            and (ROOT / "memory/memory.limit_in_bytes").exists()
        )

    @classmethod
    def parents(cls) -> list[Path]:
        return [ROOT / c / _own_path(c) / PARENT for c in V1_CONTROLLERS]

    @classmethod
    def make(cls, name: str) -> CgroupV1:
        dirs = {}
        for controller in V1_CONTROLLERS:
            path = ROOT / controller / _own_path(controller) / PARENT / name
            path.mkdir(parents=True, exist_ok=True)
            dirs[controller] = path
        _weigh(dirs["cpu"].parent / "cpu.shares", SANDBOX_SHARES)
        return cls(dirs)

    def set_limits(self, memory_bytes: int, processes: int, cpus: float) -> None:
        memory = self.dirs["memory"]
        files = [memory / "memory.limit_in_bytes"]
        if (memory / "memory.memsw.limit_in_bytes").exists():
            files.append(memory / "memory.memsw.limit_in_bytes")
        try:  # memory+swap may never be below memory: lowering goes memory first, raising the other way
            for path in files:
                _write(path, str(memory_bytes))
        except OSError:
            for path in reversed(files):
                _write(path, str(memory_bytes))
        try:
            _write(memory / "memory.swappiness", "0")
        except OSError:
            pass  # not settable in every hierarchy; memsw = memory already forbids swap
        _write(self.dirs["pids"] / "pids.max", str(processes))
        _write(self.dirs["cpu"] / "cpu.cfs_period_us", str(CPU_PERIOD_US))
        _write(self.dirs["cpu"] / "cpu.cfs_quota_us", str(quota_us(cpus)))

    def cpu_seconds(self) -> float:
        text = _read(self.dirs["cpuacct"] / "cpuacct.usage").strip()
        return int(text) / 1e9 if text else 0.0

    def peak_memory(self) -> int | None:
        text = _read(self.dirs["memory"] / "memory.max_usage_in_bytes").strip()
        return int(text) if text else None

    def oom_kills(self) -> int:
        return _field(_read(self.dirs["memory"] / "memory.oom_control"), "oom_kill")

    def pids_refused(self) -> int:
        return _field(_read(self.dirs["pids"] / "pids.events"), "max")

    def peak_from_now(self) -> Callable[[], int | None]:
        _write(self.dirs["memory"] / "memory.max_usage_in_bytes", "0")  # any write resets it to the usage
        return self.peak_memory

    def kill_all(self) -> None:
        freezer = self.dirs["freezer"] / "freezer.state"
        try:
            _write(freezer, "FROZEN")  # a fork bomb cannot outrun a frozen group
        except OSError:
            pass
        for pid in self.pids():
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        try:
            _write(freezer, "THAWED")
        except OSError:
            pass


class CgroupV2(Cgroup):
    version = "cgroup-v2"

    @staticmethod
    def _base() -> Path:
        own = ""
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                own = line[3:].lstrip("/")
        return ROOT / own if (ROOT / "cgroup.controllers").exists() else ROOT / "unified" / own

    @classmethod
    def available(cls) -> bool:
        base = cls._base()
        controllers = _read(base / "cgroup.controllers").split()
        return {"memory", "pids", "cpu"} <= set(controllers) and os.access(base, os.W_OK)

    @classmethod
    def parents(cls) -> list[Path]:
        return [cls._base() / PARENT]

    @classmethod
    def make(cls, name: str) -> CgroupV2:
        parent = cls._base() / PARENT
        parent.mkdir(exist_ok=True)
        _write(parent / "cgroup.subtree_control", "+memory +pids +cpu")
        _weigh(parent / "cpu.weight", SANDBOX_WEIGHT)
        path = parent / name
        path.mkdir(exist_ok=True)
        return cls({"unified": path})

    def set_limits(self, memory_bytes: int, processes: int, cpus: float) -> None:
        path = self.dirs["unified"]
        _write(path / "memory.max", str(memory_bytes))
        _write(path / "memory.swap.max", "0")
        _write(path / "pids.max", str(processes))
        _write(path / "cpu.max", f"{quota_us(cpus)} {CPU_PERIOD_US}")

    def cpu_seconds(self) -> float:
        return _field(_read(self.dirs["unified"] / "cpu.stat"), "usage_usec") / 1e6

    def peak_memory(self) -> int | None:
        text = _read(self.dirs["unified"] / "memory.peak").strip()
        return int(text) if text else None

    def oom_kills(self) -> int:
        return _field(_read(self.dirs["unified"] / "memory.events"), "oom_kill")

    def pids_refused(self) -> int:
        return _field(_read(self.dirs["unified"] / "pids.events"), "max")

    def peak_from_now(self) -> Callable[[], int | None]:
        # Since Linux 6.12 a write resets the peak as read through the same descriptor; before, a job's
        # peak cannot be told from the server's earlier ones: unknown rather than wrong.
        for old in self._peak_fds:  # an earlier job's: jobs of a server come one after another
            os.close(old)
        self._peak_fds = []
        try:
            fd = os.open(self.dirs["unified"] / "memory.peak", os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            return lambda: None
        try:
            os.write(fd, b"reset\n")
        except OSError:
            os.close(fd)
            return lambda: None
        self._peak_fds.append(fd)

        def peak() -> int | None:
            try:
                return int(os.pread(fd, 64, 0).split()[0])
            except (OSError, ValueError, IndexError):
                return None

        return peak

    def kill_all(self) -> None:
        try:
            _write(self.dirs["unified"] / "cgroup.kill", "1")
        except OSError:
            for pid in self.pids():
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
