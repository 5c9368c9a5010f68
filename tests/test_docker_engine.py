"""The Docker backend on a real engine: grading in sandbox containers, and nothing left behind.

The image is the one scripts/build-images --local makes (docker/sandbox.Dockerfile on a Debian
base made with debootstrap); scripts/test builds it before pytest. The attack suite runs on this
backend too (tests/test_attacks.py, ``backend_pool``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import engine

from grader.engine import datasets
from grader.engine.runner.grade import grade
from grader.engine.runner.session import RunRequest, run_submission
from grader.engine.runner.submission import prepare_submission
from grader.engine.sandbox import seccomp
from grader.engine.sandbox.container import DockerBackend, worker_identity
from grader.engine.sandbox.docker import container_config, sdk_kwargs
from grader.engine.sandbox.limits import Limits, MiB
from grader.engine.sandbox.pool import WarmPool
from grader.engine.spec import BUILTIN, find
from grader.engine.verdicts import Verdict

pytestmark = pytest.mark.long  # Docker: an engine and its images

ROOT = Path(__file__).resolve().parents[1]
PARABOLOID = BUILTIN / "paraboloid"
SECRET = b"test-secret-not-the-real-one-0123456789"


@pytest.fixture
def jobs_root(tmp_path: Path) -> Path:
    return tmp_path / "jobs"


@pytest.fixture
def backend(docker_backend: DockerBackend) -> DockerBackend:
    return docker_backend


def _grade(script: Path, backend: DockerBackend | None, uid: int | None, jobs_root: Path):
    assignment = find("paraboloid")
    submission = prepare_submission(script.name, script.read_bytes())
    hidden = datasets.hidden_set(assignment, SECRET)
    return grade(assignment, submission, hidden, [0], uid=uid, jobs_root=jobs_root, backend=backend)


@pytest.mark.slow
def test_the_paraboloid_is_graded_in_containers_as_in_bubblewrap(backend, runner_config, jobs_root):
    reference, wrong = PARABOLOID / "reference.py", PARABOLOID / "wrong" / "sgd_tiny_lr_no_zero_grad.py"
    in_containers = {
        s.name: _grade(s, backend, runner_config.sandbox_uid, jobs_root) for s in (reference, wrong)
    }
    in_bubblewrap = {
        s.name: _grade(s, None, runner_config.sandbox_uid, jobs_root) for s in (reference, wrong)
    }
    for name, report in in_containers.items():
        run = report.runs[0].result
        assert run.verdict is Verdict.SCORED, run.message
        assert run.usage.enforcement.startswith("cgroup")  # the container's own group was read
        # The same torch, the same seed, the same thread count: the same training, to rounding.
        assert report.score == pytest.approx(in_bubblewrap[name].score, rel=1e-3, abs=1e-3), name
    assert in_containers[reference.name].passed and not in_containers[wrong.name].passed
    assert engine.sandbox_containers(backend.client) == [] and engine.jobs_left(jobs_root) == []


def test_what_the_engine_is_asked_for(backend, tmp_path):
    """Every limit and isolation setting reaches the engine as meant (read back from its inspect)."""
    limits = Limits(
        memory_bytes=640 * MiB, processes=40, disk_bytes=32 * MiB, threads=2, cpus=1.5, gpu_index=1
    )
    config = container_config(
        limits, image=engine.SANDBOX_IMAGE, job_volume=str(tmp_path / "job"), channel_dir=str(tmp_path / "ch"),
        gpu_index=limits.gpu_index, uid=backend.uid, run_id="r", worker_id=worker_identity(), host="h",
    )  # fmt: skip
    container = backend.client.containers.create(**sdk_kwargs(config))  # created, never started (no GPU here)
    try:
        host = container.attrs["HostConfig"]
        assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True and not host["Init"]
        assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd") and host["Privileged"] is False
        assert "no-new-privileges:true" in host["SecurityOpt"]
        profile = next(o for o in host["SecurityOpt"] if o.startswith("seccomp="))
        assert json.loads(profile.removeprefix("seccomp=")) == json.loads(seccomp.docker_profile())
        assert (host["Memory"], host["MemorySwap"], host["PidsLimit"]) == (640 * MiB, 640 * MiB, 40)
        assert host["NanoCpus"] == 1_500_000_000
        assert host["Tmpfs"]["/workspace"] == f"size={32 * MiB},nr_inodes=4096,mode=1777"
        assert {u["Name"]: u["Hard"] for u in host["Ulimits"]}["fsize"] == limits.file_bytes
        assert [(m["Destination"], m["RW"]) for m in container.attrs["Mounts"]] in (
            [("/job", False), ("/channels", False)],
            [("/channels", False), ("/job", False)],
        )
        # The GPU worker's path: exactly the slot's GPU, seen as device 0 inside.
        assert host["DeviceRequests"] == [
            {"Driver": "nvidia", "Count": 0, "DeviceIDs": ["1"], "Capabilities": [["gpu"]], "Options": {}}
        ]
        env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
        assert (env["CUDA_VISIBLE_DEVICES"], env["NVIDIA_VISIBLE_DEVICES"]) == ("0", "1")
        assert container.attrs["Config"]["User"] == f"{backend.uid}:{backend.uid}"
    finally:
        container.remove(force=True)


def test_a_warm_container_has_imported_torch_and_serves_one_job(backend, runner_config, jobs_root):
    pool = WarmPool(Limits(wall_seconds=30), backend.uid, 1, jobs_root, backend).start()
    try:
        assert pool.wait_ready(90)
        ready = pool._ready.queue[0]
        assert ready.hello is not None and ready.hello["torch"].startswith("2.13.0")
        request = RunRequest(
            files={"m.py": b"import torch\nmodel = torch.nn.Linear(2, 1)\nprint('trained')\n"}, entry="m.py",
            mode="script", eval_inputs=datasets.hidden_set(find("paraboloid"), SECRET).inputs[:16],
            limits=Limits(wall_seconds=30),
        )  # fmt: skip
        result = run_submission(request, pool=pool, backend=backend)
        assert result.warm and result.verdict is Verdict.SCORED, result.message
        assert "trained" in result.stdout  # stdout came through its socket
    finally:
        pool.close()
    assert engine.sandbox_containers(backend.client) == [] and engine.jobs_left(jobs_root) == []


def test_a_container_that_cannot_start_the_harness_is_the_platforms_failure(runner_config, jobs_root):
    client = engine.client_or_skip()
    broken = DockerBackend("grader-base:bookworm", 61000, client=client, connect_seconds=20)  # no python here
    request = RunRequest(files={"m.py": b"x = 1\n"}, entry="m.py", mode="script",
                         eval_inputs=datasets.hidden_set(find("paraboloid"), SECRET).inputs[:4])  # fmt: skip
    result = run_submission(request, backend=broken, jobs_root=jobs_root)
    assert result.verdict is Verdict.INTERNAL_ERROR and "could not start" in result.message
    missing = DockerBackend("grader-no-such-image:1", 61000, client=client)
    result = run_submission(request, backend=missing, jobs_root=jobs_root)
    assert (
        result.verdict is Verdict.INTERNAL_ERROR and "Docker engine did not start a sandbox" in result.message
    )
    assert engine.sandbox_containers(client) == [] and engine.jobs_left(jobs_root) == []


WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from grader.engine.sandbox.container import DockerBackend
    from grader.engine.sandbox.limits import Limits
    from grader.engine.sandbox.pool import WarmPool
    backend = DockerBackend(sys.argv[1], int(sys.argv[2]))
    pool = WarmPool(Limits(wall_seconds=30), backend.uid, 2, Path(sys.argv[3]), backend).start()
    while pool._ready.qsize() < 2:
        time.sleep(0.1)
    print(backend.worker_id, flush=True)
    time.sleep(600)
    """
)


