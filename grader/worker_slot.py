"""What one worker process owns: its sandbox backend and its warm pool (made on first use)."""

from __future__ import annotations

import atexit
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.config import RunnerConfig
from grader.engine.sandbox.backend import Backend, BwrapBackend
from grader.engine.sandbox.limits import Limits
from grader.engine.sandbox.pool import WarmPool

log = logging.getLogger(__name__)


@dataclass
class Slot:
    uid: int | None
    threads: int
    jobs_root: Path | None
    pool: WarmPool | None
    gpu_index: int | None
    backend: Backend | None = None


_slot: Slot | None = None
_lock = threading.Lock()


def sandbox_backend(config: RunnerConfig) -> Backend:
    """The configured backend. A Docker one first removes the sandbox containers of dead workers."""
    if config.sandbox_backend != "docker":
        return BwrapBackend(config.sandbox_uid)
    from grader.engine.sandbox.container import DockerBackend  # the Docker SDK only where it is used

    assert config.sandbox_uid is not None  # RunnerConfig gives containers a uid of their own
    backend = DockerBackend(config.sandbox_image, config.sandbox_uid, cgroup_root=config.cgroup_root)
    removed = backend.sweep_orphans(config.jobs_dir)
    if removed:
        log.warning("removed %d sandbox containers left by workers that are gone", len(removed))
    return backend


def release(*_: Any, **__: Any) -> None:
    """Stop this process's warm pool, removing its sandboxes (Celery's worker and process shutdown)."""
    global _slot
    with _lock:
        slot, _slot = _slot, None
    if slot is not None and slot.pool is not None:
        slot.pool.close()


def current() -> Slot:
    global _slot
    with _lock:
        if _slot is None:
            config = RunnerConfig.from_env()
            backend = sandbox_backend(config)
            pool = None
            if config.warm_pool:
                limits = Limits(threads=config.threads, gpu_index=config.gpu_index)
                pool = WarmPool(
                    limits, config.sandbox_uid, config.warm_pool, config.jobs_dir, backend, config.fork_server
                ).start()
                atexit.register(pool.close)
            _slot = Slot(config.sandbox_uid, config.threads, config.jobs_dir, pool, config.gpu_index, backend)
        return _slot
