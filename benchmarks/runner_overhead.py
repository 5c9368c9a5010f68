"""How much the runner costs, measured side by side in one run (the machine is shared and noisy).

Runs the paraboloid reference solution, interleaved, ROUNDS times each way:

* bare          ``python reference.py`` in a subprocess (same interpreter, same thread count);
* bwrap cold    through the runner, in a bubblewrap sandbox started for it (torch imported inside);
* bwrap warm    through the runner, in a warm bubblewrap sandbox that imported torch beforehand;
* bwrap fork    through the runner, in a child of a fork server (as root: grader/engine/sandbox/forkserver.py),
                whose training is also compared with a warm sandbox's (a forked child must not train slower);
* docker cold   the same in a sandbox container started for it (docker/sandbox.Dockerfile);
* docker warm   the same in a warm sandbox container;

and, inside warm bubblewrap sandboxes, training with the harness's recording on and off (whole
runs are noisy here: ``recording_cost.py`` measures the same thing block by block). Every pool is
full before each measurement, so no sandbox starts in the background while another run is timed.
Prints medians and the ratios the issues set as targets: bubblewrap warm <= 0.9 x bare and cold
<= 1.15 x bare, fork <= 0.9 x bare and its training <= 1.05 x a warm sandbox's; Docker warm <= 0.9 x
bare and cold <= 1.3 x bare; recording <= 1.05 x. The Docker
rows need an engine and the image (scripts/build-images --local); without them they are skipped,
and the output says so.

    .venv/bin/python benchmarks/runner_overhead.py [--rounds 3] [--image grader-sandbox:local]
    .venv/bin/python benchmarks/runner_overhead.py --smoke     # one round: tests/test_benchmarks.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.config import RunnerConfig
from grader.engine import datasets
from grader.engine.runner.grade import limits_for
from grader.engine.runner.session import RunRequest, run_submission
from grader.engine.sandbox.backend import Backend, BwrapBackend
from grader.engine.sandbox.pool import WarmPool
from grader.engine.spec import find

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {
    "bwrap cold": 1.15,
    "bwrap warm": 0.90,
    "bwrap fork": 0.90,
    "docker cold": 1.30,
    "docker warm": 0.90,
}


def bare(script: Path, threads: int) -> float:
    env = {"PATH": os.environ.get("PATH", "/usr/bin"), "OMP_NUM_THREADS": str(threads), "HOME": "/tmp"}
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        subprocess.run([sys.executable, str(script)], cwd=folder, env=env, check=True, capture_output=True)
        return time.perf_counter() - started


def docker_backend(image: str, uid: int) -> tuple[Backend | None, str]:
    try:
        import docker

        client = docker.from_env(timeout=120)
        client.images.get(image)
    except Exception as exc:  # noqa: BLE001 - any reason means the same here: no Docker rows
        return None, f"{type(exc).__name__}: {exc}"[:200]
    from grader.engine.sandbox.container import DockerBackend

    return DockerBackend(image, uid, client=client), ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--image", default="grader-sandbox:local", help="the Docker backend's sandbox image")
    parser.add_argument("--smoke", action="store_true", help="one round, to check it still runs")
    args = parser.parse_args()
    if args.smoke:
        args.rounds = 1
    config = RunnerConfig.from_env()
    assignment = find("paraboloid")
    assert assignment.folder is not None
    script = assignment.folder / "reference.py"
    if args.smoke:  # the same paths in seconds: a twenty-fifth of the training (ratios are not read)
        shortened = script.read_bytes().replace(b"epoch_max = 2500", b"epoch_max = 100")
        assert shortened != script.read_bytes(), "the reference's epoch_max changed: update the smoke mode"
        script = Path(tempfile.mkdtemp(prefix="overhead-smoke-")) / "reference.py"
        script.write_bytes(shortened)
    hidden = datasets.hidden_set(assignment, b"benchmark-secret-0123456789abcdef")
    limits = limits_for(assignment, config.threads)
    backends: dict[str, Backend] = {"bwrap": BwrapBackend(config.sandbox_uid)}
    docker, why_not = docker_backend(args.image, config.sandbox_uid or 61000)
    if docker is not None:
        backends["docker"] = docker

    def request(instrument: bool = True) -> RunRequest:
        return RunRequest(
            files={"reference.py": script.read_bytes()}, entry="reference.py", mode="script",
            eval_inputs=hidden.inputs, public_data=datasets.public_files(assignment), seed=0,
            limits=limits, instrument=instrument,
        )  # fmt: skip

    pools = {
        name: WarmPool(limits, config.sandbox_uid, size=1, jobs_root=config.jobs_dir, backend=backend).start()
        for name, backend in backends.items()
    }
    if config.sandbox_uid is not None:  # fork servers need root (a uid and a cgroup for the sandbox)
        pools["bwrap fork"] = WarmPool(
            limits, config.sandbox_uid, size=1, jobs_root=config.jobs_dir, backend=backends["bwrap"],
            fork_server=True,
        ).start()  # fmt: skip

    def settle() -> None:  # nothing starting in the background while a run is timed
        for pool in pools.values():
            assert pool.wait_ready(180), "a warm sandbox did not start"

    def through_runner(name: str, warm: bool, instrument: bool = True) -> tuple[float, float]:
        settle()
        started = time.perf_counter()
        result = run_submission(
            request(instrument), pool=pools[name] if warm else None, uid=config.sandbox_uid,
            jobs_root=config.jobs_dir, backend=backends[name.split()[0]],
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        assert result.verdict.value == "scored", result.message
        assert result.warm == warm
        return elapsed, float((result.training.trained or {})["seconds"])

    times: dict[str, list[float]] = {"bare": []}
    for name in backends:
        times[f"{name} cold"], times[f"{name} warm"] = [], []
    times["train_on"], times["train_off"] = [], []
    if "bwrap fork" in pools:
        times["bwrap fork"], times["train_fork"] = [], []
    try:
        bare(script, config.threads)  # warm the file cache once, untimed
        for round_ in range(args.rounds):
            settle()
            times["bare"].append(bare(script, config.threads))
            for name in backends:
                times[f"{name} cold"].append(through_runner(name, warm=False)[0])
            # Recording on and off, both in warm bubblewrap sandboxes, in alternating order.
            for instrument in (True, False) if round_ % 2 == 0 else (False, True):
                elapsed, training = through_runner("bwrap", True, instrument)
                times["train_on" if instrument else "train_off"].append(training)
                if instrument:
                    times["bwrap warm"].append(elapsed)
            if "bwrap fork" in pools:
                elapsed, training = through_runner("bwrap fork", True)
                times["bwrap fork"].append(elapsed)
                times["train_fork"].append(training)
            if "docker" in backends:
                times["docker warm"].append(through_runner("docker", warm=True)[0])
            print(
                f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
                flush=True,
            )
    finally:
        for pool in pools.values():
            pool.close()
    median = {k: statistics.median(v) for k, v in times.items()}
    print(f"\nmedians over {args.rounds} rounds (threads={config.threads}):")
    for key, value in median.items():
        print(f"  {key:<12} {value:6.2f} s")
    print("\nratios (target):")
    for key, target in TARGETS.items():
        if key in median:
            ratio = median[key] / median["bare"]
            print(
                f"  {key + ' / bare':<20} {ratio:.3f}   (<= {target:.2f}){'' if ratio <= target else '  MISSED'}"
            )
    if docker is None:
        print(f"  docker rows skipped: no engine or no image {args.image} ({why_not})")
    print(f"  recording on / off   {median['train_on'] / median['train_off']:.3f}   (<= 1.05)")
    if "train_fork" in median:
        print(f"  training fork / warm {median['train_fork'] / median['train_on']:.3f}   (<= 1.05)")


if __name__ == "__main__":
    main()
