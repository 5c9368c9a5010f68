"""The Docker backend at run time: one container per run, watched like a bubblewrap process.

``ContainerSandbox`` offers what the supervisor, the warm pool and the session use of
``bwrap.SandboxProcess`` (channel descriptors, stdout and stderr, poll, wait, kill,
close, the cgroup's counters), so everything above the sandbox is the same for both
backends. The engine is asked as little as possible while a run goes on: one thread
per container waits for it to exit, the counters are read from the container's cgroup
in the host's cgroup file system (``cgroup_root``; the engine's OOM flag at the end
when the group has already gone), and stdout and stderr come through sockets.

Containers outlive a worker killed with SIGKILL; each carries labels naming its worker
(host, pid and the process's start time), and ``sweep_orphans`` removes those whose
worker is gone, when a worker starts.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Any

from .backend import make_jobdir
from .bwrap import SandboxUnavailable
from .container_counters import ContainerCounters
from .docker import (
    HOST_LABEL,
    SANDBOX_LABEL,
    WORKER_LABEL,
    ChannelFds,
    ChannelListeners,
    container_config,
    open_channel_sockets,
    sdk_kwargs,
)
from .limits import Limits

CONNECT_SECONDS = 60.0
UNREMOVED: set[str] = set()  # containers of this process whose removal failed: the next sweep retries
log = logging.getLogger(__name__)
STALE_SECONDS = 6 * 3600.0  # a sandbox this old from another host's worker is nobody's any more


def worker_identity(pid: int | None = None) -> str:
    """``host:pid:start:pidns`` for this process: a pid reused after a crash has another start time,
    and a pid is only checked from the pid namespace it belongs to."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}:{_pid_namespace()}"


def _pid_namespace() -> int:
    return os.stat("/proc/self/ns/pid").st_ino


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks; "" when there is no such process, None when unknown."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return ""
    except OSError:
        return None  # hidden from us (hidepid): alive as far as anyone here can tell
    return raw[raw.rfind(b")") + 2 :].split()[19].decode()


def _dead(worker: str) -> bool | None:
    """Whether a worker of this host is gone; None when it cannot be told from this pid namespace."""
    parts = worker.split(":")
    if len(parts) != 4 or not parts[1].isdigit() or parts[3] != str(_pid_namespace()):
        return None
    ticks = _start_ticks(int(parts[1]))
    return None if ticks is None else ticks != parts[2]


def _gone(exc: BaseException, *also: int) -> bool:  # the engine's "no such container" (or ``also``)
    return type(exc).__name__ == "NotFound" or getattr(exc, "status_code", None) in (404, *also)


class ContainerSandbox:
    """A started container whose harness has connected its five sockets."""

    def __init__(self, container: Any, fds: ChannelFds, jobdir: Path, channel_dir: Path, uid: int | None,
                 shared: bool, cgroup: ContainerCounters) -> None:  # fmt: skip
        self.container = container
        self.metrics, self.control, self.results = fds.metrics, fds.control, fds.results
        self.stdout, self.stderr = fds.stdout, fds.stderr
        self._fds = fds
        self.jobdir, self.channel_dir = jobdir, channel_dir
        self.uid = uid  # the owner the host gives job files (None: it cannot chown; see ``shared``)
        self.shared = shared  # job files readable by all: the sandbox's uid is not the worker's
        self.cgroup = cgroup
        self.pid: int | None = None  # no process of the host's to walk: the cgroup always counts
        self.started = 0.0
        self.closed = False
        self._status: int | None = None
        self._exited = threading.Event()
        threading.Thread(target=self._wait_for_exit, name="container-wait", daemon=True).start()

    def _wait_for_exit(self) -> None:
        try:
            self._status = int(self.container.wait()["StatusCode"])
        except Exception:  # noqa: BLE001 - removed under it, or the engine went away: it is over either way
            self._status = 137
        self._exited.set()

    def poll(self) -> int | None:
        return self._status if self._exited.is_set() else None

    def wait(self, timeout: float) -> int | None:
        """The exit status (init's: 128 + N for a process killed by signal N), or None if still running."""
        self._exited.wait(timeout)
        return self.poll()

    def apply_limits(self, limits: Limits) -> None:
        """A warm container takes this job's memory, process and CPU limits (like ``Cgroup.set_limits``)."""
        api = self.container.client.api
        resources = {
            "Memory": limits.memory_bytes, "MemorySwap": limits.memory_bytes,
            "PidsLimit": limits.processes, "NanoCpus": int(limits.cpu_cores * 1_000_000_000),
        }  # fmt: skip
        # The SDK's update_container names neither PidsLimit nor NanoCpus; the engine's API has both.
        api._raise_for_status(
            api._post_json(api._url("/containers/{0}/update", self.container.id), resources)
        )

    def kill(self) -> None:
        if self.poll() is not None:
            return
        try:
            self.container.kill()
        except Exception as exc:
            if not _gone(exc, 409):  # 409: not running any more
                raise

    def close(self) -> None:
        """Remove the container, close the channels, delete the job and channel folders (idempotent)."""
        if self.closed:
            return
        self.closed = True
        try:
            for attempt in range(3):
                try:
                    self.container.remove(force=True)
                    break
                except Exception as exc:  # noqa: BLE001 - the run's result stands; the sweep retries
                    if _gone(exc, 409):  # 409: removal already under way
                        break
                    if attempt == 2:
                        log.error("could not remove sandbox container %s: %s", self.container.id[:12], exc)
                        UNREMOVED.add(self.container.id)
                    time.sleep(0.5 * (attempt + 1))
        finally:
            for fd in self._fds:
                with suppress(OSError):
                    os.close(fd)
            shutil.rmtree(self.channel_dir, ignore_errors=True)
            shutil.rmtree(self.jobdir, ignore_errors=True)


