"""What one worker process owns: its sandbox settings and its warm pool (made on first use)."""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass
from pathlib import Path

from grader.config import RunnerConfig
from grader.sandbox.limits import Limits
from grader.sandbox.pool import WarmPool


@dataclass
class Slot:
    uid: int | None
    threads: int
    jobs_root: Path | None
    pool: WarmPool | None
    gpu_index: int | None


_slot: Slot | None = None
_lock = threading.Lock()


def current() -> Slot:
    global _slot
    with _lock:
        if _slot is None:
            config = RunnerConfig.from_env()
            pool = None
            if config.warm_pool:
                limits = Limits(threads=config.threads, gpu_index=config.gpu_index)
                pool = WarmPool(limits, config.sandbox_uid, config.warm_pool, config.jobs_dir).start()
                atexit.register(pool.close)
            _slot = Slot(config.sandbox_uid, config.threads, config.jobs_dir, pool, config.gpu_index)
        return _slot