@pytest.mark.slow
def test_a_worker_killed_with_sigkill_leaves_no_container_once_the_next_one_starts(backend, jobs_root):
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, engine.SANDBOX_IMAGE, str(backend.uid), str(jobs_root)],
        stdout=subprocess.PIPE, cwd=ROOT, text=True,
    )  # fmt: skip
    try:
        dead_id = worker.stdout.readline().strip()  # type: ignore[union-attr]
        assert dead_id.count(":") == 3, dead_id
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(30)
    finally:
        worker.kill()
    left = [c for c in engine.sandbox_containers(backend.client) if c.labels["grader.worker"] == dead_id]
    assert len(left) == 2  # its two warm sandboxes outlive it: a container has no --die-with-parent
    mine = WarmPool(Limits(wall_seconds=30), backend.uid, 1, jobs_root, backend).start()  # a live one
    try:
        assert mine.wait_ready(90)
        removed = DockerBackend(engine.SANDBOX_IMAGE, backend.uid, client=backend.client).sweep_orphans(
            jobs_root
        )
        assert sorted(removed) == sorted(c.id for c in left)
        assert len(engine.jobs_left(jobs_root)) == 2  # the live worker's job and channel folders only
        still = engine.sandbox_containers(backend.client)
        assert [c.labels["grader.worker"] for c in still] == [backend.worker_id]  # the live worker's is kept
    finally:
        mine.close()
    assert engine.sandbox_containers(backend.client) == []


