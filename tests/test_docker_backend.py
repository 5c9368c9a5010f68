"""The Docker backend: its container configuration, its socket channels, its SDK code against fakes.

No Docker engine is available here, so what reaches the engine is only checked
as data (``container_config``) and through fake clients. The Unix socket
transport is exercised for real, with plain subprocesses in the container's place.
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
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.harness.channels import connect_channels
from grader.sandbox import bwrap
from grader.sandbox.docker import (
    CHANNEL_NAMES,
    ChannelFds,
    DockerSandbox,
    container_config,
    open_channel_sockets,
    orphan_filters,
    sdk_kwargs,
    sweep_orphans,
)
from grader.sandbox.limits import Limits, MiB

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
        gpu_index=gpu_index, uid=uid, run_id="run-42", worker_id="worker-7",
    )  # fmt: skip


# --- container_config -------------------------------------------------------------------------


def test_isolation_fields() -> None:
    config = make_config()
    assert config["network_mode"] == "none"
    assert config["read_only"] is True
    assert config["cap_drop"] == ["ALL"]
    assert "cap_add" not in config and "privileged" not in config
    assert config["security_opt"] == ["no-new-privileges:true"]
    assert config["user"] == f"{UID}:{UID}"
    assert config["init"] is True
    assert config["stdin_open"] is False and config["detach"] is True and config["auto_remove"] is False
    assert config["image"] == "grader-sandbox:1"
    assert config["command"] == ["python", "-s", "-u", "-m", "harness"]
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


def test_tmpfs_sizes() -> None:
    tmpfs = make_config()["tmpfs"]
    assert set(tmpfs) == {"/workspace", "/tmp", "/dev/shm"}
    assert tmpfs["/workspace"] == f"size={96 * MiB},mode=1777"
    assert tmpfs["/tmp"] == f"size={24 * MiB},mode=1777"  # a quarter of the disk budget, as bwrap
    assert tmpfs["/dev/shm"] == "size=64m"
    small = make_config(Limits(disk_bytes=16 * MiB))["tmpfs"]
    assert small["/tmp"] == f"size={8 * MiB},mode=1777"  # never below 8 MiB


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
        "grader.sandbox": "1",
        "grader.run": "run-42",
        "grader.worker": "worker-7",
    }


def test_engine_logs_are_capped() -> None:
    log = make_config()["log_config"]
    assert log == {"type": "json-file", "config": {"max-size": str(4 * MiB), "max-file": "2"}}


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
            "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "GRADER_CHANNELS",
        }  # fmt: skip
        assert all(isinstance(value, str) for value in env.values())
        assert SECRET not in repr(config)
        assert not set(env) & {"GRADER_FAKE_SECRET", "AWS_SECRET_ACCESS_KEY", "DATABASE_URL"}
        assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
        assert (
            env["HOME"] == "/workspace" and env["PYTHONPATH"] == "/opt/grader" and env["MPLBACKEND"] == "Agg"
        )
        assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "2"
        assert env["GRADER_CHANNELS"] == (
            "unix:/channels/metrics.sock,unix:/channels/control.sock,unix:/channels/results.sock"
        )


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
    # Deliberate differences: PATH (images keep Python in /usr/local), the channel transport,
    # and NVIDIA_VISIBLE_DEVICES (bubblewrap has no GPU runtime to steer).
    assert set(docker_env) == set(bwrap_env) | {"NVIDIA_VISIBLE_DEVICES"}
    for name in set(bwrap_env) - {"PATH", "GRADER_CHANNELS"}:
        assert docker_env[name] == bwrap_env[name], name


def test_sdk_kwargs_converts_lazily(fake_docker: types.SimpleNamespace) -> None:
    config = make_config(gpu_index=2)
    kwargs = sdk_kwargs(config)
    assert all(isinstance(u, fake_docker.Ulimit) for u in kwargs["ulimits"])
    assert [dict(u) for u in kwargs["ulimits"]] == config["ulimits"]
    assert isinstance(kwargs["device_requests"][0], fake_docker.DeviceRequest)
    assert dict(kwargs["device_requests"][0]) == config["device_requests"][0]
    assert isinstance(kwargs["log_config"], fake_docker.LogConfig)
    assert isinstance(config["ulimits"][0], dict) and not isinstance(config["ulimits"][0], fake_docker.Ulimit)
    assert {k: v for k, v in kwargs.items() if k not in ("ulimits", "device_requests", "log_config")} == {
        k: v for k, v in config.items() if k not in ("ulimits", "device_requests", "log_config")
    }
    assert "device_requests" not in sdk_kwargs(make_config())


def test_module_imports_without_the_sdk() -> None:
    code = "import sys, grader.sandbox.docker; assert 'docker' not in sys.modules, 'docker imported eagerly'"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


# --- fakes for the SDK ------------------------------------------------------------------------


class _Recorded(dict[str, Any]):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs)


@pytest.fixture
def fake_docker(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """A stand-in ``docker`` package exposing just the types ``sdk_kwargs`` imports."""
    kinds = types.SimpleNamespace(
        Ulimit=type("Ulimit", (_Recorded,), {}),
        DeviceRequest=type("DeviceRequest", (_Recorded,), {}),
        LogConfig=type("LogConfig", (_Recorded,), {}),
    )
    package, submodule = types.ModuleType("docker"), types.ModuleType("docker.types")
    for name in ("Ulimit", "DeviceRequest", "LogConfig"):
        setattr(submodule, name, getattr(kinds, name))
    package.types = submodule  # type: ignore[attr-defined]
    package.from_env = lambda: pytest.fail("the fake client should have been passed in")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "docker", package)
    monkeypatch.setitem(sys.modules, "docker.types", submodule)
    return kinds


class NotFound(Exception):
    status_code = 404


class APIError(Exception):
    status_code = 500


CHILD = textwrap.dedent(
    """
    import os, sys
    from harness.channels import connect_channels
    metrics, control, results = connect_channels(os.environ["GRADER_CHANNELS"])
    os.write(metrics, b"hello\\n")
    line = b""
    while not line.endswith(b"\\n"):
        chunk = os.read(control, 100)
        if not chunk:
            sys.exit(3)
        line += chunk
    os.write(results, b"echo:" + line)
    """
)


class FakeContainer:
    """Plays the container: ``start`` runs the harness side of the channels as a subprocess."""

    def __init__(self, kwargs: dict[str, Any], behaviour: str) -> None:
        self.kwargs, self.behaviour = kwargs, behaviour
        self.status, self.removed = "created", 0
        self.child: subprocess.Popen[bytes] | None = None
        self.attrs: dict[str, Any] = {}

    def start(self) -> None:
        if self.behaviour == "start-fails":
            raise APIError("start failed")
        if self.behaviour == "exits":
            self.status = "exited"
            return
        host_dir = next(host for host, bind in self.kwargs["volumes"].items() if bind["bind"] == "/channels")
        spec = self.kwargs["environment"]["GRADER_CHANNELS"].replace("/channels", host_dir)
        env = {"GRADER_CHANNELS": spec, "PYTHONPATH": str(HARNESS_PARENT)}
        self.child = subprocess.Popen([sys.executable, "-s", "-c", CHILD], env=env)
        self.status = "running"

    def reload(self) -> None:
        pass

    def remove(self, force: bool = False) -> None:
        assert force
        self.removed += 1
        if self.child is not None:
            self.child.kill()
            self.child.wait()
        if self.behaviour == "remove-fails":
            raise APIError("engine down")


class FakeClient:
    def __init__(self, behaviour: str = "ok") -> None:
        self.behaviour = behaviour
        self.created: list[FakeContainer] = []
        self.containers = self

    def create(self, **kwargs: Any) -> FakeContainer:
        self.created.append(FakeContainer(kwargs, self.behaviour))
        return self.created[-1]


def _read_line(fd: int, timeout: float = 20.0) -> bytes:
    data, end = b"", time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not data.endswith(b"\n") and time.monotonic() < end:
            if selector.select(0.2):
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                data += chunk
    return data


SANDBOX_UID = os.getuid() or 4242  # a plain uid; as root, chown to a fake one works


def make_sandbox(client: FakeClient, root: Path, connect_seconds: float = 20.0) -> DockerSandbox:
    return DockerSandbox(
        LIMITS, image="grader-sandbox:1", uid=SANDBOX_UID, worker_id="w1", channels_root=root,
        client=client, connect_seconds=connect_seconds,
    )  # fmt: skip


# --- DockerSandbox against a fake client ------------------------------------------------------


def test_sandbox_start_talk_remove(tmp_path: Path, fake_docker: types.SimpleNamespace) -> None:
    client = FakeClient()
    sandbox = make_sandbox(client, tmp_path / "channels")
    fds = sandbox.start(tmp_path / "job", "run-1")
    container = client.created[0]
    assert container.kwargs["labels"]["grader.run"] == "run-1"
    assert container.kwargs["volumes"][str(tmp_path / "job")] == {"bind": "/job", "mode": "ro"}
    assert all(isinstance(u, fake_docker.Ulimit) for u in container.kwargs["ulimits"])
    channel_dir = sandbox.channel_dir
    assert channel_dir is not None and stat.S_IMODE(channel_dir.stat().st_mode) == 0o700
    assert channel_dir.stat().st_uid == SANDBOX_UID
    assert _read_line(fds.metrics) == b"hello\n"
    os.set_blocking(fds.control, True)
    os.write(fds.control, b"go\n")
    assert _read_line(fds.results) == b"echo:go\n"
    assert container.child is not None and container.child.wait(timeout=20) == 0
    sandbox.remove()
    assert container.removed == 1 and not channel_dir.exists()
    with pytest.raises(OSError):
        os.fstat(fds.metrics)
    sandbox.remove()  # idempotent
    assert container.removed == 1
    with pytest.raises(RuntimeError, match="once"):
        sandbox.start(tmp_path / "job", "run-2")


def test_sandbox_removed_when_start_fails(tmp_path: Path, fake_docker: types.SimpleNamespace) -> None:
    client = FakeClient("start-fails")
    sandbox = make_sandbox(client, tmp_path)
    with pytest.raises(APIError):
        sandbox.start(tmp_path / "job", "run-1")
    assert client.created[0].removed == 1
    assert sandbox.container is None and sandbox.channel_dir is None
    assert list(tmp_path.iterdir()) == []


def test_sandbox_removed_when_container_exits_early(
    tmp_path: Path, fake_docker: types.SimpleNamespace
) -> None:
    client = FakeClient("exits")
    sandbox = make_sandbox(client, tmp_path)
    with pytest.raises(bwrap.SandboxUnavailable, match="exited"):
        sandbox.start(tmp_path / "job", "run-1")
    assert client.created[0].removed == 1 and list(tmp_path.iterdir()) == []


def test_context_manager_removes_and_surfaces_engine_errors(
    tmp_path: Path, fake_docker: types.SimpleNamespace
) -> None:
    client = FakeClient()
    with pytest.raises(KeyError), make_sandbox(client, tmp_path) as sandbox:
        sandbox.start(tmp_path / "job", "run-1")
        raise KeyError("the run failed")
    assert client.created[0].removed == 1 and list(tmp_path.iterdir()) == []
    failing = make_sandbox(FakeClient("remove-fails"), tmp_path)
    failing.start(tmp_path / "job", "run-2")
    with pytest.raises(APIError):
        failing.remove()
    assert list(tmp_path.iterdir()) == []  # local state is cleaned up all the same


# --- orphan sweeping --------------------------------------------------------------------------


def test_orphan_filters() -> None:
    assert orphan_filters("worker-7") == {"label": ["grader.sandbox=1", "grader.worker=worker-7"]}
    assert orphan_filters(None) == {"label": ["grader.sandbox=1"]}


class ListedContainer:
    def __init__(
        self, ident: str, labels: dict[str, str], created: Any, error: Exception | None = None
    ) -> None:
        self.id, self.error, self.removed = ident, error, False
        self.attrs = {"Id": ident, "Labels": labels, "Created": created}

    def remove(self, force: bool = False) -> None:
        assert force
        if self.error is not None:
            raise self.error
        self.removed = True


class ListingClient:
    def __init__(self, listed: list[ListedContainer]) -> None:
        self.listed, self.containers = listed, self
        self.calls: list[dict[str, Any]] = []

    def list(self, **kwargs: Any) -> list[ListedContainer]:
        self.calls.append(kwargs)
        return self.listed


def test_sweep_orphans() -> None:
    now = 1_700_000_000.0
    mine = {"grader.sandbox": "1", "grader.worker": "w1"}
    listed = [
        ListedContainer("old", mine, int(now - 600)),
        ListedContainer("young", mine, int(now - 5)),
        ListedContainer("other-worker", {"grader.sandbox": "1", "grader.worker": "w2"}, int(now - 600)),
        ListedContainer("not-ours", {"app": "db"}, int(now - 600)),
        ListedContainer("unknown-age", mine, "yesterday"),
        ListedContainer("vanished", mine, int(now - 600), NotFound()),
    ]
    client = ListingClient(listed)
    assert sweep_orphans(client, "w1", 60, now=now) == ["old"]
    assert client.calls == [{"all": True, "sparse": True, "filters": orphan_filters("w1")}]
    everyone = ListingClient([ListedContainer("a", mine, 0), listed[2], listed[3]])
    assert sweep_orphans(everyone, None, 60, now=now) == ["a", "other-worker"]
    broken = ListingClient([ListedContainer("b", mine, 0, APIError("engine down"))])
    with pytest.raises(APIError):
        sweep_orphans(broken, "w1", 0, now=now)


# --- the channel sockets, for real ------------------------------------------------------------


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
    for name in ("results", "metrics", "control"):  # any order
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(f"{sys.argv[1]}/{name}.sock")
        socks.append(s)
    results, metrics, control = socks
    metrics.sendall(b"hello\\n")
    results.sendall(b"echo:" + control.makefile("rb").readline())
    """
)


