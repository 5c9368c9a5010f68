"""The Docker backend in data: its container configuration and its channel sockets.

What the engine is asked for is checked field by field here; tests/test_docker_engine.py runs
it on a real engine. The Unix socket transport is exercised here with plain subprocesses in
the container's place.
"""

from __future__ import annotations

import ast
import os
import selectors
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.engine.harness.channels import connect_channels
from grader.engine.sandbox import bwrap, seccomp
from grader.engine.sandbox.docker import (
    CHANNEL_NAMES,
    ChannelFds,
    container_config,
    open_channel_sockets,
    sdk_kwargs,
)
from grader.engine.sandbox.limits import Limits, MiB

pytestmark = pytest.mark.long  # Docker: an engine and its images

ROOT = Path(__file__).resolve().parents[1]
HARNESS_PARENT = ROOT / "grader"  # what the sandbox has on PYTHONPATH (as /opt/grader)
UID = 4321
SECRET = "s3cr3t-value-that-must-not-leak"
LIMITS = Limits(
    wall_seconds=100.0, memory_bytes=1536 * MiB, processes=48, file_bytes=32 * MiB,
    disk_bytes=96 * MiB, open_files=200, threads=2, output_bytes=4 * MiB,
)  # fmt: skip


def make_config(limits: Limits = LIMITS, gpu_index: int | None = None, uid: int = UID) -> dict[str, Any]:
    return container_config(
        limits, image="grader-sandbox:1", job_volume="/srv/jobs/job-abc", channel_dir="/srv/channels/ch-abc",
        gpu_index=gpu_index, uid=uid, run_id="run-42", worker_id="worker-7", host="host-1",
    )  # fmt: skip


# --- container_config -------------------------------------------------------------------------


def test_isolation_fields() -> None:
    config = make_config()
    assert config["network_mode"] == "none"
    assert config["read_only"] is True
    assert config["cap_drop"] == ["ALL"]
    assert "cap_add" not in config and "privileged" not in config
    assert config["security_opt"] == ["no-new-privileges:true", f"seccomp={seccomp.docker_profile()}"]
    assert config["ipc_mode"] == "private"
    assert config["user"] == f"{UID}:{UID}"
    assert config["init"] is False  # the image's tini is pid 1, with no pipe to the engine (see COMMAND)
    assert config["stdin_open"] is False and config["detach"] is True and config["auto_remove"] is False
    assert config["image"] == "grader-sandbox:1"
    assert config["command"] == [
        "/bin/sh", "-c", "exec /usr/bin/tini -- python -s -u -m harness </dev/null >/dev/null 2>&1"
    ]  # fmt: skip
    assert config["working_dir"] == "/workspace"


@pytest.mark.parametrize("uid", [0, -1])
def test_refuses_root_uid(uid: int) -> None:
    with pytest.raises(ValueError, match="root"):
        make_config(uid=uid)


def test_resource_limits() -> None:
    config = make_config()
    assert config["mem_limit"] == LIMITS.memory_bytes
    assert config["memswap_limit"] == config["mem_limit"]  # memory+swap == memory: no swap
    assert config["pids_limit"] == 48
    assert config["nano_cpus"] == 2_000_000_000
    assert isinstance(config["nano_cpus"], int)


def test_tmpfs_sizes_and_file_counts_are_bubblewraps() -> None:
    tmpfs = make_config()["tmpfs"]
    assert set(tmpfs) == {"/workspace", "/tmp", "/dev/shm"}
    assert tmpfs["/workspace"] == f"size={96 * MiB},nr_inodes={96 * MiB // 8192},mode=1777"
    assert tmpfs["/tmp"] == f"size={24 * MiB},nr_inodes=3072,mode=1777"  # a quarter of the disk budget
    assert tmpfs["/dev/shm"] == tmpfs["/tmp"]
    small = make_config(Limits(disk_bytes=16 * MiB))["tmpfs"]
    assert small["/tmp"] == f"size={8 * MiB},nr_inodes=2048,mode=1777"  # never below 8 MiB, 2048 files


def test_ulimits() -> None:
    ulimits = {u["name"]: (u["soft"], u["hard"]) for u in make_config()["ulimits"]}
    assert ulimits["nofile"] == (200, 200)
    assert ulimits["fsize"] == (32 * MiB, 32 * MiB)
    assert ulimits["core"] == (0, 0)
    assert ulimits["cpu"] == (201, 202)  # cpu_seconds None: 2 x wall, then as bwrap's rlimit
    explicit = {u["name"]: u for u in make_config(Limits(cpu_seconds=30.0))["ulimits"]}
    assert (explicit["cpu"]["soft"], explicit["cpu"]["hard"]) == (31, 32)
    assert all(set(u) == {"name", "soft", "hard"} for u in make_config()["ulimits"])