def test_another_hosts_sandbox_is_swept_once_stopped_or_stale(backend):
    """A worker container replaced by a new one (a new host name): its sandboxes exit, then go."""
    labels = {"grader.engine.sandbox": "1", "grader.worker": "gone-host:1:1", "grader.host": "gone-host"}
    create = backend.client.containers.create
    running = create(engine.SANDBOX_IMAGE, command=["sleep", "120"], labels=labels, network_mode="none")
    stopped = create(engine.SANDBOX_IMAGE, command=["true"], labels=labels, network_mode="none")
    try:
        running.start()
        removed = backend.sweep_orphans()
        assert stopped.id in removed and running.id not in removed
        assert backend.sweep_orphans(stale_seconds=0) == [running.id]
    finally:
        for container in engine.sandbox_containers(backend.client):
            container.remove(force=True)


def test_grader_doctor_checks_the_engine_the_image_and_the_counters(backend):
    from dataclasses import replace

    from grader.config import RunnerConfig
    from grader.ops.doctor_docker import check_docker

    config = RunnerConfig.from_env({"GRADER_SANDBOX": "docker"}, euid=0)
    assert [(f.check, f.status) for f in check_docker(config)] == [
        ("sandbox", "OK"),
        ("limits", "OK"),
        ("seccomp", "OK"),
    ]
    [missing] = check_docker(replace(config, sandbox_image="grader-no-such-image:1"))
    assert missing.status == "FAIL" and "scripts/build-images" in missing.fix
    hidden = check_docker(replace(config, cgroup_root=Path("/nonexistent")))
    assert hidden[1].status == "WARN" and "GRADER_CGROUP_ROOT" in hidden[1].fix
    assert (
        backend.client.containers.list(all=True, filters={"label": "grader.doctor=1"}) == []
    )  # its probe went


def _engine_cpu_seconds() -> float:
    """CPU time of the engine's own processes on this host (dockerd, containerd and the shims)."""
    total = 0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip().startswith(
                ("dockerd", "containerd")
            ):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return total / os.sysconf("SC_CLK_TCK")


def test_writing_to_pid_1s_streams_reaches_nothing_and_costs_the_engine_nothing(backend, runner_config):
    """The pipes to the engine's log are held by no process in the sandbox: pid 1's streams are
    /dev/null, so a flood through /proc/1/fd/1 neither reaches a log nor busies the engine."""
    code = """
import os, time, torch
targets = [os.readlink(f"/proc/1/fd/{n}") for n in (0, 1, 2)]
print("PID1", targets)
fds = [os.open(f"/proc/1/fd/{n}", os.O_WRONLY) for n in (1, 2)]
end, block = time.time() + 3, b"x" * 65536
while time.time() < end:
    for fd in fds:
        os.write(fd, block)
model = torch.nn.Linear(2, 1)
"""
    request = RunRequest(files={"m.py": code.encode()}, entry="m.py", mode="script",
                         eval_inputs=datasets.hidden_set(find("paraboloid"), SECRET).inputs[:8],
                         limits=Limits(wall_seconds=30))  # fmt: skip
    before = _engine_cpu_seconds()
    result = run_submission(request, backend=backend)
    spent = _engine_cpu_seconds() - before
    assert result.verdict is Verdict.SCORED, result.message
    assert "PID1 ['/dev/null', '/dev/null', '/dev/null']" in result.stdout
    assert spent < 1.0, f"the engine spent {spent:.2f} s of CPU on a 3 s flood"