class DockerBackend:
    """Starts sandboxes as sibling containers of an image (docker/sandbox.Dockerfile)."""

    name = "docker"

    def __init__(self, image: str, uid: int, *, client: Any = None, worker_id: str | None = None,
                 cgroup_root: Path | None = None, connect_seconds: float = CONNECT_SECONDS) -> None:  # fmt: skip
        if uid <= 0:
            raise ValueError("the sandbox never runs as root: give it its own uid")
        self.image, self.uid = image, uid
        self._client = client
        self.worker_id = worker_id or worker_identity()
        self.cgroup_root = cgroup_root
        self.connect_seconds = connect_seconds
        self.owner = uid if os.geteuid() == 0 else None  # who job files belong to; else readable by all

    @property
    def client(self) -> Any:
        if self._client is None:
            sdk: Any = importlib.import_module("docker")  # lazily: only this backend needs the SDK
            self._client = sdk.from_env(timeout=120)
        return self._client

    def new_jobdir(self, jobs_root: Path | None) -> Path:
        if self.owner is None:
            # Not root: job files and sockets are open to all below the jobs folder (``shared``), so
            # that folder must be this worker's alone.
            if jobs_root is not None:
                jobs_root.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = os.stat(jobs_root) if jobs_root is not None else None
            if info is None or info.st_uid != os.geteuid() or info.st_mode & 0o077:
                raise SandboxUnavailable(
                    f"the jobs folder ({jobs_root or 'unset: GRADER_JOBS_DIR'}) must belong to this worker "
                    f"(uid {os.geteuid()}) with mode 0700: an unprivileged worker shares its job files with "
                    "the sandbox's uid by opening them below it"
                )
        return make_jobdir(jobs_root, self.owner, shared=self.owner is None)

    def start(self, limits: Limits, jobdir: Path) -> ContainerSandbox:
        """Start a container on ``jobdir`` and wait until its harness has connected (it has imported torch)."""
        channel_dir = Path(tempfile.mkdtemp(prefix="channels-", dir=jobdir.parent))
        listeners: ChannelListeners | None = None
        container = None
        try:
            listeners = open_channel_sockets(channel_dir, self.owner, shared=self.owner is None)
            config = container_config(
                limits, image=self.image, job_volume=str(jobdir), channel_dir=str(channel_dir),
                gpu_index=limits.gpu_index, uid=self.uid, run_id=uuid.uuid4().hex,
                worker_id=self.worker_id, host=socket.gethostname(),
            )  # fmt: skip
            try:
                container = self.client.containers.create(**sdk_kwargs(config))
                container.start()
            except Exception as exc:
                if type(exc).__module__.startswith(("docker", "requests", "urllib3")):
                    raise SandboxUnavailable(f"the Docker engine did not start a sandbox: {exc}") from exc
                raise
            fds = self._accept(listeners, container)
            try:
                cgroup = ContainerCounters.find(container, self.cgroup_root, limits.memory_bytes)
                if cgroup is None:  # not visible here: the engine's OOM flag at least (grader doctor warns)
                    cgroup = ContainerCounters(None, container, limits.memory_bytes)
                return ContainerSandbox(
                    container, fds, jobdir, channel_dir, self.owner, self.owner is None, cgroup
                )
            except BaseException:
                for fd in fds:
                    os.close(fd)
                raise
        except BaseException:
            if listeners is not None:
                listeners.close()
            if container is not None:
                with suppress(Exception):
                    container.remove(force=True)
            shutil.rmtree(channel_dir, ignore_errors=True)
            raise

    def _accept(self, listeners: ChannelListeners, container: Any) -> ChannelFds:
        deadline = time.monotonic() + self.connect_seconds
        while True:
            try:
                return listeners.accept_all(
                    max(0.0, min(1.0, deadline - time.monotonic())), peer_uid=self.uid
                )
            except TimeoutError:
                container.reload()
                if container.status in ("exited", "dead"):
                    code = (container.attrs.get("State") or {}).get("ExitCode")
                    raise SandboxUnavailable(
                        f"the sandbox container exited (status {code}) before connecting its channels: try "
                        f"`docker run --rm {self.image} python -m harness` to see why"
                    ) from None
                if time.monotonic() >= deadline:
                    raise SandboxUnavailable(
                        "the sandbox container did not connect its channels in time"
                    ) from None

    def sweep_orphans(self, jobs_root: Path | None = None, stale_seconds: float = STALE_SECONDS) -> list[str]:
        retried = []
        for ident in list(UNREMOVED):  # this process's own, whose removal failed
            with suppress(Exception):
                self.client.containers.get(ident).remove(force=True)
                retried.append(ident)
            UNREMOVED.discard(ident)
        return retried + sweep_orphans(self.client, self.worker_id, stale_seconds, jobs_root=jobs_root)


