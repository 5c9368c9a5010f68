"""The Docker backend: the bwrap sandbox in Docker's terms, one container per run.

Containers cannot inherit pipes, so the three channels are Unix sockets the
host listens on in a private directory, mounted read-only at ``/channels``
(connecting needs no write access, and the sandbox cannot write to the host's
disk through it); the harness connects with ``harness.channels.connect_channels``.

``container_config`` and the socket transport are tested for real. The code that
drives the Docker SDK (``sdk_kwargs``, ``DockerSandbox``, ``sweep_orphans``) is
UNTESTED AGAINST A REAL DOCKER ENGINE (there was none where it was written),
only against fakes; ``docker`` is imported lazily. The image must hold Python,
torch, and harness and gradekit under /opt/grader; its ENV still applies, so it
must be built without secrets.
"""

from __future__ import annotations

import os
import selectors
import shutil
import socket
import stat
import tempfile
import time
from contextlib import suppress
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .bwrap import CODEDIR, JOBDIR, WORKDIR, SandboxUnavailable
from .limits import Limits, MiB

CHANNELDIR = "/channels"
CHANNEL_NAMES = ("metrics", "control", "results")
COMMAND = ["python", "-s", "-u", "-m", "harness"]
SANDBOX_LABEL, RUN_LABEL, WORKER_LABEL = "grader.sandbox", "grader.run", "grader.worker"
CONNECT_SECONDS = 60.0
SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL
UNUSED_DIRECTIONS = (socket.SHUT_WR, socket.SHUT_RD, socket.SHUT_WR)  # the host only reads metrics, ...


def sandbox_environment(limits: Limits, gpu: bool) -> dict[str, str]:
    """The container's whole environment, built from nothing (never from ``os.environ``)."""
    threads = str(limits.threads)
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",  # images often install Python under /usr/local
        "HOME": WORKDIR,
        "PYTHONPATH": CODEDIR,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        **dict.fromkeys(("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"), threads),
        # The one GPU granted is device 0 inside. "void" keeps an image's
        # NVIDIA_VISIBLE_DEVICES=all from exposing every GPU under a default nvidia runtime.
        "CUDA_VISIBLE_DEVICES": "0" if gpu else "",
        "NVIDIA_VISIBLE_DEVICES": "void",
        "GRADER_CHANNELS": ",".join(f"unix:{CHANNELDIR}/{name}.sock" for name in CHANNEL_NAMES),
    }


def container_config(
    limits: Limits, *, image: str, job_volume: str, channel_dir: str, gpu_index: int | None, uid: int,
    run_id: str, worker_id: str,
) -> dict[str, Any]:  # fmt: skip
    """Keyword arguments for ``containers.create`` (pass them through ``sdk_kwargs``)."""
    if uid <= 0:
        raise ValueError("the sandbox never runs as root: give it its own uid")
    if gpu_index is not None and gpu_index < 0:
        raise ValueError(f"invalid GPU index {gpu_index}")
    environment = sandbox_environment(limits, gpu_index is not None)
    if gpu_index is not None:
        environment["NVIDIA_VISIBLE_DEVICES"] = str(gpu_index)
    cpu = int(limits.effective_cpu_seconds) + 1  # as bwrap: SIGXCPU at the soft limit, SIGKILL a second later
    tmp_size = max(limits.disk_bytes // 4, 8 * MiB)
    tmpfs = {WORKDIR: f"size={limits.disk_bytes},mode=1777", "/tmp": f"size={tmp_size},mode=1777"}
    config: dict[str, Any] = {
        "image": image, "command": list(COMMAND), "working_dir": WORKDIR, "environment": environment,
        # Isolation: no network, read-only root, no capabilities, no privilege gains, a plain uid.
        "network_mode": "none", "read_only": True, "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"], "user": f"{uid}:{uid}", "init": True,
        "tmpfs": {**tmpfs, "/dev/shm": "size=64m"},
        # Resources: memory+swap equal to memory (no swap), processes, CPUs, rlimits.
        "mem_limit": limits.memory_bytes, "memswap_limit": limits.memory_bytes,
        "pids_limit": limits.processes, "nano_cpus": int(limits.cpu_cores * 1_000_000_000),
        "ulimits": [
            {"name": "nofile", "soft": limits.open_files, "hard": limits.open_files},
            {"name": "fsize", "soft": limits.file_bytes, "hard": limits.file_bytes},
            {"name": "core", "soft": 0, "hard": 0},
            {"name": "cpu", "soft": cpu, "hard": cpu + 1},
        ],
        # /channels is read-only too: connecting to a socket needs no write access to the mount.
        "volumes": {job_volume: {"bind": JOBDIR, "mode": "ro"}, channel_dir: {"bind": CHANNELDIR, "mode": "ro"}},
        # The engine keeps stdout and stderr on the host's disk: at most two files of output_bytes.
        "log_config": {"type": "json-file", "config": {"max-size": str(limits.output_bytes), "max-file": "2"}},
        "labels": {SANDBOX_LABEL: "1", RUN_LABEL: run_id, WORKER_LABEL: worker_id},
        "stdin_open": False, "detach": True, "auto_remove": False,  # removed explicitly, after reading logs
    }  # fmt: skip
    if gpu_index is not None:
        config["device_requests"] = [
            {"Driver": "nvidia", "DeviceIDs": [str(gpu_index)], "Capabilities": [["gpu"]]}
        ]
    return config


