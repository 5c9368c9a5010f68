"""What a sandbox backend gives the rest of the grader, and the bubblewrap backend in those terms.

A backend makes a job folder and starts a sandbox on it; the sandbox (``bwrap.SandboxProcess``
or ``container.ContainerSandbox``) is what the supervisor, the warm pool and the session drive.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

from .bwrap import spawn
from .limits import Limits


def make_jobdir(jobs_root: Path | None, owner: int | None, shared: bool = False) -> Path:
    """A folder for one job in ``jobs_root`` (a temporary folder when None): 0700 and given to ``owner``
    (the sandbox's uid, which reads it read-only), or 0755 when ``shared`` (see ``Sandbox.shared``)."""
    if jobs_root is not None:
        jobs_root.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="job-", dir=jobs_root))  # 0700 already
    if owner is not None:
        os.chown(path, owner, owner)
    if shared:
        path.chmod(0o755)
    return path


class Counters(Protocol):
    """What the supervisor reads of a sandbox's cgroup."""

    version: str

    def cpu_seconds(self) -> float: ...
    def peak_memory(self) -> int | None: ...
    def oom_killed(self) -> bool: ...
    def pids_limit_hit(self) -> bool: ...


class Sandbox(Protocol):
    metrics: int  # the host reads
    control: int  # the host writes
    results: int  # the host reads
    jobdir: Path
    uid: int | None  # who the host makes job files belong to (None: it cannot chown)
    shared: bool  # job files must be readable by all (the sandbox's uid is neither the host's nor ``uid``)
    started: float

    @property
    def stdout(self) -> int: ...  # the host reads
    @property
    def stderr(self) -> int: ...  # the host reads
    @property
    def pid(self) -> int | None: ...  # a host process whose tree is measured when there is no cgroup
    @property
    def cgroup(self) -> Counters | None: ...
    def poll(self) -> int | None: ...
    def wait(self, timeout: float) -> int | None: ...
    def apply_limits(self, limits: Limits) -> None: ...
    def kill(self) -> None: ...
    def close(self) -> None: ...


class Backend(Protocol):
    name: str

    def new_jobdir(self, jobs_root: Path | None) -> Path: ...
    def start(self, limits: Limits, jobdir: Path) -> Sandbox: ...


class BwrapBackend:
    """bubblewrap on this host; as root, student code runs as ``uid`` (no capabilities)."""

    name = "bwrap"

    def __init__(self, uid: int | None) -> None:
        self.uid = uid

    def new_jobdir(self, jobs_root: Path | None) -> Path:
        return make_jobdir(jobs_root, self.uid)

    def start(self, limits: Limits, jobdir: Path) -> Sandbox:
        return spawn(limits, jobdir, self.uid)
