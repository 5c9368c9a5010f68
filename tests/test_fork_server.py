"""A fork server runs job after job in one warm sandbox: each job sealed off from the server and the others.

The attack suite (tests/test_attacks.py) runs against the fork server as against every backend; these
are what only a fork server could get wrong: what one job leaves for the next, what a job can do to
the server, and which counters are the job's own.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from support.hostile import run

from grader.config import RunnerConfig
from grader.engine.sandbox import forkserver
from grader.engine.sandbox.limits import Limits
from grader.engine.sandbox.pool import WarmPool
from grader.engine.verdicts import Verdict

REPORT = "import json; print(json.dumps(report))"
# Where a job might leave something: the scratch mounts, and every other place it could try.
PLACES = repr(("/workspace", "/tmp", "/dev/shm", "/dev", "/", "/job", "/etc", "/opt/grader", "/usr"))


def served(pool: WarmPool) -> int:
    """Jobs served by the pool's one idle server (the tests run one job at a time)."""
    (server,) = pool.fork_servers()
    return server.jobs


def report(result_stdout: str) -> dict:
    return json.loads(result_stdout.strip().splitlines()[-1])


def test_a_job_finds_nothing_an_earlier_job_left(fork_pool, attack_limits, runner_config):
    leave = """
    import os, subprocess
    for place in PLACES:
        try:
            open(f"{place}/left-behind", "w").write("from the job before")
        except OSError:
            pass  # not writable at all (the read-only root, bubblewrap's /dev)
    subprocess.Popen(["sleep", "600"], start_new_session=True)  # a process meant to outlive its job
    """
    first = run(leave.replace("PLACES", PLACES), attack_limits, runner_config, fork_pool)
    assert first.verdict not in (Verdict.INTERNAL_ERROR, Verdict.HARNESS_ERROR), first.message
    before = served(fork_pool)
    look = (
        """
    import os
    found = [f"{p}/left-behind" for p in PLACES if os.path.exists(f"{p}/left-behind")]
    sleepers = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if open(f"/proc/{pid}/cmdline", "rb").read().startswith(b"sleep"):
                sleepers.append(pid)
        except OSError:
            pass
    report = {"found": found, "sleepers": sleepers, "pid": os.getpid()}
    """
        + REPORT
    )
    second = run(look.replace("PLACES", PLACES), attack_limits, runner_config, fork_pool)
    assert second.warm and served(fork_pool) == before + 1  # the same server ran it
    seen = report(second.stdout)
    assert seen == {"found": [], "sleepers": [], "pid": 1}


def test_a_job_has_no_capabilities_the_full_filter_and_none_of_the_servers_descriptors(
    fork_pool, attack_limits, runner_config
):
    probe = (
        """
    import ctypes, os
    status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\\t" in line)
    libc = ctypes.CDLL(None, use_errno=True)
    def refused(result):
        return result != 0 and ctypes.get_errno() == 1  # EPERM: the job's own filter, not the server's
    report = {
        "caps": [status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")],
        "no_new_privs": status["NoNewPrivs"].strip(),
        "seccomp": status["Seccomp"].strip(),
        "unshare": refused(libc.unshare(0x10000000)),
        "mount": refused(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None)),
        "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
        "channels": os.environ["GRADER_CHANNELS"],
        "fork_spec": "GRADER_FORK" in os.environ,
    }
    """
        + REPORT
    )
    result = run(probe, attack_limits, runner_config, fork_pool)
    seen = report(result.stdout)
    assert seen["caps"] == ["0000000000000000"] * 5
    assert seen["no_new_privs"] == "1" and seen["seccomp"] == "2"
    assert seen["unshare"] and seen["mount"]
    channels = sorted(map(int, seen["channels"].split(",")))
    # stdin, stdout, stderr, the three channels, and the listing's own descriptor: no link, no filter.
    assert len(seen["fds"]) == 7 and set(channels) | {0, 1, 2} <= set(seen["fds"])
    assert not seen["fork_spec"]


def test_a_job_can_neither_read_nor_signal_the_server(fork_pool, attack_limits, runner_config):
    attack = (
        """
    import os, signal
    mine = os.readlink("/proc/self")  # this process as the sandbox's /proc numbers it (it is pid 1 to itself)
    servers = []  # bubblewrap's init, the server, and the server's child that waits for this job
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if pid != mine and b"harness" in open(f"/proc/{pid}/cmdline", "rb").read():
                servers.append(int(pid))
        except OSError:
            pass
    readable, signalled = [], []
    for pid in servers:
        for name in ("environ", "mem", "maps"):
            try:
                open(f"/proc/{pid}/{name}", "rb").read(1)
                readable.append(f"{pid}/{name}")
            except OSError:
                pass
        try:
            fd = os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY)
            signal.pidfd_send_signal(fd, signal.SIGKILL)
            signalled.append(pid)
        except OSError:
            pass
        try:
            os.kill(pid, signal.SIGKILL)  # a number in the job's own pid namespace: not the server
        except OSError:
            pass
    report = {"servers": len(servers), "readable": readable, "signalled": signalled}
    """
        + REPORT
    )
    before = served(fork_pool)
    result = run(attack, attack_limits, runner_config, fork_pool)
    seen = report(result.stdout)
    assert seen == {"servers": 3, "readable": [], "signalled": []}
    after = run("print('still here')", attack_limits, runner_config, fork_pool)
    assert after.warm and after.stdout == "still here\n" and served(fork_pool) == before + 2


