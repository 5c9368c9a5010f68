"""The bubblewrap backend: a throwaway Linux sandbox started in milliseconds.

New user, pid, network, ipc, uts and mount namespaces; a read-only view of the
Python runtime and nothing else of the host; tmpfs work dir, /tmp and /dev/shm
capped in bytes and (as root) in files (see ``scratch``); an empty environment; no network at all (not even the host's loopback).
Limits bubblewrap does not enforce come from a cgroup (see ``cgroups``) or,
without one, from rlimits plus the supervisor's watchdog.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import scratch, seccomp
from .cgroups import Cgroup
from .limits import Limits
from .scratch import Scratch

WORKDIR = "/workspace"
JOBDIR = "/job"
CODEDIR = "/opt/grader"
HARNESS_SOURCES = Path(__file__).resolve().parents[1] / "harness"
GRADEKIT_SOURCES = Path(__file__).resolve().parents[3] / "gradekit"


class SandboxUnavailable(RuntimeError):
    """The host cannot run sandboxes (the platform's problem, never the student's)."""


def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if not path:
        raise SandboxUnavailable("bubblewrap is not installed: run `apt-get install bubblewrap`.")
    return path


def runtime_paths() -> list[str]:
    """Host directories the sandbox sees read-only: the OS runtime and the Python install."""
    paths = ["/usr"]
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        if not prefix.startswith("/usr/"):
            paths.append(prefix)
    return sorted(set(paths))


@dataclass
class SandboxProcess:
    popen: subprocess.Popen[bytes]
    metrics: int  # read end
    control: int  # write end
    results: int  # read end
    jobdir: Path
    cgroup: Cgroup | None
    uid: int | None
    place: Scratch | None = None
    started: float = 0.0
    closed: bool = field(default=False)
    link: socket.socket | None = None  # a fork server's link (grader/engine/sandbox/forkserver.py)
    shared = False  # job files are chowned to ``uid`` (as root) or are the worker's own

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def stdout(self) -> int:
        return self.popen.stdout.fileno()  # type: ignore[union-attr]

    @property
    def stderr(self) -> int:
        return self.popen.stderr.fileno()  # type: ignore[union-attr]

    def poll(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def apply_limits(self, limits: Limits) -> None:
        """A warm sandbox started with the slot's limits takes this job's memory, process and CPU limits."""
        if self.cgroup is not None:
            self.cgroup.set_limits(limits.memory_bytes, limits.processes, limits.cpu_cores)

    def kill(self) -> None:
        if self.cgroup is not None:
            self.cgroup.kill_all()
        try:
            os.killpg(self.popen.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass

    def close(self) -> None:
        """Kill everything, reap, and remove the cgroup and the job dir."""
        if self.closed:
            return
        self.closed = True
        self.kill()
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self.metrics, self.control, self.results):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.link is not None:
            self.link.close()
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()
        if self.cgroup is not None:
            self.cgroup.destroy()
        if self.place is not None:
            self.place.close()
        shutil.rmtree(self.jobdir, ignore_errors=True)


def _bind_args(fds: list[int], host_path: str, target: str, opened: list[int]) -> list[str]:
    # Bind through an fd opened here, so the sandbox user needs no access to the
    # path's parents (the Python install often lives under a private /root); the
    # parents inside are made world-traversable, as bubblewrap creates them 0700.
    fd = os.open(host_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    opened.append(fd)
    fds.append(fd)
    parents: list[str] = []
    for parent in reversed(Path(target).parents):
        if str(parent) != "/":
            parents += ["--perms", "0755", "--dir", str(parent)]
    return [*parents, "--ro-bind-fd", str(fd), target]


def scratch_sizes(limits: Limits) -> dict[str, int]:
    """The writable places and their caps: the work dir, and /tmp and /dev/shm at a quarter each."""
    tmp = max(limits.disk_bytes // 4, 8 * 1024 * 1024)
    return {"/tmp": tmp, "/dev/shm": tmp, WORKDIR: limits.disk_bytes}


def _writable_args(limits: Limits, place: Scratch | None, fds: list[int], opened: list[int]) -> list[str]:
    if place is None:  # unprivileged: bubblewrap's tmpfs, capped in bytes only
        args: list[str] = []
        for target, size in scratch_sizes(limits).items():
            args += ["--perms", "1777", "--size", str(size), "--tmpfs", target]
        return args
    args = []
    for target, path in place.places.items():
        fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        opened.append(fd)
        fds.append(fd)
        args += ["--bind-fd", str(fd), target]
    return args


def build_command(
    limits: Limits,
    jobdir: Path,
    uid: int | None,
    channels: list[int],
    opened: list[int],
    fds: list[int],
    place: Scratch | None = None,
    fork_link: int | None = None,
) -> list[str]:
    if uid is not None:
        # As root: bubblewrap sets up the namespaces with its privileges, then setpriv
        # drops to the sandbox's own uid with no capabilities, so the student's code
        # is a plain unprivileged uid on the host too (not root mapped into a userns).
        namespaces = [
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
        ]
        namespaces += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        drop = ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--"]  # fmt: skip
    else:
        namespaces, drop = ["--unshare-all"], []
    args = [
        bwrap_path(), *namespaces, "--die-with-parent", "--new-session", "--hostname", "sandbox",
        "--proc", "/proc", "--dev", "/dev",
        "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
        "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/sbin", "/sbin",
        # The writable places first: a runtime that lives under /tmp is bound on top.
        *_writable_args(limits, place, fds, opened),
    ]  # fmt: skip
    for path in runtime_paths():
        args += _bind_args(fds, path, path, opened)
    args += _bind_args(fds, str(HARNESS_SOURCES), f"{CODEDIR}/harness", opened)
    args += _bind_args(fds, str(GRADEKIT_SOURCES), f"{CODEDIR}/gradekit", opened)
    args += _bind_args(fds, str(jobdir), JOBDIR, opened)
    passwd = os.memfd_create("passwd", 0)
    os.write(passwd, f"student:x:{uid or 1000}:{uid or 1000}:student:{WORKDIR}:/bin/false\n".encode())
    os.lseek(passwd, 0, os.SEEK_SET)
    opened.append(passwd)
    fds.append(passwd)
    args += ["--perms", "0755", "--dir", "/etc", "--ro-bind-data", str(passwd), "/etc/passwd"]
    seccomp_fd = seccomp.filter_fd(fork_server=fork_link is not None)
    if seccomp_fd is not None:
        opened.append(seccomp_fd)
        fds.append(seccomp_fd)
        args += ["--seccomp", str(seccomp_fd)]
    fork_env: list[str] = []
    if fork_link is not None:
        jobs_filter = seccomp.filter_fd(always=True)
        assert jobs_filter is not None
        opened.append(jobs_filter)
        fds.append(jobs_filter)
        fork_env = ["--setenv", "GRADER_FORK", f"{fork_link},{jobs_filter}"]
    args += [
        "--remount-ro", "/",
        "--clearenv",
        "--setenv", "PATH", "/usr/bin:/bin",
        "--setenv", "HOME", WORKDIR,
        "--setenv", "PYTHONPATH", CODEDIR,
        "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
        "--setenv", "PYTHONHASHSEED", "0",
        "--setenv", "LANG", "C.UTF-8",
        "--setenv", "MPLBACKEND", "Agg",
        "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib",
        "--setenv", "OMP_NUM_THREADS", str(limits.threads),
        "--setenv", "MKL_NUM_THREADS", str(limits.threads),
        "--setenv", "OPENBLAS_NUM_THREADS", str(limits.threads),
        *_gpu_args(limits.gpu_index),
        "--setenv", "GRADER_CHANNELS", ",".join(map(str, channels)),
        *fork_env,
        "--chdir", WORKDIR,
        "--",
        *drop,
        sys.executable, "-s", "-u", "-m", "harness",
    ]  # fmt: skip
    return args


def _gpu_args(index: int | None) -> list[str]:
    """Only the slot's own GPU device node (plus the control nodes) exists inside.

    Untested: there is no GPU on the machines this was written on.
    """
    if index is None:
        return ["--setenv", "CUDA_VISIBLE_DEVICES", ""]
    nodes = [f"/dev/nvidia{index}", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]
    args: list[str] = []
    for node in nodes:
        if os.path.exists(node):
            args += ["--dev-bind", node, node]
    return [*args, "--setenv", "CUDA_VISIBLE_DEVICES", str(index)]


def _preexec(limits: Limits, procs_files: list[str], uid: int | None) -> None:
    """Runs in the child between fork and exec: join the cgroup and set rlimits."""
    for path in procs_files:
        with open(path, "w") as handle:
            handle.write(str(os.getpid()))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    cpu = int(limits.effective_cpu_seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    if not procs_files:
        # No cgroup: RLIMIT_DATA instead of RLIMIT_AS (which breaks CUDA's reservations),
        # plus the supervisor's resident-memory watchdog.
        resource.setrlimit(resource.RLIMIT_DATA, (limits.memory_bytes, limits.memory_bytes))
        if uid is not None:
            # Counted per uid (warm sandboxes of the slot included): only without a pids cgroup.
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))


def spawn(limits: Limits, jobdir: Path, uid: int | None, fork_server: bool = False) -> SandboxProcess:
    """Start a sandbox running the harness; it imports torch and waits for a job (or, as a
    ``fork_server``, for jobs on its link: see grader/engine/sandbox/forkserver.py)."""
    opened: list[int] = []
    fds: list[int] = []
    cgroup = Cgroup.create(
        f"sb-{uuid.uuid4().hex[:12]}", limits.memory_bytes, limits.processes, limits.cpu_cores
    )
    if cgroup is None and uid is not None:
        # As root the host can always make a cgroup; without one the limits would be weaker.
        raise SandboxUnavailable("no writable cgroup hierarchy: a root worker needs one to limit sandboxes")
    try:
        place = scratch.make(jobdir, scratch_sizes(limits)) if uid is not None else None
    except OSError:
        if cgroup is not None:
            cgroup.destroy()
        raise
    metrics_r, metrics_w = os.pipe()
    control_r, control_w = os.pipe()
    results_r, results_w = os.pipe()
    child_ends = [metrics_w, control_r, results_w]
    link: socket.socket | None = None
    fork_link = None
    if fork_server:
        link, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fork_link = theirs.detach()
        child_ends.append(fork_link)
    command = build_command(limits, jobdir, uid, child_ends[:3], opened, fds, place, fork_link)
    procs = cgroup.procs_files() if cgroup else []

    def prepare() -> None:
        _preexec(limits, procs, uid)

    try:
        popen = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=child_ends + fds,
            preexec_fn=prepare,
            # bubblewrap is the sandbox's pid 1: its /proc/1/environ must hold none of the worker's secrets.
            env={},
            start_new_session=True,
        )
    except Exception:
        for fd in (metrics_r, control_w, results_r):
            os.close(fd)
        if link is not None:
            link.close()
        if cgroup is not None:
            cgroup.destroy()
        if place is not None:
            place.close()
        raise
    finally:
        for fd in opened + child_ends:
            os.close(fd)
    for fd in (metrics_r, results_r):
        os.set_blocking(fd, False)
    os.set_blocking(control_w, False)
    return SandboxProcess(popen, metrics_r, control_w, results_r, jobdir, cgroup, uid, place, link=link)
