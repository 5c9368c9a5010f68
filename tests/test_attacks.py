"""Hostile submissions, each with the verdict it must get, run in the real sandbox.

Every run must end within its wall limit plus 5 s and leave the host (its
services, its files, its other processes, other runs) untouched. Each runs on
both backends (``backend_pool``: bubblewrap, then containers on a real Docker
engine) and must get the same verdict on both.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from support.hostile import TRIVIAL_MODEL, run, with_model

from grader.engine.runner.session import RunResult
from grader.engine.spec import BUILTIN
from grader.engine.verdicts import Verdict


def test_fork_bomb_hits_the_process_limit(runner_config, attack_limits, backend_pool):
    result = run("import os\nwhile True:\n    os.fork()\n", attack_limits, runner_config, backend_pool)
    assert result.verdict is Verdict.PROCESS_LIMIT, (result.verdict, result.message)
    assert "processes" in result.message


def test_memory_bomb_hits_the_memory_limit(runner_config, attack_limits, backend_pool):
    code = "blocks = []\nwhile True:\n    blocks.append(bytearray(32 * 1024 * 1024))\n"
    result = run(code, attack_limits, runner_config, backend_pool)
    assert result.verdict is Verdict.MEMORY_LIMIT, (result.verdict, result.message, result.stderr[-500:])
    assert "768 MiB" in result.message


def test_one_huge_allocation_is_a_memory_limit_not_a_crash(runner_config, attack_limits, backend_pool):
    result = run("x = bytearray(10**13)\n", attack_limits, runner_config, backend_pool)
    assert result.verdict is Verdict.MEMORY_LIMIT, (result.verdict, result.message)


def test_infinite_loop_hits_the_time_limit(runner_config, attack_limits, backend_pool):
    limits = replace(attack_limits, wall_seconds=4)
    result = run("while True:\n    pass\n", limits, runner_config, backend_pool)
    assert result.verdict is Verdict.TIME_LIMIT, (result.verdict, result.message)
    assert "4 s" in result.message


def test_sleeping_forever_hits_the_time_limit(runner_config, attack_limits, backend_pool):
    limits = replace(attack_limits, wall_seconds=3)
    result = run("import time\ntime.sleep(10**6)\n", limits, runner_config, backend_pool)
    assert result.verdict is Verdict.TIME_LIMIT


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_no_network_not_even_the_hosts_loopback(runner_config, attack_limits, backend_pool):
    host_services = {port: _port_open(port) for port in (6379, 5432)}
    code = """
    import socket
    for host, port in [("127.0.0.1", 6379), ("127.0.0.1", 5432), ("8.8.8.8", 53), ("1.1.1.1", 443)]:
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect((host, port))
            print("CONNECTED", host, port)
        except OSError as exc:
            print("blocked", host, port, type(exc).__name__)
    try:
        socket.getaddrinfo("pypi.org", 443)
        print("CONNECTED dns")
    except OSError as exc:
        print("blocked dns", type(exc).__name__)
    """
    result = run(with_model(code), attack_limits, runner_config, backend_pool)
    assert result.verdict is Verdict.SCORED, result.message
    assert "CONNECTED" not in result.stdout
    assert result.stdout.count("blocked") == 5, result.stdout
    # The host's own services are still there (when this machine runs them).
    assert {port: _port_open(port) for port in host_services} == host_services


def test_host_files_secrets_and_processes_are_invisible(
    runner_config, attack_limits, backend_pool, host_secret, tmp_path
):
    hidden = tmp_path / "hidden_targets.npy"
    np.save(hidden, np.arange(10.0))
    sentinel = subprocess.Popen(["sleep", "60"])
    try:
        code = f"""
        import os
        seen = []
        for path in [{str(hidden)!r}, "/etc/shadow", "/root/.bash_history", {str(Path.cwd() / "pyproject.toml")!r},
                     "/proc/{sentinel.pid}/environ", "/proc/{os.getpid()}/cmdline"]:
            try:
                open(path, "rb").read()
                seen.append("READ " + path)
            except OSError as exc:
                seen.append("denied " + path)
        print("\\n".join(seen))
        print("ENV", sorted(os.environ))
        print("SECRET" if {host_secret!r} in repr(dict(os.environ)) else "no secret")
        cmdlines = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    cmdlines.append(open(f"/proc/{{pid}}/cmdline", "rb").read())
                except OSError:
                    pass
        print("PROCS", len(cmdlines), "MARKER" if any(b"sleep" in c for c in cmdlines) else "no marker")
        print("UID", os.getuid())
        """
        result = run(with_model(code), attack_limits, runner_config, backend_pool)
    finally:
        sentinel.kill()
    assert result.verdict is Verdict.SCORED, result.message
    assert "READ " not in result.stdout, result.stdout
    assert "no secret" in result.stdout and "GRADER_TEST_SECRET" not in result.stdout
    assert "no marker" in result.stdout
    assert "UID 0" not in result.stdout


def test_writes_outside_the_work_dir_fail(runner_config, attack_limits, backend_pool):
    code = """
    for path in ["/usr/evil", "/opt/grader/harness/evil.py", "/job/evil", "/etc/evil", "/evil", "/proc/evil"]:
        try:
            open(path, "w").write("x")
            print("WROTE", path)
        except OSError:
            print("refused", path)
    open("inside.txt", "w").write("fine")
    open("/tmp/scratch.txt", "w").write("fine")
    """
    result = run(with_model(code), attack_limits, runner_config, backend_pool)
    assert result.verdict is Verdict.SCORED, result.message
    assert "WROTE" not in result.stdout and result.stdout.count("refused") == 6
    assert not (Path(__file__).resolve().parents[1] / "grader" / "engine" / "harness" / "evil.py").exists()


def test_signalling_host_processes_fails(runner_config, attack_limits, backend_pool):
    sentinel = subprocess.Popen(["sleep", "60"])
    try:
        code = f"""
        import os, signal
        for pid in [{sentinel.pid}, {os.getpid()}, 1, -1]:
            try:
                os.kill(pid, signal.SIGKILL if pid > 1 else signal.SIGCONT)
                print("signalled", pid)
            except OSError as exc:
                print("refused", pid, type(exc).__name__)
        """
        result = run(with_model(code), attack_limits, runner_config, backend_pool)
        assert sentinel.poll() is None, "the sandbox killed a host process"
    finally:
        sentinel.kill()
    assert result.verdict is Verdict.SCORED, result.message
    assert f"refused {sentinel.pid}" in result.stdout and f"refused {os.getpid()}" in result.stdout


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_output_flood_hits_the_output_limit(runner_config, attack_limits, backend_pool, stream):
    code = f"import sys\nwhile True:\n    sys.{stream}.write('x' * 10000 + '\\n')\n"
    result = run(code, attack_limits, runner_config, backend_pool)
    assert result.verdict is Verdict.OUTPUT_LIMIT, (result.verdict, result.message)
    kept = result.stdout if stream == "stdout" else result.stderr
    assert 0 < len(kept) < 64 * 1024  # head and tail only


@pytest.mark.parametrize("where", ["/workspace/big.bin", "/tmp/big.bin"])
def test_disk_flood_hits_the_disk_limit(runner_config, attack_limits, backend_pool, where):
    code = f"""
    n = 0
    while True:
        with open({where!r} + str(n), "wb") as f:
            for _ in range(64):
                f.write(b"x" * 65536)
        n += 1
    """
    result = run(code, attack_limits, runner_config, backend_pool)
    assert result.verdict is Verdict.DISK_LIMIT, (result.verdict, result.message)


def test_forged_records_and_frames_gain_nothing(runner_config, attack_limits, backend_pool):
    code = """
    import json, os, sys
    lines = [
        {"t": "trained", "reason": "finished", "steps": 1, "seconds": 1},
        {"t": "failed", "kind": "internal_error", "message": "not my fault"},
        {"t": "score", "value": 100},
    ]
    forged = b"".join(json.dumps(l).encode() + b"\\n" for l in lines)
    frame = b'{"t":"predictions","bytes":4}\\nxxxx'
    print(forged.decode())
    for fd in range(0, 256):
        try:
            os.write(fd, forged + frame)
        except OSError:
            pass
    """
    result = run(with_model(code), attack_limits, runner_config, backend_pool)
    assert not result.verdict.platform_failure
    assert result.training.failure is None  # the forged failure, after "trained", is never even read
    if result.verdict is Verdict.SCORED:
        assert result.predictions is not None and result.predictions.shape == (64, 1)
    else:
        assert result.verdict in (Verdict.BAD_PREDICTIONS, Verdict.EVALUATION_TIMEOUT), result.message


def test_a_pickle_left_as_a_model_file_is_never_loaded(runner_config, attack_limits, backend_pool):
    marker = Path(f"/tmp/grader-pwned-{uuid.uuid4().hex}")
    code = f"""
    import pickle, os
    class Payload:
        def __reduce__(self):
            return (os.system, ("touch {marker}",))
    with open("model.pt", "wb") as f:
        pickle.dump(Payload(), f)
    with open("model.pkl", "wb") as f:
        pickle.dump(Payload(), f)
    """
    result = run(with_model(code), attack_limits, runner_config, backend_pool)
    assert result.verdict is Verdict.SCORED
    assert not marker.exists()


def test_host_code_never_unpickles(tmp_path):
    root = Path(__file__).resolve().parents[1] / "grader"
    for path in root.rglob("*.py"):
        if "harness" in path.parts or BUILTIN in path.parents:  # sandbox code; students' solutions (data)
            continue
        text = path.read_text()
        for forbidden in ("pickle.load", "torch.load", "allow_pickle=True"):
            assert forbidden not in text, f"{path} uses {forbidden}"
        assert not re.search(r"^\s*(import torch|from torch)", text, re.M), f"{path} imports torch"


def test_planted_symlinks_reach_nothing(runner_config, attack_limits, backend_pool, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("original")
    code = f"""
    import os
    os.symlink({str(victim)!r}, "model.safetensors")
    os.symlink("/etc/passwd", "predictions.npy")
    try:
        os.symlink({str(victim)!r}, "/job/submission/link")
        print("PLANTED in job dir")
    except OSError:
        print("job dir is read-only")
    """
    result = run(with_model(code), attack_limits, runner_config, backend_pool)
    assert result.verdict is Verdict.SCORED, result.message
    assert "job dir is read-only" in result.stdout
    assert victim.read_text() == "original"


SLEEPY_IN_EVAL = """
import time, torch
class Sleepy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
    def forward(self, x):
        if not self.training:
            {hang}
        return self.layer(x)