def test_volumes_job_read_only_and_channels() -> None:
    volumes = make_config()["volumes"]
    assert volumes == {
        "/srv/jobs/job-abc": {"bind": "/job", "mode": "ro"},
        "/srv/channels/ch-abc": {"bind": "/channels", "mode": "ro"},
    }


def test_labels() -> None:
    assert make_config()["labels"] == {
        "grader.engine.sandbox": "1",
        "grader.run": "run-42",
        "grader.worker": "worker-7",
        "grader.host": "host-1",
    }


def test_the_engine_keeps_no_log() -> None:
    log = make_config()["log_config"]  # stdout and stderr go through /channels from the harness's start
    assert log == {"type": "none", "config": {}}


def test_no_gpu_without_an_index() -> None:
    config = make_config(gpu_index=None)
    assert "device_requests" not in config
    assert "runtime" not in config and "devices" not in config
    assert config["environment"]["CUDA_VISIBLE_DEVICES"] == ""
    assert config["environment"]["NVIDIA_VISIBLE_DEVICES"] == "void"


@pytest.mark.parametrize("index", [0, 3])
def test_only_the_assigned_gpu(index: int) -> None:
    config = make_config(gpu_index=index)
    assert config["device_requests"] == [
        {"Driver": "nvidia", "DeviceIDs": [str(index)], "Capabilities": [["gpu"]]}
    ]
    assert config["environment"]["NVIDIA_VISIBLE_DEVICES"] == str(index)
    assert config["environment"]["CUDA_VISIBLE_DEVICES"] == "0"  # the one GPU visible inside


def test_negative_gpu_index_refused() -> None:
    with pytest.raises(ValueError, match="GPU"):
        make_config(gpu_index=-1)


def test_environment_is_built_from_scratch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADER_FAKE_SECRET", SECRET)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("DATABASE_URL", f"postgres://grader:{SECRET}@db/grader")
    monkeypatch.setenv("PATH", f"/secret/{SECRET}/bin:/usr/bin")
    for gpu in (None, 1):
        config = make_config(gpu_index=gpu)
        env = config["environment"]
        assert set(env) == {
            "PATH", "HOME", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "LANG", "MPLBACKEND",
            "MPLCONFIGDIR", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
            "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "GRADER_CHANNELS", "GRADER_STDIO",
        }  # fmt: skip
        assert all(isinstance(value, str) for value in env.values())
        assert SECRET not in repr(config)
        assert not set(env) & {"GRADER_FAKE_SECRET", "AWS_SECRET_ACCESS_KEY", "DATABASE_URL"}
        assert env["PATH"] == "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin"
        assert (
            env["HOME"] == "/workspace" and env["PYTHONPATH"] == "/opt/grader" and env["MPLBACKEND"] == "Agg"
        )
        assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "2"
        assert env["GRADER_CHANNELS"] == (
            "unix:/channels/metrics.sock,unix:/channels/control.sock,unix:/channels/results.sock"
        )
        assert env["GRADER_STDIO"] == "unix:/channels/stdout.sock,unix:/channels/stderr.sock"


def test_environment_matches_the_bwrap_backend(tmp_path: Path) -> None:
    try:
        bwrap.bwrap_path()
    except bwrap.SandboxUnavailable:
        pytest.skip("bubblewrap is not installed")
    opened: list[int] = []
    try:
        args = bwrap.build_command(LIMITS, tmp_path, None, [3, 4, 5], opened, [])
    finally:
        for fd in opened:
            os.close(fd)
    bwrap_env = {args[i + 1]: args[i + 2] for i, arg in enumerate(args) if arg == "--setenv"}
    docker_env = make_config()["environment"]
    # Deliberate differences: PATH (the image's virtualenv), the channel transport (and stdout and
    # stderr through it), and NVIDIA_VISIBLE_DEVICES (bubblewrap has no GPU runtime to steer).
    assert set(docker_env) == set(bwrap_env) | {"NVIDIA_VISIBLE_DEVICES", "GRADER_STDIO"}
    for name in set(bwrap_env) - {"PATH", "GRADER_CHANNELS"}:
        assert docker_env[name] == bwrap_env[name], name


