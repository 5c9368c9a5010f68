"""What the host reads of a sandbox container's cgroup (the Docker backend's ``Sandbox.cgroup``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .cgroups import ROOT, V1_CONTROLLERS, Cgroup, CgroupV1, CgroupV2


class ContainerCounters:
    """The counters of a container's cgroup, made by the Docker engine, read (never written) by the host.

    runc removes the group as soon as the container exits, so what was last read is kept (the supervisor
    reads the process count every tick, and the peak is read with it), and whether the kernel's OOM
    killer struck is asked of the engine once the group is gone. A container the OOM killer ended
    before any reading peaked at its limit, ``memory_limit``.
    """

    def __init__(self, group: Cgroup | None, container: Any, memory_limit: int | None = None) -> None:
        self.group, self.container = group, container  # group None: not visible here, the engine's word only
        self.memory_limit = memory_limit
        self.version = group.version if group is not None else "engine"
        self._cpu = 0.0
        self._peak: int | None = None
        self._pids_hit = False

    @classmethod
    def find(
        cls, container: Any, root: Path | None = None, memory_limit: int | None = None
    ) -> ContainerCounters | None:
        """The container's group in the host's cgroup file system at ``root``, or None if not visible."""
        root = ROOT if root is None else root
        v1 = {c: [root / c / "docker" / container.id, root / c / "system.slice" / f"docker-{container.id}.scope"]
              for c in V1_CONTROLLERS}  # fmt: skip
        found = {c: next((p for p in paths if p.is_dir()), None) for c, paths in v1.items()}
        if all(found[c] is not None for c in ("memory", "pids", "cpuacct")):
            return cls(CgroupV1({c: p for c, p in found.items() if p is not None}), container, memory_limit)
        for path in (root / "system.slice" / f"docker-{container.id}.scope", root / "docker" / container.id):
            if (path / "cgroup.procs").exists():
                return cls(CgroupV2({"unified": path}), container, memory_limit)
        return None

    def cpu_seconds(self) -> float:
        if self.group is not None:
            self._cpu = max(self._cpu, self.group.cpu_seconds())
        return self._cpu

    def peak_memory(self) -> int | None:
        peak = self.group.peak_memory() if self.group is not None else None
        if peak is not None:
            self._peak = max(self._peak or 0, peak)
        return self._peak

    def pids_limit_hit(self) -> bool:
        if self.group is not None:
            self._pids_hit = self._pids_hit or self.group.pids_limit_hit()
            self.peak_memory()
        return self._pids_hit

    def oom_killed(self) -> bool:
        if self.group is not None and self.group.oom_killed():
            return True
        try:
            self.container.reload()
        except Exception:  # noqa: BLE001 - removed already: nothing more to learn
            return False
        killed = bool((self.container.attrs.get("State") or {}).get("OOMKilled"))
        if killed and self._peak is None:
            self._peak = self.memory_limit
        return killed
