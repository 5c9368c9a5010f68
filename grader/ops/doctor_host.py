"""``grader doctor``'s host checks: the sandbox, which limits the kernel really enforces, torch, GPUs.

The limits check does not trust that a cgroup *can* be made: it makes one with a small memory
limit, runs a process in it that allocates four times that, and sees whether the kernel kills it.
torch is imported in a child process only: the grader's own processes never import it (sandboxes
do), and a CUDA initialisation in a worker would hold GPU memory for nothing.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from .doctor import FAIL, OK, WARN, Finding

if TYPE_CHECKING:
    from grader.config import RunnerConfig

MiB = 1024 * 1024
PROBE_MEMORY = 64 * MiB  # the test cgroup's limit; the probe allocates four times this
PROBE_CODE = f"data = b'x' * {4 * PROBE_MEMORY}\nprint(len(data))"
TORCH_CODE = (
    "import json, torch\n"
    "c = torch.cuda\n"
    "n = c.device_count() if c.is_available() else 0\n"
    "print(json.dumps({'torch': torch.__version__, 'cuda_build': torch.version.cuda, 'count': n,\n"
    "                  'names': [c.get_device_name(i) for i in range(n)]}))\n"
)
USERNS_FIX = (
    "bubblewrap needs user namespaces or root. Unprivileged: sysctl -w kernel.unprivileged_userns_clone=1 "
    "(Debian) or kernel.apparmor_restrict_unprivileged_userns=0 (Ubuntu 24.04). Inside a container under "
    "Docker's default seccomp profile bubblewrap cannot work: run the workers on the host"
)
CGROUP_FIX = (
    "run the workers as root on a host whose cgroup v1 controllers memory, pids, cpu, cpuacct and freezer "
    "are writable, or with cgroup v2 and the memory, pids and cpu controllers delegated to the worker's cgroup "
    "(systemd: Delegate=yes in its unit)"
)


def check_sandbox(runner: RunnerConfig | None) -> list[Finding]:
    from grader.engine.sandbox import seccomp

    if runner is not None and runner.sandbox_backend == "docker":
        from .doctor_docker import check_docker

        return check_docker(runner)
    found = [_bubblewrap(runner)]
    if found[0].status != FAIL:
        found.append(_limits())
        if (
            found[-1].status == OK
            and runner is not None
            and runner.sandbox_uid is not None
            and runner.fork_server
            and runner.gpu_index is None  # a GPU slot starts a sandbox per run
        ):
            found.append(_fork_server(runner))
    if seccomp.compiled_filter() is None:
        found.append(
            Finding(
                "seccomp",
                WARN,
                "libseccomp is missing: sandboxes run without the system-call filter",
                "apt-get install libseccomp2",
            )
        )
    else:
        found.append(Finding("seccomp", OK, "the system-call filter compiles (libseccomp)"))
    return found


def _bubblewrap(runner: RunnerConfig | None) -> Finding:
    path = shutil.which("bwrap")
    if path is None:
        return Finding("sandbox", FAIL, "bubblewrap (bwrap) is not installed", "apt-get install bubblewrap")
    version = _output([path, "--version"]) or "bubblewrap"
    probe = [
        path, "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        "--proc", "/proc", "--dev", "/dev", "/usr/bin/true",
    ]  # fmt: skip
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=20, check=False)
        problem = done.stderr.strip() if done.returncode else ""
    except (OSError, subprocess.TimeoutExpired) as exc:
        problem = str(exc)
    if problem:
        return Finding("sandbox", FAIL, f"{version} cannot make a sandbox here: {problem}", USERNS_FIX)
    if os.geteuid() == 0:
        if not os.path.exists("/usr/bin/setpriv"):
            return Finding(
                "sandbox",
                FAIL,
                "running as root but setpriv is missing (it drops to the sandbox uid)",
                "apt-get install util-linux",
            )
        uid = runner.sandbox_uid if runner is not None else None
        who = f"as root: student code runs as uid {uid} with no capabilities"
    else:
        who = f"unprivileged: student code runs as uid {os.geteuid()} in a user namespace"
    return Finding(
        "sandbox",
        OK,
        f"backend bubblewrap ({version}), namespaces work; {who}",
    )


FORK_FIX = (
    "let the sandbox's uid make user namespaces (sysctl user.max_user_namespaces above 0; on Ubuntu 24.04 "
    "kernel.apparmor_restrict_unprivileged_userns=0), or set GRADER_FORK_SERVER=0 to start one sandbox per run"
)


def _fork_server(runner: RunnerConfig) -> Finding:
    """Start a fork server as a worker slot would, and see whether it can seal a job's child."""
    from grader.engine.sandbox.forkserver import ForkServer, ForkUnavailable
    from grader.engine.sandbox.limits import Limits

    assert runner.sandbox_uid is not None
    server = None
    try:
        server = ForkServer.start(Limits(), runner.sandbox_uid, runner.jobs_dir)
        server.wait_hello(120)
    except ForkUnavailable as exc:
        return Finding(
            "fork server", WARN, f"{exc}: each run starts a sandbox (and imports torch) of its own", FORK_FIX
        )
    except Exception as exc:  # noqa: BLE001 - any reason: the workers fall back the same way
        return Finding("fork server", WARN, f"a fork server did not start: {exc}", FORK_FIX)
    finally:
        if server is not None:
            server.close()
    return Finding(
        "fork server",
        OK,
        "warm sandboxes are fork servers: torch imported once, each run in a sealed child "
        "(own user, mount, pid, IPC and network namespaces, no capabilities, the full filter)",
    )


