"""Running a hostile submission in the real sandbox, and measuring what it cost the host.

The host's CPU time is this process's own (``time.process_time``: every thread of it, the warm
pool's refill included), never the sandbox's, which its cgroup accounts for. A run that lasts
longer costs the host more for supervising it alone, so floods are compared per second of wall
time with a normal run's, as well as in total.
"""

from __future__ import annotations

import textwrap
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.config import RunnerConfig
from grader.engine.runner.session import RunRequest, RunResult, run_submission
from grader.engine.sandbox.backend import Backend
from grader.engine.sandbox.limits import Limits
from grader.engine.sandbox.pool import WarmPool

TRIVIAL_MODEL = "\nimport torch\nmodel = torch.nn.Linear(2, 1)\n"
HIDDEN = np.random.default_rng(0).random((64, 2)).astype(np.float32)  # the attack suite's hidden inputs

# A normal submission: a small network trained for about a second and a half, printing now and then.
NORMAL_RUN = """
import time, torch
torch.manual_seed(0)
x = torch.rand(256, 2)
y = (x ** 2).sum(1, keepdim=True)
model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
opt = torch.optim.Adam(model.parameters(), 1e-2)
end = time.time() + 1.5
step = 0
while time.time() < end:
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    step += 1
    if step % 200 == 0:
        print(step, loss.item())
"""


def with_model(code: str) -> str:
    return textwrap.dedent(code) + TRIVIAL_MODEL


@dataclass
class Measured:
    result: RunResult
    host_cpu: float  # seconds of this process's CPU the run took
    wall: float

    @property
    def host_cpu_per_second(self) -> float:
        return self.host_cpu / max(self.wall, 1e-3)

    def within(self, normal: Measured, factor: float = 2.0) -> bool:
        """At most ``factor`` times a normal run's host CPU: in total, or per second for longer runs."""
        return self.host_cpu <= factor * max(normal.host_cpu, normal.host_cpu_per_second * self.wall)


def run_measured(
    code: str,
    limits: Limits,
    config: RunnerConfig,
    pool: WarmPool | None = None,
    inputs: np.ndarray | None = None,
    backend: Backend | None = None,
    **kw: Any,
) -> Measured:
    """One run, warm from ``pool`` if given, else cold on ``backend`` (bubblewrap when None)."""
    request = RunRequest(
        files={"attack.py": textwrap.dedent(code).encode()},
        entry="attack.py",
        mode=kw.pop("mode", "script"),
        eval_inputs=HIDDEN if inputs is None else inputs,
        limits=limits,
        eval_seconds=kw.pop("eval_seconds", 5.0),
        **kw,
    )
    if pool is not None:
        pool.wait_ready(60)  # the previous run's replacement: its start-up is not this run's cost
    cpu, started = time.process_time(), time.monotonic()
    if pool is not None:
        backend = pool.backend  # a cold start (no warm sandbox ready) uses the pool's backend too
    result = run_submission(
        request, pool=pool, uid=config.sandbox_uid, jobs_root=config.jobs_dir, backend=backend
    )
    measured = Measured(result, time.process_time() - cpu, time.monotonic() - started)
    assert measured.wall <= limits.wall_seconds + 5, (
        f"took {measured.wall:.1f} s, limit {limits.wall_seconds} s"
    )
    return measured


def run(
    code: str, limits: Limits, config: RunnerConfig, pool: WarmPool | None = None, **kw: Any
) -> RunResult:
    return run_measured(code, limits, config, pool, **kw).result
