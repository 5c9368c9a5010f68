"""The quieter channels between a sandbox and the host (issue 16's security review), each closed.

Every case runs a hostile submission in the real sandbox and asserts three things: the verdict,
what reached the host (no hidden input in any message, log, record or weights; no host secret in
the sandbox), and the host's own CPU time (at most twice a normal run's: in total, or per second
for runs that last longer). The classic attacks (bombs, floods of output, escapes) are in
test_attacks.py.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from textwrap import dedent

import pytest
from support.hostile import HIDDEN, NORMAL_RUN, Measured, run_measured, with_model

from grader.engine.runner.measure import within_budget
from grader.engine.runner.session import RunResult
from grader.engine.sandbox import cgroups, scratch, seccomp
from grader.engine.verdicts import Verdict

CHANNELS = """
import os, sys, json, torch
METRICS, CONTROL, RESULTS = (int(fd) for fd in os.environ["GRADER_CHANNELS"].split(","))
def frame(kind, payload):
    os.write(RESULTS, json.dumps({"t": kind, "bytes": len(payload)}).encode() + b"\\n" + payload)
"""


@pytest.fixture(scope="module")
def normal(runner_config, attack_limits, warm_pool) -> Measured:
    """What a normal run costs the host (the larger of two, so that noise errs on the lenient side)."""
    runs = [run_measured(NORMAL_RUN, attack_limits, runner_config, warm_pool) for _ in range(2)]
    assert all(r.result.verdict is Verdict.SCORED for r in runs), [r.result.message for r in runs]
    return max(runs, key=lambda r: r.host_cpu_per_second)


def reached_a_person(result: RunResult) -> str:
    """Everything of a run that a person, a log or storage can see, as one text."""
    return "\n".join(
        [
            result.message,
            result.stdout,
            result.stderr,
            json.dumps(result.details, default=str),
            json.dumps([*result.training.warnings, result.training.probes], default=str),
            (result.weights or b"").hex(),
        ]
    )


def assert_nothing_hidden_left(result: RunResult) -> None:
    seen = reached_a_person(result)
    for row in range(0, 64, 8):  # any eight bytes of the hidden inputs, as hex or as raw weights
        piece = HIDDEN[row].tobytes().hex()
        assert piece not in seen, f"hidden row {row} reached the host"
        assert HIDDEN[row].tobytes() not in (result.weights or b"")


# -- finding 1: hidden inputs never leave, whichever way a forward() pushes them ---------------------
LEAKY_MODEL = (
    CHANNELS
    + """