def _limits() -> Finding:
    from grader.engine.sandbox.cgroups import Cgroup, CgroupFailed

    try:
        group = Cgroup.create(f"sb-doctor-{os.getpid()}", PROBE_MEMORY, 16, 1.0)
    except CgroupFailed as exc:
        return Finding("limits", FAIL, f"{exc}: every run would fail as the platform's error", CGROUP_FIX)
    if group is None:
        return Finding(
            "limits",
            WARN,
            "no writable cgroup: FALLBACK limits only: memory by RLIMIT_DATA and a resident-memory watchdog "
            "that polls (a fast allocation can overshoot before it is stopped), processes by RLIMIT_NPROC "
            "per uid or the watchdog, CPU time by RLIMIT_CPU; no freezer to stop a fork bomb at once",
            CGROUP_FIX,
        )
    procs = group.procs_files()

    def join() -> None:
        for name in procs:
            with open(name, "w") as handle:
                handle.write(str(os.getpid()))

    try:
        started = time.monotonic()
        child = subprocess.run(
            [sys.executable, "-c", PROBE_CODE], preexec_fn=join, capture_output=True, timeout=60, check=False
        )
        killed, oom = child.returncode < 0, group.oom_killed()
        swap_limited = _swap_limited(group)
    except (OSError, subprocess.SubprocessError) as exc:
        return Finding(
            "limits", FAIL, f"{group.version}: could not run a process in a test cgroup: {exc}", CGROUP_FIX
        )
    finally:
        group.destroy()
    over = f"{4 * PROBE_MEMORY // MiB} MiB allocated under a {PROBE_MEMORY // MiB} MiB limit"
    if not (killed or oom):
        return Finding(
            "limits",
            FAIL,
            f"{group.version}: the memory limit is NOT enforced ({over} survived; exit {child.returncode})",
            "enable swap accounting (boot with swapaccount=1 on cgroup v1) or use cgroup v2; " + CGROUP_FIX,
        )
    seconds = time.monotonic() - started
    detail = (
        f"{group.version}: memory, processes and CPU time are limited by the kernel ({over} was killed in "
        f"{seconds:.1f} s{', OOM' if oom else ''})"
    )
    if group.version == "cgroup-v2":
        detail += "; the cgroup v2 path is not covered by the test suite"
    if not swap_limited:
        return Finding(
            "limits",
            WARN,
            detail + "; swap is NOT limited: a sandbox can swap past its memory limit",
            "boot with swapaccount=1 (cgroup v1) or use cgroup v2 with memory.swap.max",
        )
    return Finding("limits", OK, detail + ", swap included")


def _swap_limited(group: object) -> bool:
    dirs = getattr(group, "dirs", {})
    if "memory" in dirs:
        return bool((dirs["memory"] / "memory.memsw.limit_in_bytes").exists())
    return bool("unified" in dirs and (dirs["unified"] / "memory.swap.max").exists())


def check_torch_and_gpu(runner: RunnerConfig | None) -> list[Finding]:
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-c", TORCH_CODE], capture_output=True, text=True, timeout=180, check=False
        )
        report = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
        problem = (done.stderr.strip().splitlines() or ["no output"])[-1]
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        report, problem = None, str(exc)
    if report is None:
        return [
            Finding(
                "torch",
                FAIL,
                f"torch does not import in {sys.executable}: {problem}",
                "run scripts/setup (it installs the pinned CPU build of torch before the project)",
            )
        ]
    build = f"CUDA {report['cuda_build']}" if report["cuda_build"] else "CPU build"
    found = [
        Finding(
            "torch", OK, f"torch {report['torch']} ({build}) imports in {time.monotonic() - started:.1f} s"
        )
    ]
    return [*found, _gpu(runner.gpu_index if runner is not None else None, report)]


def _gpu(index: int | None, report: dict[str, object]) -> Finding:
    nodes = sorted(glob.glob("/dev/nvidia[0-9]*"))
    count = int(str(report["count"]))
    names = report["names"] if isinstance(report["names"], list) else []
    if index is None:
        if not nodes and not count:
            return Finding(
                "gpu", OK, "no GPU on this host; this worker grades on the CPU (GRADER_GPU_INDEX unset)"
            )
        return Finding(
            "gpu",
            WARN,
            f"{max(len(nodes), count)} GPU(s) here, but GRADER_GPU_INDEX is unset: this worker "
            "grades on the CPU",
            "for a gpu-queue worker set GRADER_GPU_INDEX to the GPU it owns (one worker slot per GPU)",
        )
    if f"/dev/nvidia{index}" not in nodes:
        return Finding(
            "gpu",
            FAIL,
            f"GRADER_GPU_INDEX={index} but /dev/nvidia{index} does not exist",
            "install the NVIDIA driver, or set GRADER_GPU_INDEX to one of: "
            + (", ".join(n.removeprefix("/dev/nvidia") for n in nodes) or "(none: unset it)"),
        )
    if not report["cuda_build"]:
        return Finding(
            "gpu",
            FAIL,
            f"GPU {index} is here but torch is a CPU build: sandboxes cannot use it",
            "install a CUDA build of torch (the same version) in place of the CPU build",
        )
    if index >= count:
        return Finding(
            "gpu",
            FAIL,
            f"GRADER_GPU_INDEX={index} but torch sees {count} GPU(s)",
            "check nvidia-smi and CUDA_VISIBLE_DEVICES, and that the driver matches torch's CUDA",
        )
    return Finding("gpu", OK, f"GPU {index}: {names[index]} (torch sees {count})")


def _output(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""
