"""The Docker engine the container backend's tests use: found, or a clear reason to skip.

scripts/test starts the engine where Debian's docker.io is installed and builds the images
(scripts/build-images --local) before pytest runs; without an engine the Docker tests skip.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pytest

from grader.config import RunnerConfig
from grader.engine.sandbox.container import DockerBackend

SANDBOX_IMAGE = os.environ.get("GRADER_TEST_SANDBOX_IMAGE", "grader-sandbox:local")


@functools.cache
def engine() -> tuple[Any, str]:
    """(client, "") when an engine answers, else (None, why not)."""
    try:
        import docker
    except ImportError:
        return None, "the Docker SDK is not installed (pip install -e '.[dev]')"
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach it means the same: no engine here
        return (
            None,
            f"no Docker engine answers here ({type(exc).__name__}); scripts/test starts one if docker.io is installed",
        )
    return client, ""


def client_or_skip() -> Any:
    client, why = engine()
    if client is None:
        pytest.skip(why)
    return client


def docker_backend_or_skip(config: RunnerConfig, image: str = SANDBOX_IMAGE) -> DockerBackend:
    client = client_or_skip()
    try:
        client.images.get(image)
    except Exception:  # noqa: BLE001
        pytest.fail(f"the sandbox image {image} is missing: build it with scripts/build-images --local")
    uid = config.sandbox_uid or 61000
    return DockerBackend(image, uid, client=client, cgroup_root=config.cgroup_root)


def sandbox_containers(client: Any) -> list[Any]:
    return client.containers.list(all=True, filters={"label": "grader.engine.sandbox=1"})


def jobs_left(root: Path | None) -> list[str]:
    """Job and channel folders still under ``root`` (every path removes its own)."""
    if root is None or not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if p.name.startswith(("job-", "channels-")))
