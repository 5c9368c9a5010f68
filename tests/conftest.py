"""Shared fixtures: real sandboxes (bubblewrap, cgroups as available), real torch inside them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import numpy as np
import pytest
from support import engine

from grader.config import RunnerConfig
from grader.engine.sandbox.container import DockerBackend
from grader.engine.sandbox.limits import Limits, MiB
from grader.engine.sandbox.pool import WarmPool


@pytest.fixture(scope="session")
def runner_config() -> RunnerConfig:
    if not shutil.which("bwrap"):
        pytest.fail(
            "bubblewrap is required for the tests: apt-get install bubblewrap (scripts/setup does it)"
        )
    return RunnerConfig.from_env()


@pytest.fixture(scope="session")
def attack_limits() -> Limits:
    return Limits(
        wall_seconds=20,
        memory_bytes=768 * MiB,
        processes=32,
        file_bytes=8 * MiB,
        disk_bytes=16 * MiB,
        output_bytes=1 * MiB,
    )


@pytest.fixture(scope="session")
def warm_pool(runner_config: RunnerConfig, attack_limits: Limits) -> Iterator[WarmPool]:
    pool = WarmPool(
        attack_limits, runner_config.sandbox_uid, size=1, jobs_root=runner_config.jobs_dir
    ).start()
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def docker_backend(runner_config: RunnerConfig) -> DockerBackend:
    """Sandboxes as containers of the locally built image, on a real engine (skips where none runs)."""
    return engine.docker_backend_or_skip(runner_config)


@pytest.fixture(scope="module")  # gone with its module: other modules count the engine's containers
def docker_pool(
    docker_backend: DockerBackend, runner_config: RunnerConfig, attack_limits: Limits
) -> Iterator[WarmPool]:
    pool = WarmPool(
        attack_limits, docker_backend.uid, size=1, jobs_root=runner_config.jobs_dir, backend=docker_backend
    ).start()
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def fork_pool(runner_config: RunnerConfig, attack_limits: Limits) -> Iterator[WarmPool]:
    """A fork server (bubblewrap as root): each run in a sealed child of one warm sandbox."""
    if runner_config.sandbox_uid is None:
        pytest.skip("a fork server needs the worker to run as root (a uid and a cgroup for its sandbox)")
    pool = WarmPool(
        attack_limits, runner_config.sandbox_uid, size=1, jobs_root=runner_config.jobs_dir, fork_server=True
    ).start()
    assert pool.wait_ready(60) and pool.fork_server, (
        "this kernel refused the fork server's seal (see the log)"
    )
    yield pool
    pool.close()


# The fork server's pool is the inner loop's (scripts/test --quick); CI runs all three.
@pytest.fixture(
    scope="module",
    params=[
        pytest.param("bwrap", marks=pytest.mark.long),
        "bwrap-fork",
        pytest.param("docker", marks=pytest.mark.long),
    ],
)
def backend_pool(request: pytest.FixtureRequest) -> WarmPool:
    """The warm pool of each backend in turn (bubblewrap's warm sandboxes, its fork server, containers):
    a module using it runs against each, with the same verdicts."""
    fixture = {"bwrap": "warm_pool", "bwrap-fork": "fork_pool", "docker": "docker_pool"}[request.param]
    return request.getfixturevalue(fixture)


@pytest.fixture
def eval_inputs() -> np.ndarray:
    return np.random.default_rng(7).random((256, 2)).astype(np.float32)


@pytest.fixture
def host_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """A secret in the host's environment that must never reach a sandbox."""
    value = "s3cret-" + os.urandom(8).hex()
    monkeypatch.setenv("GRADER_TEST_SECRET", value)
    return value