def sweep_orphans(client: Any, worker_id: str, stale_seconds: float = STALE_SECONDS,
                  now: float | None = None, jobs_root: Path | None = None) -> list[str]:  # fmt: skip
    """Remove sandbox containers whose worker is dead; return their ids.

    On this worker's host: any whose worker process (pid and start time) no longer exists. From other
    hosts (a worker container replaced by a new one): those no longer running (a warm sandbox exits
    when its worker's end of the channels closes) and any older than ``stale_seconds``. Their job and
    channel folders go too, when they lie in ``jobs_root`` (the temporary folder when None).
    """
    now = time.time() if now is None else now
    host = worker_id.split(":", 1)[0]
    removed: list[str] = []
    for summary in client.containers.list(all=True, sparse=True, filters={"label": f"{SANDBOX_LABEL}=1"}):
        labels = summary.attrs.get("Labels") or {}
        owner = labels.get(WORKER_LABEL, "")
        if labels.get(SANDBOX_LABEL) != "1" or owner == worker_id:
            continue
        dead = _dead(owner) if labels.get(HOST_LABEL) == host else None
        if dead is False:
            continue  # another worker process of this host, still running
        if dead is None:  # another host's, or another pid namespace's: only once stopped or stale
            created = summary.attrs.get("Created")  # epoch seconds in a sparse listing
            young = isinstance(created, int | float) and now - created < stale_seconds
            if summary.attrs.get("State") == "running" and (young or not isinstance(created, int | float)):
                continue
        try:
            summary.remove(force=True)
        except Exception as exc:  # noqa: BLE001 - one stuck container must not stop the sweep (or the worker)
            if not _gone(exc, 409):
                log.warning("could not remove the orphaned sandbox %s: %s", summary.id[:12], exc)
            continue
        removed.append(summary.id)
        _remove_folders(summary.attrs.get("Mounts") or [], jobs_root)
    return removed


def _remove_folders(mounts: list[dict[str, Any]], jobs_root: Path | None) -> None:
    """The removed sandbox's own job and channel folders, never anything else (the labels are not
    trusted with paths: only a bind source that is a job-/channels- folder right in the jobs root)."""
    root = Path(tempfile.gettempdir() if jobs_root is None else jobs_root)
    for mount in mounts:
        source = Path(str(mount.get("Source", "")))
        if (
            source.parent == root
            and source.name.startswith(("job-", "channels-"))
            and not source.is_symlink()
        ):
            shutil.rmtree(source, ignore_errors=True)
