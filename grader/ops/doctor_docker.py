"""``grader doctor``'s sandbox check for the Docker backend: the engine, the image, the counters."""

from __future__ import annotations

import importlib
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from .doctor import FAIL, OK, WARN, Finding

if TYPE_CHECKING:
    from grader.config import RunnerConfig

ENGINE_FIX = (
    "give the worker the engine's socket (docker-compose.yml mounts /var/run/docker.sock and adds its "
    "group, DOCKER_GID), or start dockerd on this host"
)
CGROUP_FIX = "mount the host's /sys/fs/cgroup read-only in the worker and set GRADER_CGROUP_ROOT to it"


def check_docker(runner: RunnerConfig) -> list[Finding]:
    from grader.engine.sandbox.container_counters import ContainerCounters

    try:
        sdk: Any = importlib.import_module("docker")
    except ImportError:
        return [Finding("sandbox", FAIL, "GRADER_SANDBOX=docker but the Docker SDK is not installed",
                        "pip install 'grader[docker]'")]  # fmt: skip
    try:
        client = sdk.from_env(timeout=20)
        version = client.version().get("Version", "?")
    except Exception as exc:  # noqa: BLE001 - whatever it is, the workers cannot start sandboxes
        return [
            Finding(
                "sandbox", FAIL, f"GRADER_SANDBOX=docker but no Docker engine answers ({exc})", ENGINE_FIX
            )
        ]
    image = runner.sandbox_image
    try:
        client.images.get(image)
    except Exception:  # noqa: BLE001
        return [Finding("sandbox", FAIL, f"the sandbox image {image} is not on this engine",
                        "build it: scripts/build-images (--gpu for grader-sandbox:gpu)")]  # fmt: skip
    found = [Finding("sandbox", OK, f"backend docker: engine {version}, image {image}; student code runs "
                     f"as uid {runner.sandbox_uid} in its own container, no network, read-only root")]  # fmt: skip
    probe = client.containers.run(
        image, ["sleep", "30"], detach=True, network_mode="none", user=f"{runner.sandbox_uid}",
        labels={"grader.doctor": "1"}, mem_limit=64 * 1024 * 1024,
    )  # fmt: skip
    try:
        counters = ContainerCounters.find(probe, runner.cgroup_root)
    finally:
        with suppress(Exception):
            probe.remove(force=True)
    if counters is None:
        found.append(Finding("limits", WARN, "the engine enforces the limits, but a sandbox's cgroup is not "
                             "visible here: no CPU-time watchdog beyond RLIMIT_CPU, no peak memory", CGROUP_FIX))  # fmt: skip
    else:
        found.append(Finding("limits", OK, f"the engine enforces the limits; a sandbox's counters are read from "
                             f"its cgroup ({counters.version})"))  # fmt: skip
    found.append(Finding("seccomp", OK, "the system-call filter goes to the engine as a seccomp profile"))
    return found