def test_sdk_kwargs_are_the_sdks_own_types() -> None:
    from docker.types import DeviceRequest, LogConfig, Ulimit

    config = make_config(gpu_index=2)
    kwargs = sdk_kwargs(config)
    assert all(isinstance(u, Ulimit) for u in kwargs["ulimits"])
    assert [{"name": u.name, "soft": u.soft, "hard": u.hard} for u in kwargs["ulimits"]] == config["ulimits"]
    assert isinstance(kwargs["device_requests"][0], DeviceRequest)
    request = kwargs["device_requests"][0]
    assert (request.driver, request.device_ids, request.capabilities) == ("nvidia", ["2"], [["gpu"]])
    assert isinstance(kwargs["log_config"], LogConfig)
    assert isinstance(config["ulimits"][0], dict) and not isinstance(config["ulimits"][0], Ulimit)
    assert {k: v for k, v in kwargs.items() if k not in ("ulimits", "device_requests", "log_config")} == {
        k: v for k, v in config.items() if k not in ("ulimits", "device_requests", "log_config")
    }
    assert "device_requests" not in sdk_kwargs(make_config())


def test_module_imports_without_the_sdk() -> None:
    code = "import sys, grader.engine.sandbox.docker; assert 'docker' not in sys.modules, 'docker imported eagerly'"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


# --- the channel sockets, for real ------------------------------------------------------------


def _read_line(fd: int, timeout: float = 20.0) -> bytes:
    deadline, data = time.monotonic() + timeout, b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not data.endswith(b"\n") and time.monotonic() < deadline:
            if selector.select(max(0.0, deadline - time.monotonic())):
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                data += chunk
    return data


@pytest.fixture
def channel_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "ch"


def test_socket_files_are_private(channel_dir: Path) -> None:
    listeners = open_channel_sockets(channel_dir, uid=os.getuid())
    try:
        assert stat.S_IMODE(channel_dir.stat().st_mode) == 0o700
        for name in CHANNEL_NAMES:
            info = (channel_dir / f"{name}.sock").stat()
            assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
            assert info.st_uid == os.getuid()
    finally:
        listeners.close()
    assert list(channel_dir.iterdir()) == []


def test_refuses_a_directory_with_content(channel_dir: Path) -> None:
    channel_dir.mkdir()
    (channel_dir / "metrics.sock").write_text("planted")
    with pytest.raises(ValueError, match="empty"):
        open_channel_sockets(channel_dir)
    link = channel_dir.parent / "link"
    link.symlink_to(channel_dir.parent / "elsewhere", target_is_directory=True)
    (channel_dir.parent / "elsewhere").mkdir()
    with pytest.raises(ValueError, match="empty"):
        open_channel_sockets(link)


def test_socket_path_too_long(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="too long"):
        open_channel_sockets(tmp_path / ("x" * 120))


RAW_CLIENT = textwrap.dedent(
    """
    import socket, sys
    socks = []
    for name in ("results", "stderr", "metrics", "stdout", "control"):  # any order
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(f"{sys.argv[1]}/{name}.sock")
        socks.append(s)
    results, _, metrics, _, control = socks
    metrics.sendall(b"hello\\n")
    results.sendall(b"echo:" + control.makefile("rb").readline())
    """
)


def test_plain_subprocess_connects(channel_dir: Path) -> None:
    listeners = open_channel_sockets(channel_dir)
    child = subprocess.Popen([sys.executable, "-c", RAW_CLIENT, str(channel_dir)], env={})
    try:
        fds = listeners.accept_all(20)
        assert isinstance(fds, ChannelFds) and len(set(fds)) == 5
        assert list(channel_dir.iterdir()) == []  # no longer listening: nothing else can connect
        assert _read_line(fds.metrics) == b"hello\n"
        os.set_blocking(fds.control, True)
        os.write(fds.control, b"go\n")
        assert _read_line(fds.results) == b"echo:go\n"
        assert child.wait(timeout=20) == 0
        with pytest.raises(BrokenPipeError):
            os.write(fds.metrics, b"the host only reads metrics")
        for fd in fds:
            os.close(fd)
    finally:
        child.kill()
        child.wait()
        listeners.close()