def sdk_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with its ulimits and device requests as ``docker.types`` objects."""
    from docker.types import DeviceRequest, LogConfig, Ulimit

    kwargs = dict(config)
    kwargs["ulimits"] = [Ulimit(**limit) for limit in config["ulimits"]]
    kwargs["log_config"] = LogConfig(**config["log_config"])
    if "device_requests" in config:
        kwargs["device_requests"] = [DeviceRequest(**request) for request in config["device_requests"]]
    return kwargs


class ChannelFds(NamedTuple):
    metrics: int  # the host reads
    control: int  # the host writes
    results: int  # the host reads


class ChannelListeners:
    """The host's listening sockets for one sandbox's three channels."""

    def __init__(self, directory: Path, listeners: dict[str, socket.socket]) -> None:
        self.directory = directory
        self._listeners = listeners
        self._accepted: dict[str, socket.socket] = {}

    def accept_all(self, timeout: float) -> ChannelFds:
        """Wait for the three connections (TimeoutError, resumable, if not all came), then stop
        listening, so nothing started later can connect. Non-blocking, one direction each."""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            for name, listener in self._listeners.items():
                if name not in self._accepted:
                    selector.register(listener, selectors.EVENT_READ, name)
            while len(self._accepted) < len(CHANNEL_NAMES):
                for key, _ in selector.select(max(0.0, deadline - time.monotonic())):
                    try:
                        connection, _ = self._listeners[key.data].accept()
                    except BlockingIOError:
                        continue
                    self._accepted[key.data] = connection
                    selector.unregister(key.fileobj)
                if len(self._accepted) < len(CHANNEL_NAMES) and time.monotonic() >= deadline:
                    missing = sorted(set(CHANNEL_NAMES) - set(self._accepted))
                    raise TimeoutError(f"sandbox channels not connected: {', '.join(missing)}")
        self._close_listeners()
        connections = [self._accepted.pop(name) for name in CHANNEL_NAMES]
        for connection, unused in zip(connections, UNUSED_DIRECTIONS, strict=True):
            connection.shutdown(unused)
            connection.setblocking(False)
        return ChannelFds(*(connection.detach() for connection in connections))

    def _close_listeners(self) -> None:
        for name, listener in self._listeners.items():
            listener.close()
            with suppress(FileNotFoundError):
                os.unlink(self.directory / f"{name}.sock")
        self._listeners = {}

    def close(self) -> None:
        self._close_listeners()
        for connection in self._accepted.values():
            connection.close()
        self._accepted = {}


def open_channel_sockets(channel_dir: str | Path, uid: int | None = None) -> ChannelListeners:
    """Listen on the three channel sockets in ``channel_dir`` (new or empty; made 0700, owned by ``uid``)."""
    directory = Path(channel_dir)
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(directory).st_mode) or any(directory.iterdir()):
            raise ValueError(f"{directory} must be a new or an empty directory") from None
    os.chmod(directory, 0o700)
    listeners: dict[str, socket.socket] = {}
    try:
        for name in CHANNEL_NAMES:
            path = directory / f"{name}.sock"
            if len(os.fsencode(path)) > SOCKET_PATH_MAX:
                raise ValueError(f"socket path too long for AF_UNIX: {path}")
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listeners[name] = listener
            listener.bind(str(path))
            os.chmod(path, 0o600)
            if uid is not None:
                os.chown(path, uid, uid)
            listener.listen(1)
            listener.setblocking(False)
        if uid is not None:
            os.chown(directory, uid, uid)
    except BaseException:
        ChannelListeners(directory, listeners).close()
        raise
    return ChannelListeners(directory, listeners)


def _gone(exc: BaseException, *also: int) -> bool:  # the engine's "no such container" (or ``also``)
    return type(exc).__name__ == "NotFound" or getattr(exc, "status_code", None) in (404, *also)


@dataclass(eq=False)
class DockerSandbox:
    """One container for one run, removed on every path (also a context manager). UNTESTED
    AGAINST A REAL DOCKER ENGINE, only against fakes. ``client``: ``docker.from_env()`` if None."""

    limits: Limits
    _: KW_ONLY
    image: str
    uid: int
    worker_id: str
    gpu_index: int | None = None
    channels_root: Path | None = None
    client: Any = None
    connect_seconds: float = CONNECT_SECONDS
    container: Any = field(default=None, init=False)
    channel_dir: Path | None = field(default=None, init=False)
    listeners: ChannelListeners | None = field(default=None, init=False)
    fds: ChannelFds | None = field(default=None, init=False)
    used: bool = field(default=False, init=False)

    def _docker(self) -> Any:
        if self.client is None:
            import docker  # lazily: only this backend needs the SDK

            self.client = docker.from_env()
        return self.client

    def start(self, jobdir: Path, run_id: str) -> ChannelFds:
        """Create and start the container; return the host's channel ends (``remove`` closes them)."""
        if self.used:
            raise RuntimeError("a DockerSandbox runs once")
        self.used = True
        try:
            if self.channels_root is not None:
                self.channels_root.mkdir(parents=True, exist_ok=True)
            self.channel_dir = Path(tempfile.mkdtemp(prefix="channels-", dir=self.channels_root))
            self.listeners = open_channel_sockets(self.channel_dir, self.uid)
            config = container_config(
                self.limits, image=self.image, job_volume=str(jobdir), channel_dir=str(self.channel_dir),
                gpu_index=self.gpu_index, uid=self.uid, run_id=run_id, worker_id=self.worker_id,
            )  # fmt: skip
            self.container = self._docker().containers.create(**sdk_kwargs(config))
            self.container.start()
            self.fds = self._accept(self.listeners)
            return self.fds
        except BaseException:
            self.remove()
            raise

    def _accept(self, listeners: ChannelListeners) -> ChannelFds:
        deadline = time.monotonic() + self.connect_seconds
        while True:
            try:
                return listeners.accept_all(max(0.0, min(1.0, deadline - time.monotonic())))
            except TimeoutError:
                self.container.reload()
                if self.container.status in ("exited", "dead"):
                    raise SandboxUnavailable("the container exited before connecting its channels") from None
                if time.monotonic() >= deadline:
                    raise SandboxUnavailable("the container did not connect its channels in time") from None

    def kill(self) -> None:
        if self.container is not None:
            try:
                self.container.kill()
            except Exception as exc:
                if not _gone(exc, 409):  # 409: not running any more
                    raise

    def wait(self, timeout: float) -> int | None:
        """The exit status, or None if the container still runs after ``timeout`` seconds."""
        try:
            return int(self.container.wait(timeout=timeout)["StatusCode"])
        except Exception:  # noqa: BLE001 - the SDK reports a timeout as a requests exception
            return None

    def remove(self) -> None:
        """Remove the container, close the channels, delete the channel directory (idempotent)."""
        container, self.container = self.container, None
        try:
            if container is not None:
                try:
                    container.remove(force=True)
                except Exception as exc:
                    if not _gone(exc):
                        raise
        finally:
            if self.listeners is not None:
                self.listeners.close()
                self.listeners = None
            for fd in self.fds or ():
                with suppress(OSError):
                    os.close(fd)
            self.fds = None
            if self.channel_dir is not None:
                shutil.rmtree(self.channel_dir, ignore_errors=True)
                self.channel_dir = None

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def orphan_filters(worker_id: str | None) -> dict[str, list[str]]:
    """Engine-side filters for this worker's sandboxes (every worker's when None)."""
    labels = [f"{SANDBOX_LABEL}=1"]
    if worker_id is not None:
        labels.append(f"{WORKER_LABEL}={worker_id}")
    return {"label": labels}


def sweep_orphans(
    client: Any, worker_id: str | None, older_than_seconds: float, now: float | None = None
) -> list[str]:
    """Remove sandbox containers left by a crashed worker; return their ids.

    UNTESTED AGAINST A REAL DOCKER ENGINE. A container of unknown age is kept: with
    ``worker_id=None`` it may be another worker's live run.
    """
    now = time.time() if now is None else now
    removed: list[str] = []
    for container in client.containers.list(all=True, sparse=True, filters=orphan_filters(worker_id)):
        labels = container.attrs.get("Labels") or {}
        if labels.get(SANDBOX_LABEL) != "1" or (
            worker_id is not None and labels.get(WORKER_LABEL) != worker_id
        ):
            continue  # the engine's filter is trusted only as a first pass
        created = container.attrs.get("Created")  # epoch seconds in a (sparse) listing
        if not isinstance(created, int | float) or now - created < older_than_seconds:
            continue
        try:
            container.remove(force=True)
        except Exception as exc:
            if not _gone(exc):
                raise
            continue
        removed.append(container.id)
    return removed