def test_plain_subprocess_connects(channel_dir: Path) -> None:
    listeners = open_channel_sockets(channel_dir)
    child = subprocess.Popen([sys.executable, "-c", RAW_CLIENT, str(channel_dir)], env={})
    try:
        fds = listeners.accept_all(20)
        assert isinstance(fds, ChannelFds) and len(set(fds)) == 3
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
        with pytest.raises(TimeoutError, match="control, metrics, results"):
            listeners.accept_all(0.05)
        for name in ("metrics", "results"):
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


def _can_mount_as_root() -> bool:
    return os.geteuid() == 0 and all(shutil.which(tool) for tool in ("unshare", "mount", "setpriv"))


@pytest.mark.skipif(not _can_mount_as_root(), reason="needs root, unshare, mount and setpriv")
def test_sandbox_uid_connects_through_a_read_only_mount() -> None:
    """What the container does: another uid, the sockets behind a read-only bind at /channels."""
    python = "/usr/bin/python3"
    if not os.access(python, os.X_OK):
        pytest.skip("no system python3 usable by another uid")
    base = Path(tempfile.mkdtemp(prefix="chan-test-", dir="/tmp"))
    try:
        base.chmod(0o755)
        (base / "mnt").mkdir(mode=0o755)
        listeners = open_channel_sockets(base / "src", uid=UID)
        spec = ",".join(f"unix:{base}/mnt/{name}.sock" for name in CHANNEL_NAMES)
        child_code = CHILD + f"\nopen({str(base / 'mnt' / 'planted')!r}, 'w')\n"
        script = (
            f"mount --bind -o ro {base}/src {base}/mnt && "
            f'exec setpriv --reuid={UID} --regid={UID} --clear-groups {python} -s -c "$CODE"'
        )
        env = {
            "PATH": "/usr/bin:/bin",
            "GRADER_CHANNELS": spec,
            "PYTHONPATH": str(HARNESS_PARENT),
            "CODE": child_code,
        }
        child = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script], env=env, stderr=subprocess.PIPE
        )
        try:
            fds = listeners.accept_all(20)
            assert _read_line(fds.metrics) == b"hello\n"
            os.set_blocking(fds.control, True)
            os.write(fds.control, b"go\n")
            assert _read_line(fds.results) == b"echo:go\n"
            _, stderr = child.communicate(timeout=20)
        finally:
            child.kill()
            listeners.close()
        assert b"Read-only file system" in stderr  # the sandbox cannot write through /channels
        assert not (base / "src" / "planted").exists()
        for fd in fds:
            os.close(fd)
        # Another uid cannot even reach the sockets.
        again = open_channel_sockets(base / "src2", uid=UID)
        probe = (
            f"import socket; socket.socket(socket.AF_UNIX).connect({str(base / 'src2' / 'metrics.sock')!r})"
        )
        denied = subprocess.run(
            ["setpriv", f"--reuid={UID + 1}", f"--regid={UID + 1}", "--clear-groups", python, "-c", probe],
            capture_output=True, timeout=20,
        )  # fmt: skip
        again.close()
        assert denied.returncode != 0 and b"PermissionError" in denied.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)


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
    spec = ",".join(f"unix:{channel_dir}/{name}.sock" for name in CHANNEL_NAMES)
    mine = connect_channels(spec, timeout=5)
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
        listeners.close()


def test_connect_channels_gives_up_on_a_missing_socket(tmp_path: Path) -> None:
    spec = ",".join(f"unix:{tmp_path}/{name}.sock" for name in CHANNEL_NAMES)
    started = time.monotonic()
    with pytest.raises(FileNotFoundError):
        connect_channels(spec, timeout=0.2)
    assert time.monotonic() - started < 5


def test_harness_channels_is_standard_library_only() -> None:
    tree = ast.parse((ROOT / "grader" / "harness" / "channels.py").read_text())
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