def test_accept_all_times_out_and_resumes(channel_dir: Path) -> None:
    listeners = open_channel_sockets(channel_dir)
    early: list[socket.socket] = []
    try:
        with pytest.raises(TimeoutError, match="control, metrics, results, stderr, stdout"):
            listeners.accept_all(0.05)
        for name in ("metrics", "results", "stdout", "stderr"):
            early.append(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
            early[-1].connect(str(channel_dir / f"{name}.sock"))
        with pytest.raises(TimeoutError, match=r"not connected: control$"):
            listeners.accept_all(0.2)
        early.append(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        early[-1].connect(str(channel_dir / "control.sock"))
        fds = listeners.accept_all(5)
        early[0].sendall(b"m\n")
        assert _read_line(fds.metrics) == b"m\n"
        for fd in fds:
            os.close(fd)
    finally:
        for sock in early:
            sock.close()
        listeners.close()


# --- connect_channels (harness side) ----------------------------------------------------------


def test_connect_channels_inherited_fds() -> None:
    pipes = [os.pipe() for _ in range(3)]
    try:
        spec = f"{pipes[0][1]},{pipes[1][0]}, {pipes[2][1]}"
        assert connect_channels(spec) == (pipes[0][1], pipes[1][0], pipes[2][1])
    finally:
        for read_end, write_end in pipes:
            os.close(read_end)
            os.close(write_end)
    closed = next(fd for fd in range(900, 1000) if not _is_open(fd))
    with pytest.raises(OSError):
        connect_channels(f"{closed},{closed},{closed}")  # not passed by the host


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    "spec", ["", "3,4", "3,4,5,6", "3,four,5", "-3,4,5", "unix:relative.sock,4,5", "tcp:1.2.3.4:80,4,5"]
)
def test_connect_channels_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError):
        connect_channels(spec)


def test_connect_channels_unix_in_process(channel_dir: Path) -> None:
    listeners = open_channel_sockets(channel_dir)
    spec = ",".join(f"unix:{channel_dir}/{name}.sock" for name in CHANNEL_NAMES[:3])
    mine = connect_channels(spec, timeout=5)
    stdio = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(2)]
    for sock, name in zip(stdio, CHANNEL_NAMES[3:], strict=True):
        sock.connect(str(channel_dir / f"{name}.sock"))
    try:
        host = listeners.accept_all(5)
        assert all(os.get_blocking(fd) and not os.get_inheritable(fd) for fd in mine)
        os.write(mine[0], b"metrics\n")
        assert _read_line(host.metrics) == b"metrics\n"
        os.write(host.control, b"control\n")
        assert os.read(mine[1], 100) == b"control\n"
        for fd in host:
            os.close(fd)
    finally:
        for fd in mine:
            os.close(fd)
        for sock in stdio:
            sock.close()
        listeners.close()


def test_connect_channels_gives_up_on_a_missing_socket(tmp_path: Path) -> None:
    spec = ",".join(f"unix:{tmp_path}/{name}.sock" for name in CHANNEL_NAMES[:3])
    started = time.monotonic()
    with pytest.raises(FileNotFoundError):
        connect_channels(spec, timeout=0.2)
    assert time.monotonic() - started < 5


def test_harness_channels_is_standard_library_only() -> None:
    tree = ast.parse((ROOT / "grader" / "engine" / "harness" / "channels.py").read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert all(node.level == 0 for node in ast.walk(tree) if isinstance(node, ast.ImportFrom))
    assert imported and imported <= set(sys.stdlib_module_names) | {"__future__"}


def test_a_connection_from_another_uid_is_refused_and_the_sandboxs_own_is_taken() -> None:
    """A worker that is not root opens its sockets to all (``shared``): the kernel's word on the peer's
    uid (SO_PEERCRED) decides, so another user of the host who connects first gets nothing."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to connect as two other uids")
    base = Path(tempfile.mkdtemp(prefix="chan-peer-", dir="/tmp"))
    try:
        base.chmod(0o755)
        listeners = open_channel_sockets(base / "ch", shared=True)
        client = ["/usr/bin/python3", "-c", RAW_CLIENT, str(base / "ch")]
        intruder = subprocess.Popen(
            ["setpriv", f"--reuid={UID + 1}", f"--regid={UID + 1}", "--clear-groups", *client],
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            with pytest.raises(TimeoutError):
                listeners.accept_all(3, peer_uid=UID)
            intruder.wait(20)  # connected, then cut off unread
        finally:
            intruder.kill()
        assert set(listeners.refused) == {UID + 1}
        sandbox = subprocess.Popen(["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups", *client])
        try:
            fds = listeners.accept_all(20, peer_uid=UID)
            assert _read_line(fds.metrics) == b"hello\n"
            for fd in fds:
                os.close(fd)
        finally:
            sandbox.kill()
            sandbox.wait()
            listeners.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