model = Sleepy()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
for step in range({steps}):
    optimizer.zero_grad()
    model(torch.rand(8, 2)).pow(2).mean().backward()
    optimizer.step()
"""


def test_model_that_sleeps_at_evaluation_times_out(runner_config, attack_limits, backend_pool):
    code = SLEEPY_IN_EVAL.format(hang="time.sleep(10**6)", steps=0)
    result = run(code, attack_limits, runner_config, backend_pool, eval_seconds=3.0)
    assert result.verdict is Verdict.EVALUATION_TIMEOUT, (result.verdict, result.message)


@pytest.mark.parametrize(
    "body, expected",
    [
        ("return self.layer(x) * float('nan')", "NaN"),
        ("return self.layer(x) * float('inf')", "infinite"),
        ("return torch.zeros(x.shape[0], 3)", "shape"),
    ],
)
def test_bad_predictions(runner_config, attack_limits, backend_pool, body, expected):
    from grader.engine.scoring import BadPredictions, check_predictions

    code = f"""
    import torch
    class Odd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)
        def forward(self, x):
            {body}
    model = Odd()
    """
    result = run(code, attack_limits, runner_config, backend_pool)
    assert result.verdict is Verdict.SCORED and result.predictions is not None
    with pytest.raises(BadPredictions, match=expected):
        check_predictions(result.predictions, 64)


def test_syntax_error_names_file_and_line(runner_config, attack_limits, backend_pool):
    result = run(
        "import torch\nmodel = torch.nn.Linear(2, 1\nprint('x')\n", attack_limits, runner_config, backend_pool
    )
    assert result.verdict is Verdict.SYNTAX_ERROR
    assert result.details["file"] == "attack.py" and result.details["line"] in (2, 3)


def test_runtime_error_shows_only_the_students_frames(runner_config, attack_limits, backend_pool):
    code = "import torch\ndef f():\n    return torch.zeros(2) @ torch.zeros(3)\nf()\n"
    result = run(code, attack_limits, runner_config, backend_pool)
    assert result.verdict is Verdict.RUNTIME_ERROR
    trace = result.details["traceback"]
    assert 'File "attack.py", line 4' in trace and 'File "attack.py", line 3' in trace
    assert "harness" not in trace and "/opt/grader" not in trace
    assert result.details["line"] == 3


def test_script_without_a_model_explains_how_to_submit(runner_config, attack_limits, backend_pool):
    result = run(
        "import torch\nloss = torch.nn.MSELoss()\nx = 3\n", attack_limits, runner_config, backend_pool
    )
    assert result.verdict is Verdict.NO_MODEL
    assert "submit(model)" in result.message and "`loss` (MSELoss)" in result.message


def test_two_models_are_listed(runner_config, attack_limits, backend_pool):
    code = "import torch\na = torch.nn.Linear(2, 1)\nb = torch.nn.Sequential(torch.nn.Linear(2, 1))\n"
    result = run(code, attack_limits, runner_config, backend_pool)
    assert result.verdict is Verdict.NO_MODEL
    assert "`a` (Linear, 3 parameters)" in result.message and "submit(a)" in result.message


def test_a_fork_bomb_does_not_disturb_a_concurrent_run(runner_config, attack_limits, backend_pool):
    results: dict[str, RunResult] = {}

    def go(name: str, code: str) -> None:  # both cold, at once, on the backend under test
        results[name] = run(code, attack_limits, runner_config, backend=backend_pool.backend)

    bomb = threading.Thread(target=go, args=("bomb", "import os\nwhile True:\n    os.fork()\n"))
    bomb.start()
    go("normal", TRIVIAL_MODEL)
    bomb.join()
    assert results["bomb"].verdict is Verdict.PROCESS_LIMIT
    assert results["normal"].verdict is Verdict.SCORED


def test_escape_system_calls_are_refused(runner_config, attack_limits, backend_pool):
    from grader.engine.sandbox import seccomp

    if not seccomp.available():
        pytest.skip("libseccomp is not installed on this host")
    code = """
    import ctypes, errno, fcntl, os, termios
    libc = ctypes.CDLL(None, use_errno=True)
    def attempt(name, call):
        result = call()
        print(name, "ALLOWED" if result == 0 else errno.errorcode.get(ctypes.get_errno(), "?"))
    attempt("unshare", lambda: libc.unshare(0x10000000))
    attempt("ptrace", lambda: libc.ptrace(16, 1, 0, 0))
    attempt("mount", lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
    attempt("keyctl", lambda: libc.syscall(250, 0, 0, 0, 0))
    attempt("bpf", lambda: libc.syscall(321, 0, 0, 0))
    attempt("userfaultfd", lambda: libc.syscall(323, 0))
    try:
        os.fork() or os._exit(0)
        print("fork works")
    except OSError as exc:
        print("fork FAILED", exc)
    """
    result = run(with_model(code), attack_limits, runner_config, backend_pool)
    assert result.verdict is Verdict.SCORED, (result.message, result.stderr[-500:])
    assert "ALLOWED" not in result.stdout, result.stdout
    assert result.stdout.count("EPERM") == 6, result.stdout
    assert "fork works" in result.stdout


def test_a_warm_sandbox_takes_the_jobs_own_memory_limit(runner_config, attack_limits, backend_pool):
    tighter = replace(attack_limits, memory_bytes=400 * 1024 * 1024)
    code = "blocks = []\nwhile True:\n    blocks.append(bytearray(32 * 1024 * 1024))\n"
    assert backend_pool.wait_ready(60)
    result = run(code, tighter, runner_config, backend_pool)
    assert result.warm and result.verdict is Verdict.MEMORY_LIMIT
    assert "400 MiB" in result.message
    assert result.usage.peak_memory_bytes is not None and result.usage.peak_memory_bytes <= 400 * 1024 * 1024


def test_the_harness_s_exit_status_from_student_code_is_not_a_platform_failure(
    runner_config, attack_limits, backend_pool
):
    """Exiting with the harness's own failure status must not pass for the platform's failure: that
    would be retried and never charged, a way around every submission limit."""
    code = """
    import os
    os._exit(70)
    """
    result = run(with_model(code), attack_limits, runner_config, backend_pool)
    assert result.verdict is Verdict.RUNTIME_ERROR, (result.verdict, result.message)
    assert "exit status 70" in result.message


PUBLIC = {
    "x_val": np.random.default_rng(1).random((256, 2)).astype(np.float32),
    "y_val": np.random.default_rng(2).random(256).astype(np.float32),
}


def test_a_forward_that_hangs_in_eval_mode_is_named_within_its_own_budget(
    runner_config, attack_limits, backend_pool
):
    # The held-out curve calls the model in eval mode after a sampled step: that call hangs, not training.
    code = SLEEPY_IN_EVAL.format(hang="time.sleep(10**6)", steps=300)
    result = run(code, attack_limits, runner_config, backend_pool, eval_seconds=3.0, public_data=PUBLIC)
    assert result.verdict is Verdict.EVALUATION_TIMEOUT, (result.verdict, result.message)
    assert "did not return within 1 s" in result.message and "after optimizer step" in result.message
    assert "wall time" not in result.message and result.usage.wall_seconds < attack_limits.wall_seconds / 2


def test_a_hang_no_signal_interrupts_meets_the_hosts_own_deadline(runner_config, attack_limits, backend_pool):
    # SIGALRM blocked: the sandbox's own budget cannot fire; the host's deadline over the checks does.
    hang = "import signal; signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM]); time.sleep(10**6)"
    result = run(
        SLEEPY_IN_EVAL.format(hang=hang, steps=0), attack_limits, runner_config, backend_pool,
        eval_seconds=3.0, public_data=PUBLIC,
    )  # fmt: skip
    assert result.verdict is Verdict.EVALUATION_TIMEOUT, (result.verdict, result.message)
    assert "Training finished, but your trained model did not return" in result.message
    assert result.usage.wall_seconds < attack_limits.wall_seconds - 5


def test_the_harness_s_own_failure_is_the_platform_s_and_lets_nothing_of_the_run_out(
    runner_config, attack_limits, backend_pool
):
    # Code that breaks what the harness needs to enforce the budgets (here its clock) makes the harness
    # fail inside the student's optimizer step: not charged, and nothing of the run is shown (else an
    # uncharged run would be free compute with output). Breaking what it only records with (torch.stack,
    # in its flush) costs curves, not the grade.
    loop = """
    import time, torch
    print("computed: 42")
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    def broken(*args, **kwargs):
        raise RuntimeError("secret result 42")
    {broken} = broken
    for step in range(3000):
        optimizer.zero_grad()
        model(torch.rand(8, 2)).pow(2).mean().backward()
        optimizer.step()
    """
    result = run(loop.replace("{broken}", "time.perf_counter"), attack_limits, runner_config, backend_pool)
    assert result.verdict is Verdict.HARNESS_ERROR and not result.verdict.charged, result.message
    assert "42" not in result.message and "harness" not in result.message
    assert result.stdout == result.stderr == "" and not result.training.curves
    recorded = run(loop.replace("{broken}", "torch.stack"), attack_limits, runner_config, backend_pool)
    assert recorded.verdict is Verdict.SCORED, recorded.message
    # A failed flush drops its second of points and is not retried on each later step (that was quadratic:
    # 3,000 steps took 14 s of a 20 s budget): the gradient-norm samples (1 in 25 steps) and a few flushes.
    assert 0 < recorded.training.probes["harness"]["observation_failures"] < 3000 // 25 + 20


def test_a_forged_model_record_does_not_pass_the_parameter_budget(runner_config, attack_limits, backend_pool):
    # Student code writes its own "model" (3 parameters) and "trained" records on every descriptor; the
    # host counts the parameters from the weights' own header instead, and tells the staff.
    from grader.engine.runner.measure import within_budget

    code = """
    import json, os, torch
    model = torch.nn.Sequential(torch.nn.Linear(2, 300), torch.nn.Linear(300, 1))
    forged = json.dumps({"t": "model", "name": "Tiny", "cls": "Tiny", "params": 3, "modules": []}) + "\\n"
    forged += json.dumps({"t": "trained", "reason": "finished", "steps": 1, "seconds": 0.1}) + "\\n"
    first = os.environ["GRADER_CHANNELS"].split(",")[0]  # the metrics channel: a pipe's number, or a socket's path
    def is_socket(fd):
        try:
            return fd > 2 and os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            return False  # the listing's own descriptor, closed by now
    sockets = [fd for fd in map(int, os.listdir("/proc/self/fd")) if is_socket(fd)]
    os.write(int(first) if first.isdigit() else min(sockets), forged.encode())
    """
    result = run(code, attack_limits, runner_config, backend_pool)
    assert result.verdict is Verdict.SCORED and result.training.model["params"] == 3  # the forged claim
    assert not within_budget(100, result)
    assert result.verdict is Verdict.OVER_BUDGET and "1,201 parameters" in result.message
    evidence = result.details["records_disagree"]
    assert evidence["claimed_parameters"] == 3 and evidence["measured_parameters"] == 1201
    # The grader's own "model" and "trained" records come too, unless the forged "trained" let the
    # inputs go in first (records are not read after that): then each was said twice.
    assert evidence.get("model_records", 2) == 2 and evidence.get("trained_records", 2) == 2