class Leaky(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.register_buffer("seen", torch.zeros(128))
    def forward(self, x):
        if x.shape[0] == 64 and not self.training:  # the hidden set
            secret = x.numpy().tobytes().hex()
            LEAK
        return self.layer(x)
model = Leaky()
"""
)
LEAKS = {
    "as the type of a frame": (
        'os.write(RESULTS, (\'{"t":"\' + secret + \'","bytes":0}\\n\').encode())',
        {Verdict.BAD_PREDICTIONS},
    ),
    "in a broken .npy header": (
        "frame('predictions', b'\\x93NUMPY\\x01\\x00' + secret.encode())",
        {Verdict.BAD_PREDICTIONS},
    ),
    "as the name and text of an exception": (
        "raise type('E' + secret[:100], (ValueError,), {})(secret)",
        {Verdict.BAD_PREDICTIONS},
    ),
    "printed to stdout and stderr": (
        "print(secret); sys.stderr.write(secret)",
        {Verdict.SCORED},
    ),
    "as records on the metrics channel": (
        "os.write(METRICS, json.dumps({'t': 'warning', 'kind': secret[:500]}).encode() + b'\\n')",
        {Verdict.SCORED},
    ),
    "in a weights frame after its own predictions": (
        "import io, numpy; b = io.BytesIO(); numpy.save(b, self.layer(x).detach().numpy()); "
        "frame('predictions', b.getvalue()); frame('weights', bytes.fromhex(secret))",
        {Verdict.SCORED},
    ),
    "in a buffer of the model, saved with its weights": (
        "self.seen.copy_(x.flatten()[:128])",
        {Verdict.SCORED},
    ),
}


@pytest.mark.parametrize("how", list(LEAKS))
def test_hidden_inputs_never_leave_the_sandbox(runner_config, attack_limits, warm_pool, normal, how):
    leak, verdicts = LEAKS[how]
    measured = run_measured(LEAKY_MODEL.replace("LEAK", leak), attack_limits, runner_config, warm_pool)
    result = measured.result
    assert result.verdict in verdicts, (result.verdict, result.message)
    assert_nothing_hidden_left(result)
    if result.verdict is Verdict.SCORED:
        assert result.weights and result.predictions is not None and result.predictions.shape == (64, 1)
    assert measured.within(normal), (measured.host_cpu, normal.host_cpu)


# -- finding 2: what the host enforces, it measures ---------------------------------------------------
def test_forged_small_weights_do_not_pass_the_parameter_budget(
    runner_config, attack_limits, warm_pool, normal
):
    code = CHANNELS + dedent("""
    from safetensors.torch import save
    tiny = torch.nn.Linear(2, 1)
    frame("weights", save({k: v.contiguous() for k, v in tiny.state_dict().items()}, metadata={"parameters": "weight,bias"}))
    os.write(METRICS, json.dumps({"t": "model", "name": "Tiny", "cls": "Tiny", "params": 3, "modules": []}).encode() + b"\\n")
    del tiny
    model = torch.nn.Sequential(torch.nn.Linear(2, 300), torch.nn.Linear(300, 1))
    """)
    measured = run_measured(code, attack_limits, runner_config, warm_pool)
    result = measured.result
    assert measured.within(normal)
    assert result.verdict is Verdict.SCORED and result.measured_parameters == [3, 1201]
    assert not within_budget(100, result)
    assert result.verdict is Verdict.OVER_BUDGET and "1,201 parameters" in result.message
    evidence = result.details["records_disagree"]
    assert evidence["weights_frames"] == 2 and evidence["measured_parameters"] == 1201


def test_weights_whose_header_lies_are_no_measure(runner_config, attack_limits, warm_pool, normal):
    code = CHANNELS + dedent("""
    import struct
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4096]}}).encode()
    frame("weights", struct.pack("<Q", len(header)) + header + bytes(4096))  # 1 number in 4 KiB
    model = torch.nn.Sequential(torch.nn.Linear(2, 300), torch.nn.Linear(300, 1))
    """)
    measured = run_measured(code, attack_limits, runner_config, warm_pool)
    result = measured.result
    assert result.measured_parameters == [None, 1201]
    assert not within_budget(1000, result) and result.verdict is Verdict.OVER_BUDGET
    assert measured.within(normal)


# -- finding 3: no container but one plain array is a prediction, and none crashes the host -----------
BAD_FRAMES = {
    "a zip of arrays": "b = io.BytesIO(); numpy.savez(b, a=numpy.zeros(64)); frame('predictions', b.getvalue())",
    "a pickle of objects": (
        "b = io.BytesIO(); numpy.save(b, numpy.array([Boom()] * 64, dtype=object), allow_pickle=True); "
        "frame('predictions', b.getvalue())"
    ),
    "a frame that claims a terabyte": 'os.write(RESULTS, b\'{"t":"predictions","bytes":1099511627776}\\n\')',
}
PICKLE_BOMB = """
import io, numpy, os
class Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/grader-unpickled",))
"""


@pytest.mark.parametrize("what", list(BAD_FRAMES))
def test_bad_prediction_frames_are_bad_predictions(runner_config, attack_limits, warm_pool, normal, what):
    if os.path.exists("/tmp/grader-unpickled"):
        os.remove("/tmp/grader-unpickled")
    code = PICKLE_BOMB + LEAKY_MODEL.replace("LEAK", BAD_FRAMES[what])
    measured = run_measured(code, attack_limits, runner_config, warm_pool)
    result = measured.result
    assert result.verdict is Verdict.BAD_PREDICTIONS, (result.verdict, result.message)
    assert not os.path.exists("/tmp/grader-unpickled")  # never unpickled, on the host or anywhere
    assert_nothing_hidden_left(result)
    assert measured.within(normal)


# -- finding 4: floods cost the host no more than a normal run --------------------------------------
FLOODS = {
    "tiny records on the metrics channel": (
        'tiny = b\'{"t":"progress","step":1,"elapsed":1,"loss":null}\\n\'\n'
        "for _ in range(64): os.write(METRICS, tiny * 10000)",
        Verdict.SCORED,
    ),
    "one endless line on the metrics channel": (
        "for _ in range(64): os.write(METRICS, b'x' * (1 << 19))",
        Verdict.SCORED,
    ),
    "junk on the results channel before the inputs": (
        "for _ in range(64): os.write(RESULTS, b'\\n' * (1 << 19))",
        Verdict.SCORED,
    ),
    "short lines on stdout": ("while True: print('x')", Verdict.OUTPUT_LIMIT),
}


@pytest.mark.parametrize("flood", list(FLOODS))
def test_a_flood_costs_the_host_no_more_than_a_normal_run(
    runner_config, attack_limits, warm_pool, normal, flood
):
    code, verdict = FLOODS[flood]
    measured = run_measured(with_model(CHANNELS + code + "\n"), attack_limits, runner_config, warm_pool)
    assert measured.result.verdict is verdict, (measured.result.verdict, measured.result.message)
    assert measured.within(normal), (flood, measured.host_cpu, measured.wall, normal.host_cpu, normal.wall)


# -- finding 5: nothing of the platform within the sandbox's reach ------------------------------------
def test_the_workers_environment_never_enters_the_sandbox(
    runner_config, attack_limits, normal, host_secret, monkeypatch
):
    monkeypatch.setenv("GRADER_DATABASE_URL", "postgresql://grader:" + host_secret + "@db/grader")
    code = """
    import os
    for path in ["/proc/self/environ", "/proc/1/environ"] + [f"/proc/{p}/environ" for p in os.listdir("/proc") if p.isdigit()]:
        try:
            print(path, open(path, "rb").read())
        except OSError as exc:
            print(path, "unreadable", exc.errno)
    print(sorted(os.environ))
    """
    measured = run_measured(with_model(code), attack_limits, runner_config)  # a cold sandbox: started now
    result = measured.result
    assert result.verdict is Verdict.SCORED, result.message
    assert "/proc/1/environ" in result.stdout
    assert host_secret not in result.stdout and "GRADER_DATABASE_URL" not in result.stdout
    assert measured.within(normal)


def test_a_jobs_files_are_private_to_its_sandbox(runner_config, attack_limits, warm_pool, normal):
    code = """
    import os
    for path in ["/job", "/job/submission", "/job/submission/attack.py"]:
        st = os.stat(path)
        print(path, oct(st.st_mode & 0o777), st.st_uid == os.getuid())
    """
    measured = run_measured(with_model(code), attack_limits, runner_config, warm_pool)
    out = measured.result.stdout
    assert measured.result.verdict is Verdict.SCORED, measured.result.message
    assert "/job 0o700 True" in out and "/job/submission 0o700 True" in out
    assert "/job/submission/attack.py 0o600 True" in out
    assert measured.within(normal)


# -- finding 6: a narrower kernel surface, and limits the host always sets ----------------------------
def test_io_uring_memfd_secret_and_odd_socket_families_are_refused(
    runner_config, attack_limits, warm_pool, normal
):
    if not seccomp.available():
        pytest.skip("libseccomp is not installed on this host")
    code = """
    import ctypes, errno, socket
    libc = ctypes.CDLL(None, use_errno=True)
    for name, number in [("io_uring_setup", 425), ("io_uring_enter", 426), ("io_uring_register", 427), ("memfd_secret", 447)]:
        params = ctypes.create_string_buffer(120)
        ok = libc.syscall(number, 8, params, 0, 0, 0, 0) >= 0
        print(name, "ALLOWED" if ok else errno.errorcode.get(ctypes.get_errno()))
    for name, family in [("netlink", 16), ("vsock", 40), ("packet", 17), ("alg", 38), ("bluetooth", 31), ("unspec", 0)]:
        try:
            socket.socket(family, socket.SOCK_DGRAM).close()
            print(name, "ALLOWED")
        except OSError as exc:
            print(name, errno.errorcode.get(exc.errno))
    a, b = socket.socketpair()
    a.sendall(b"ok"); print("unix", b.recv(2).decode())
    """
    measured = run_measured(with_model(code), attack_limits, runner_config, warm_pool)
    out = measured.result.stdout
    assert measured.result.verdict is Verdict.SCORED, measured.result.message
    assert "ALLOWED" not in out, out
    assert out.count("EPERM") == 4 and out.count("EAFNOSUPPORT") == 6 and "unix ok" in out, out
    assert measured.within(normal)


def test_a_sandbox_gets_its_share_of_the_cpus_not_every_core(runner_config, attack_limits, warm_pool, normal):
    code = """
    import os, time
    end = time.time() + 3
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            while time.time() < end:
                pass
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    """
    measured = run_measured(with_model(code), attack_limits, runner_config, warm_pool)
    usage = measured.result.usage
    assert measured.result.verdict is Verdict.SCORED, measured.result.message
    assert usage.cpu_seconds is not None and usage.enforcement.startswith("cgroup")
    # Three busy processes for three seconds: one core's worth (the limit's threads), not three.
    assert usage.cpu_seconds <= 1.2 * attack_limits.cpu_cores * usage.wall_seconds, usage
    assert measured.within(normal)


def test_without_its_cgroup_a_run_is_the_platforms_failure_not_a_weaker_sandbox(
    runner_config, attack_limits, normal, monkeypatch
):
    if not cgroups.CgroupV1.available() and not cgroups.CgroupV2.available():
        pytest.skip("no writable cgroup hierarchy here: the fallback limits are what this host has")

    def refuse(cls, name):  # type: ignore[no-untyped-def]
        raise PermissionError(13, "cgroup creation refused", name)

    monkeypatch.setattr(cgroups.CgroupV1, "make", classmethod(refuse))
    monkeypatch.setattr(cgroups.CgroupV2, "make", classmethod(refuse))
    measured = run_measured(with_model("print('student code ran')"), attack_limits, runner_config)
    result = measured.result
    assert result.verdict is Verdict.INTERNAL_ERROR and result.verdict.platform_failure
    assert "cgroup could not be made" in result.message
    assert "student code ran" not in result.stdout
    assert measured.within(normal)


@pytest.mark.parametrize("where", ["/workspace", "/tmp", "/dev/shm"])
def test_millions_of_empty_files_hit_the_disk_limit(runner_config, attack_limits, warm_pool, normal, where):
    if not scratch.available():
        pytest.skip("unprivileged: bubblewrap's tmpfs takes no file count (the memory cgroup bounds it)")
    code = f"i = 0\nwhile True:\n    open('{where}/f%d' % i, 'w').close()\n    i += 1\n"
    measured = run_measured(with_model(code), attack_limits, runner_config, warm_pool)
    result = measured.result
    assert result.verdict is Verdict.DISK_LIMIT, (result.verdict, result.message)
    assert result.usage.wall_seconds < 5  # stopped by the file count, long before memory or time
    assert measured.within(normal)


def test_a_tighter_cpu_share_is_what_the_job_gets(runner_config, attack_limits, normal):
    half = replace(attack_limits, cpus=0.5)
    code = "import time\nend = time.time() + 2\nwhile time.time() < end:\n    pass\n"
    measured = run_measured(with_model(code), half, runner_config)
    usage = measured.result.usage
    assert measured.result.verdict is Verdict.SCORED
    assert usage.cpu_seconds is not None and usage.cpu_seconds <= 0.65 * usage.wall_seconds, usage
    assert measured.within(normal)


# -- finding 9: full marks without learning are put to the instructor --------------------------------
FORMULA = """
import torch
class Formula(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
    def forward(self, x):
        return (x ** 2).sum(1, keepdim=True) + TOKEN
model = Formula()
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
x = torch.rand(64, 2)
for _ in range(20):
    opt.zero_grad()
    loss = ((model(x) - (x ** 2).sum(1, keepdim=True)) ** 2).mean() + 0 * model.w.sum()
    loss.backward()
    opt.step()
"""


@pytest.fixture(scope="module")
def paraboloid_grading(runner_config):  # type: ignore[no-untyped-def]
    from grader.engine import datasets
    from grader.engine.runner.grade import grade
    from grader.engine.runner.submission import prepare_submission
    from grader.engine.spec import find

    assignment = find("paraboloid")
    hidden = datasets.hidden_set(assignment, b"attack-suite-secret-0123456789abcdef")

    def graded(name: str, code: bytes) -> tuple[object, float]:
        import time

        submission = prepare_submission(name, code)
        cpu = time.process_time()
        report = grade(
            assignment,
            submission,
            hidden,
            [0],
            uid=runner_config.sandbox_uid,
            jobs_root=runner_config.jobs_dir,
        )
        return report, time.process_time() - cpu

    reference, cost = graded("reference.py", (assignment.folder / "reference.py").read_bytes())
    assert reference.passed and "learning_doubt" not in reference.chosen.result.details  # no false alarm
    return graded, cost


@pytest.mark.parametrize(
    "token, doubts",
    [
        ("0 * self.w", {"passes_before_training", "unchanged_by_noise"}),  # the weight changes nothing
        ("self.w", {"passes_before_training"}),  # used, but the answer was there before any step
    ],
)
def test_full_marks_without_learning_are_put_to_the_instructor(paraboloid_grading, token, doubts):
    graded, normal_cost = paraboloid_grading
    report, cost = graded("formula.py", FORMULA.replace("TOKEN", token).encode())
    assert report.verdict is Verdict.SCORED and report.passed, report.message  # the grade stands
    found = report.chosen.result.details["learning_doubt"]
    assert set(found) == doubts, found
    assert cost <= 2 * normal_cost, (cost, normal_cost)
