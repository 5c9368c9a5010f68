"""The Docker backend's container, in data: its configuration and its channel sockets.

The bwrap sandbox in Docker's terms, one container per run (``container`` starts
and watches it). Containers cannot inherit pipes, so the three channels, and
stdout and stderr, are Unix sockets the host listens on in a directory of its
own, mounted read-only at ``/channels`` (connecting needs no write access, and
the sandbox cannot write to the host's disk through it); the harness connects
with ``harness.channels``. The image (docker/sandbox.Dockerfile) holds Python,
torch, and harness and gradekit under /opt/grader; its ENV still applies, so it
is built without secrets.
"""

from __future__ import annotations

import os
import selectors
import socket
import stat
import struct
import time
from contextlib import suppress
from pathlib import Path
from typing import Any, NamedTuple

from . import scratch, seccomp
from .bwrap import CODEDIR, JOBDIR, WORKDIR, scratch_sizes
from .limits import Limits

CHANNELDIR = "/channels"
CHANNEL_NAMES = ("metrics", "control", "results", "stdout", "stderr")
# The image's own tini is pid 1, and it and everything under it start with stdin, stdout and stderr
# on /dev/null: no process of the sandbox keeps the pipes to the engine's log, which student code could
# otherwise reach as /proc/1/fd/1 and flood, at the engine's CPU cost, past the output limit (the
# harness puts its two sockets on fds 1 and 2 itself). Docker's own init would keep them.
COMMAND = ["/bin/sh", "-c", "exec /usr/bin/tini -- python -s -u -m harness </dev/null >/dev/null 2>&1"]
SANDBOX_LABEL, RUN_LABEL, WORKER_LABEL = "grader.engine.sandbox", "grader.run", "grader.worker"
HOST_LABEL = "grader.host"  # the worker's host name: a worker sweeps only its own host's containers
CONNECT_SECONDS = 60.0
SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL
# The host only reads metrics, only writes control, only reads the rest.
UNUSED_DIRECTIONS = (socket.SHUT_WR, socket.SHUT_RD, socket.SHUT_WR, socket.SHUT_WR, socket.SHUT_WR)


def sandbox_environment(limits: Limits, gpu: bool) -> dict[str, str]:
    """The container's whole environment, built from nothing (never from ``os.environ``)."""
    threads = str(limits.threads)
    return {
        "PATH": "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",  # the image's virtualenv first
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
        "GRADER_CHANNELS": ",".join(f"unix:{CHANNELDIR}/{name}.sock" for name in CHANNEL_NAMES[:3]),
        "GRADER_STDIO": ",".join(f"unix:{CHANNELDIR}/{name}.sock" for name in CHANNEL_NAMES[3:]),
    }


def container_config(
    limits: Limits, *, image: str, job_volume: str, channel_dir: str, gpu_index: int | None, uid: int,
    run_id: str, worker_id: str, host: str = "",
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
    # The same writable places, sizes and file counts as bubblewrap's (bwrap.scratch_sizes, scratch).
    tmpfs = {
        target: f"size={size},nr_inodes={scratch.files_for(size)},mode=1777"
        for target, size in scratch_sizes(limits).items()
    }
    config: dict[str, Any] = {
        "image": image, "command": list(COMMAND), "working_dir": WORKDIR, "environment": environment,
        # Isolation: no network, read-only root, no capabilities, no privilege gains, a plain uid, and
        # bubblewrap's seccomp filter in place of the engine's default one (seccomp.docker_profile).
        "network_mode": "none", "read_only": True, "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true", f"seccomp={seccomp.docker_profile()}"],
        "user": f"{uid}:{uid}", "init": False, "tmpfs": tmpfs, "ipc_mode": "private",
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
        # stdout and stderr go through /channels (see COMMAND): the engine has nothing to keep.
        "log_config": {"type": "none", "config": {}},
        "labels": {SANDBOX_LABEL: "1", RUN_LABEL: run_id, WORKER_LABEL: worker_id, HOST_LABEL: host},
        "stdin_open": False, "detach": True, "auto_remove": False,  # removed explicitly (container.py)
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
    stdout: int  # the host reads
    stderr: int  # the host reads


class ChannelListeners:
    """The host's listening sockets for one sandbox's three channels."""

    def __init__(self, directory: Path, listeners: dict[str, socket.socket]) -> None:
        self.directory = directory
        self._listeners = listeners
        self._accepted: dict[str, socket.socket] = {}
        self.refused: list[int] = []  # uids of connections refused for not being the sandbox's

    def accept_all(self, timeout: float, peer_uid: int | None = None) -> ChannelFds:
        """Wait for the connections (TimeoutError, resumable, if not all came), then stop listening,
        so nothing started later can connect. Non-blocking, one direction each. With ``peer_uid``, a
        connection from any other uid (the kernel's word: SO_PEERCRED) is closed unread, and the
        socket keeps listening for the sandbox's own."""
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
                    if peer_uid is not None and (uid := _peer_uid(connection)) != peer_uid:
                        connection.close()
                        self.refused.append(uid)
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


def _peer_uid(connection: socket.socket) -> int:
    _, uid, _ = struct.unpack(
        "3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    )
    return int(uid)


def open_channel_sockets(
    channel_dir: str | Path, uid: int | None = None, *, shared: bool = False
) -> ChannelListeners:
    """Listen on the channel sockets in ``channel_dir`` (new or empty; made 0700, owned by ``uid``).

    ``shared``: a worker that is not root cannot give the sockets to the sandbox's uid, so the folder
    is 0711 and the sockets 0666 instead (the jobs folder above, 0700 and the worker's, keeps other
    users of the host out; the container sees only this folder).
    """
    directory = Path(channel_dir)
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(directory).st_mode) or any(directory.iterdir()):
            raise ValueError(f"{directory} must be a new or an empty directory") from None
    os.chmod(directory, 0o711 if shared else 0o700)
    listeners: dict[str, socket.socket] = {}
    try:
        for name in CHANNEL_NAMES:
            path = directory / f"{name}.sock"
            if len(os.fsencode(path)) > SOCKET_PATH_MAX:
                raise ValueError(f"socket path too long for AF_UNIX: {path}")
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listeners[name] = listener
            listener.bind(str(path))
            os.chmod(path, 0o666 if shared else 0o600)
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