def test_each_job_is_counted_from_its_own_start(fork_pool, attack_limits, runner_config):
    heavy = """
    import time, torch
    block = torch.ones(300 * 1024 * 1024 // 4)  # 300 MiB, touched
    end = time.process_time() + 1.5
    while time.process_time() < end:
        pass
    """
    light = "print('light')"
    big = run(heavy, attack_limits, runner_config, fork_pool)
    small = run(light, attack_limits, runner_config, fork_pool)
    assert big.usage.peak_memory_bytes - small.usage.peak_memory_bytes > 250 * 1024 * 1024
    assert big.usage.cpu_seconds > 1.5 > small.usage.cpu_seconds


def test_a_job_killed_at_its_limit_leaves_the_server_serving(fork_pool, attack_limits, runner_config):
    before = served(fork_pool)
    spin = run(
        "while True: pass", dataclasses.replace(attack_limits, wall_seconds=3), runner_config, fork_pool
    )
    assert spin.verdict is Verdict.TIME_LIMIT
    after = run("print('next')", attack_limits, runner_config, fork_pool)
    assert after.warm and after.stdout == "next\n" and served(fork_pool) == before + 2


def test_a_server_is_replaced_after_its_last_job(
    runner_config: RunnerConfig, attack_limits: Limits, monkeypatch: pytest.MonkeyPatch
):
    if runner_config.sandbox_uid is None:
        pytest.skip("a fork server needs the worker to run as root")
    monkeypatch.setattr(forkserver, "MAX_JOBS", 2)
    pool = WarmPool(
        attack_limits, runner_config.sandbox_uid, jobs_root=runner_config.jobs_dir, fork_server=True
    )
    pool.start()
    try:
        runs = [run("print('ok')", attack_limits, runner_config, pool) for _ in range(3)]
        assert all(r.stdout == "ok\n" and r.warm for r in runs)
        pool.wait_ready(60)
        assert served(pool) == 1  # the third job was a fresh server's first
    finally:
        pool.close()


def test_where_a_child_cannot_be_sealed_the_pool_falls_back_to_a_sandbox_per_run(
    runner_config: RunnerConfig, attack_limits: Limits, monkeypatch: pytest.MonkeyPatch
):
    # As on a kernel that refuses user namespaces: the server's probe cannot seal a child (here, a scratch
    # mount on a folder that does not exist), so it says why instead of hello, and runs go on as before.
    if runner_config.sandbox_uid is None:
        pytest.skip("a fork server needs the worker to run as root")
    real = forkserver.setup
    monkeypatch.setattr(
        forkserver, "setup", lambda limits: {**real(limits), "places": {"/no-such-folder": 1 << 20}}
    )
    pool = WarmPool(
        attack_limits, runner_config.sandbox_uid, jobs_root=runner_config.jobs_dir, fork_server=True
    )
    pool.start()
    try:
        assert pool.wait_ready(60) and not pool.fork_server and not pool.fork_servers()
        result = run("print('graded all the same')", attack_limits, runner_config, pool)
        assert result.warm and result.stdout == "graded all the same\n"
    finally:
        pool.close()


def test_a_runtime_under_a_scratch_place_is_bound_again_over_each_jobs_fresh_mount(monkeypatch):
    # A checkout under /tmp has its virtualenv there: bubblewrap binds it over the sandbox's /tmp, and
    # each job's fresh /tmp must have it again (read-only), or the job could not import a thing.
    monkeypatch.setattr(forkserver, "runtime_paths", lambda: ["/usr", "/tmp/checkout/.venv", "/tmpfoo"])
    setup = forkserver.setup(Limits())
    assert setup["keep"] == ["/tmp/checkout/.venv"]
    assert set(setup["places"]) == {"/workspace", "/tmp", "/dev/shm"}


def test_a_run_that_prints_then_fails_keeps_what_it_printed_every_time(
    fork_pool, attack_limits, runner_config
):
    # The failure comes on the metrics pipe and the print on stdout: read in the other order, the output
    # was lost now and then (more often the faster the run ends, as in a forked child).
    outputs = [
        run("print('my debugging output')", attack_limits, runner_config, fork_pool) for _ in range(20)
    ]
    assert [r.stdout for r in outputs] == ["my debugging output\n"] * 20
    assert {r.verdict for r in outputs} == {Verdict.NO_MODEL}
