"""Configuration, read from environment variables prefixed ``GRADER_`` (and only here).

Each value is checked when read, with a message naming the variable and what is
allowed. The web service's settings join these in the service issue.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class ConfigError(ValueError):
    pass


def _int(name: str, default: int | None, low: int = 0) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a whole number") from None
    if value < low:
        raise ConfigError(f"{name}={value}: must be at least {low}")
    return value


@dataclass(frozen=True)
class RunnerConfig:
    sandbox_uid: int | None  # the uid student code runs as when the host is root
    jobs_dir: Path | None  # where job folders are made (a tmp dir when unset)
    threads: int  # compute threads per sandbox
    warm_pool: int  # warm sandboxes kept per worker slot

    @classmethod
    def from_env(cls) -> RunnerConfig:
        default_uid = 61000 if os.geteuid() == 0 else None
        uid = _int("GRADER_SANDBOX_UID", default_uid, low=1)
        if uid is not None and os.geteuid() != 0:
            raise ConfigError("GRADER_SANDBOX_UID is only used when the grader runs as root; unset it")
        jobs = os.environ.get("GRADER_JOBS_DIR")
        return cls(
            sandbox_uid=uid,
            jobs_dir=Path(jobs) if jobs else None,
            threads=_int("GRADER_THREADS", 1, low=1) or 1,
            warm_pool=_int("GRADER_WARM_POOL", 1, low=0) or 0,
        )
