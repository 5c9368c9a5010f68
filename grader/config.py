"""Configuration, read from environment variables prefixed ``GRADER_`` (and only here).

Each value is checked when read, with a message naming the variable and what is
allowed. The web service's settings join these in the service issue.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from grader.engine.gpu_kinds import GPU_KIND, GPU_KIND_FORM


class ConfigError(ValueError):
    pass


GRADING_QUEUE = re.compile(rf"cpu|gpu|gpu-(?:{GPU_KIND.pattern})")


def _int(name: str, default: int | None, low: int = 0, env: Mapping[str, str] = os.environ) -> int | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a whole number") from None
    if value < low:
        raise ConfigError(f"{name}={value}: must be at least {low}")
    return value


SANDBOX_BACKENDS = ("bwrap", "docker")


@dataclass(frozen=True)
class RunnerConfig:
    sandbox_uid: int | None  # the uid student code runs as (None: the worker's own, unprivileged bwrap)
    jobs_dir: Path | None  # where job folders are made (a tmp dir when unset)
    threads: int  # compute threads per sandbox
    warm_pool: int  # warm sandboxes kept per worker slot
    gpu_index: int | None  # the GPU this worker slot owns (one slot per GPU), None on a CPU worker
    sandbox_backend: str = "bwrap"  # "bwrap" (bubblewrap on this host) or "docker" (sibling containers)
    sandbox_image: str = "grader-sandbox:local"  # the Docker backend's image (docker/sandbox.Dockerfile)
    cgroup_root: Path | None = None  # where the host's cgroup file system is seen (Docker backend's counters)
    fork_server: bool = (
        True  # as root with bubblewrap: warm sandboxes are fork servers (sandbox/forkserver.py)
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, euid: int | None = None) -> RunnerConfig:
        root = (os.geteuid() if euid is None else euid) == 0
        backend = env.get("GRADER_SANDBOX", "") or "bwrap"
        if backend not in SANDBOX_BACKENDS:
            raise ConfigError(f"GRADER_SANDBOX={backend!r}: expected one of {', '.join(SANDBOX_BACKENDS)}")
        # In a container of its own, student code is never the worker's uid, root or not.
        own_uid = root or backend == "docker"
        uid = _int("GRADER_SANDBOX_UID", 61000 if own_uid else None, low=1, env=env)
        if uid is not None and not own_uid:
            raise ConfigError(
                "GRADER_SANDBOX_UID is only used when the grader runs as root or with GRADER_SANDBOX=docker; unset it"
            )
        if uid is None and env.get("GRADER_ENV") == "production":
            # Unprivileged, bubblewrap maps student code onto the worker's own uid: a kernel bug
            # away from the worker's files and processes. Development may accept that; production not.
            raise ConfigError(
                "GRADER_ENV=production: student code must run as a uid of its own: set GRADER_SANDBOX=docker "
                "(sandbox containers), or run the grading workers as root (bubblewrap then runs it as "
                "GRADER_SANDBOX_UID, 61000 by default, with no capabilities); unprivileged bubblewrap would "
                "run it as the worker's own uid"
            )
        jobs = env.get("GRADER_JOBS_DIR")
        cgroups = env.get("GRADER_CGROUP_ROOT")
        return cls(
            sandbox_uid=uid,
            jobs_dir=Path(jobs) if jobs else None,
            threads=_int("GRADER_THREADS", 1, low=1, env=env) or 1,
            warm_pool=_int("GRADER_WARM_POOL", 1, low=0, env=env) or 0,
            gpu_index=_int("GRADER_GPU_INDEX", None, low=0, env=env),
            sandbox_backend=backend,
            sandbox_image=env.get("GRADER_SANDBOX_IMAGE", "") or "grader-sandbox:local",
            cgroup_root=Path(cgroups) if cgroups else None,
            fork_server=_flag("GRADER_FORK_SERVER", env.get("GRADER_FORK_SERVER", "1")),
        )


STORAGE_BACKENDS = ("local", "database", "s3")
S3_VARIABLES = (
    "GRADER_S3_BUCKET", "GRADER_S3_ENDPOINT_URL", "GRADER_S3_PREFIX", "GRADER_S3_REGION",
    "GRADER_S3_ACCESS_KEY_ID", "GRADER_S3_SECRET_ACCESS_KEY",
)  # fmt: skip
S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
S3_PREFIX = re.compile(r"[A-Za-z0-9!_.*'()/-]{0,200}")
S3_REGION = re.compile(r"[a-z0-9-]{1,40}")


@dataclass(frozen=True)
class S3Settings:
    """Where GRADER_STORAGE=s3 keeps objects: the bucket must exist; keys are ``<prefix><sha256>``.

    Without an access key, boto3 finds credentials its own way (AWS_* variables, an instance role).
    """

    bucket: str
    prefix: str = ""  # "" or ending in "/"
    endpoint_url: str | None = None  # None: AWS S3 itself
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)


def _storage(get: Callable[[str, str], str], database: str) -> tuple[str, S3Settings | None]:
    backend = get("GRADER_STORAGE", "local")
    if backend not in STORAGE_BACKENDS:
        raise ConfigError(
            f"GRADER_STORAGE={backend!r}: expected local (a folder on this host), database (PostgreSQL) or s3"
        )
    given = [name for name in S3_VARIABLES if get(name, "")]
    if backend != "s3":
        if given:
            # Each host would keep its own objects in its own folder: refused rather than guessed.
            raise ConfigError(
                f"{given[0]} is set but GRADER_STORAGE={backend}: set GRADER_STORAGE=s3 to keep the "
                "objects in the bucket, or unset the GRADER_S3_* variables"
            )
        if backend == "database" and not database.startswith("postgresql"):
            raise ConfigError(
                "GRADER_STORAGE=database keeps the objects in PostgreSQL: set GRADER_DATABASE_URL to a "
                "postgresql:// URL (with SQLite, on one host, use GRADER_STORAGE=local)"
            )
        return backend, None
    bucket = get("GRADER_S3_BUCKET", "")
    if not bucket:
        raise ConfigError("GRADER_STORAGE=s3 needs GRADER_S3_BUCKET: the name of a bucket that exists")
    if not S3_BUCKET.fullmatch(bucket):
        raise ConfigError(
            f"GRADER_S3_BUCKET={bucket!r}: expected a bucket name (3 to 63 lower-case letters, digits, '.', '-')"
        )
    endpoint = get("GRADER_S3_ENDPOINT_URL", "") or None
    if endpoint is not None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.query:
            raise ConfigError(
                f"GRADER_S3_ENDPOINT_URL={endpoint!r}: expected the server's address, like "
                "https://minio.example.edu:9000, with no credentials in it (unset it for AWS S3)"
            )
    prefix = get("GRADER_S3_PREFIX", "").strip("/")
    if not S3_PREFIX.fullmatch(prefix):
        raise ConfigError(
            f"GRADER_S3_PREFIX={prefix!r}: expected at most 200 letters, digits and !_.*'()/- (a key prefix)"
        )
    region = get("GRADER_S3_REGION", "us-east-1")
    if not S3_REGION.fullmatch(region):
        raise ConfigError(f"GRADER_S3_REGION={region!r}: expected a region name like us-east-1")
    key_id = get("GRADER_S3_ACCESS_KEY_ID", "") or None
    secret = get("GRADER_S3_SECRET_ACCESS_KEY", "") or None
    if (key_id is None) != (secret is None):
        raise ConfigError(
            "GRADER_S3_ACCESS_KEY_ID and GRADER_S3_SECRET_ACCESS_KEY go together: set both, or neither "
            "(boto3 then finds credentials its own way: AWS_* variables, an instance role)"
        )
    return "s3", S3Settings(bucket, prefix + "/" if prefix else "", endpoint, region, key_id, secret)


DEV_SECRET = "dev-insecure-secret-key"
LIMIT = re.compile(r"\d+ per (second|minute|hour|day)(;\s*\d+ per (second|minute|hour|day))*")


def _limit(name: str, get: Callable[[str, str], str], default: str) -> str:
    value = get(name, default).strip()
    if not LIMIT.fullmatch(value):
        raise ConfigError(f"{name}={value!r}: expected limits such as '5 per minute;20 per hour'")
    return value


@dataclass(frozen=True)
class ServiceConfig:
    """The web service's and the workers' settings (all from ``GRADER_*`` variables)."""

    env: str  # "development", "test" or "production"
    secret_key: str
    database_url: str
    broker_url: str
    instance_dir: Path
    storage_dir: Path  # GRADER_STORAGE=local: the folder of the content-addressed objects
    upload_max_bytes: int
    lease_seconds: int  # a running attempt's lease; renewed by heartbeat
    max_attempts: int  # platform failures retried this many times, never charged
    max_run_seconds: int  # the longest run any assignment allows (sets the broker's visibility timeout)
    grading_queue: str  # "cpu", or "gpu" / "gpu-<kind>" where GPU workers serve the gradings
    # The address users and LMSs reach this service at (LTI: the URLs registered with a platform
    # must match exactly, whatever proxy sits in front); None: taken from each request's host.
    public_url: str | None = None
    webhook_backoff_seconds: int = 30  # the first retry of a failed webhook delivery; doubled each time
    lti_roster_hours: int = 6  # every linked LMS course's roster is synced this often (beat)
    # Webhooks to loopback, private and link-local addresses (the grader's own network, cloud metadata)
    # are refused unless this is set: for development and tests on one machine only.
    webhook_allow_private: bool = False
    # Each new version's reference solution is graded like a submission: the class's yardstick on the
    # analytics page, and proof on the workers that the version grades as declared. Off: a course
    # with no CPU to spare for it; off by default under GRADER_ENV=test, whose tests publish hundreds
    # of versions and count what is queued.
    reference_runs: bool = True
    log_format: str = "text"  # "json": one JSON object per log line (production log pipelines)
    # /metrics answers only with this bearer token; unset, /metrics does not exist (404).
    metrics_token: str | None = None
    # Live status streams: at most this many per user (all processes, through Redis when there is
    # one) and per web process: a few under threads (each holds one), many under gevent workers
    # (each costs a greenlet and a socket).
    streams_per_user: int = 3
    streams_per_process: int = 4
    streams_per_gevent_process: int = 2000
    # Failed logins allowed per account and per client address (Flask-Limiter's notation).
    login_limit_account: str = "5 per minute;20 per hour"
    login_limit_address: str = "20 per minute;100 per hour"
    rate_limit_prefix: str = "grader-limits"  # the Redis keys' prefix (tests use one per app)
    # Where uploads, hidden sets, curves and weights are kept (grader/storage): "local" (storage_dir,
    # one host), "database" (PostgreSQL) or "s3" (the bucket in ``s3``); the last two for many hosts.
    storage_backend: str = "local"
    s3: S3Settings | None = None

    @classmethod
    def from_env(cls, instance_dir: Path, overrides: dict[str, str] | None = None) -> ServiceConfig:
        env = dict(os.environ)
        env.update(overrides or {})

        def get(name: str, default: str = "") -> str:
            return env.get(name, default) or default

        mode = get("GRADER_ENV", "development")
        if mode not in ("development", "test", "production"):
            raise ConfigError(f"GRADER_ENV={mode!r}: expected development, test or production")
        secret = get("GRADER_SECRET_KEY", DEV_SECRET if mode != "production" else "")
        if mode == "production" and (not secret or secret == DEV_SECRET or len(secret) < 32):
            raise ConfigError(
                "GRADER_SECRET_KEY must be set to a random value of at least 32 characters in production "
                '(e.g. python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        database = get("GRADER_DATABASE_URL", f"sqlite:///{instance_dir / 'grader.sqlite3'}")
        if database.startswith("postgres://"):
            database = "postgresql+psycopg://" + database[len("postgres://") :]
        elif database.startswith("postgresql://"):
            database = "postgresql+psycopg://" + database[len("postgresql://") :]
        if not database.startswith(("sqlite:", "postgresql+psycopg:")):
            raise ConfigError(f"GRADER_DATABASE_URL={database!r}: expected a postgresql:// or sqlite:/// URL")
        broker = get("GRADER_REDIS_URL", f"sqla+sqlite:///{instance_dir / 'broker.sqlite3'}")
        if not broker.startswith(("redis://", "rediss://", "sqla+sqlite:", "sqla+postgresql")):
            raise ConfigError(f"GRADER_REDIS_URL={broker!r}: expected a redis:// URL")

        def number(name: str, default: int, low: int) -> int:
            return _int(name, default, low, env) or default

        queue = get("GRADER_GRADING_QUEUE", "cpu")
        if not GRADING_QUEUE.fullmatch(queue):
            raise ConfigError(
                f"GRADER_GRADING_QUEUE={queue!r}: expected cpu, gpu or gpu-<kind> such as gpu-a100 "
                f"(the kind: {GPU_KIND_FORM})"
            )
        storage = Path(get("GRADER_STORAGE_DIR", str(instance_dir / "storage")))
        storage_backend, s3 = _storage(get, database)
        public_url = _public_url(get("GRADER_PUBLIC_URL"), mode)
        log_format = get("GRADER_LOG_FORMAT", "text")
        if log_format not in ("text", "json"):
            raise ConfigError(f"GRADER_LOG_FORMAT={log_format!r}: expected text or json")
        metrics_token = get("GRADER_METRICS_TOKEN") or None
        if metrics_token is not None and len(metrics_token) < 24:
            raise ConfigError(
                "GRADER_METRICS_TOKEN must be at least 24 characters (it guards /metrics; "
                'e.g. python -c "import secrets; print(secrets.token_urlsafe(32))")'
            )
        return cls(
            env=mode,
            secret_key=secret,
            database_url=database,
            broker_url=broker,
            instance_dir=instance_dir,
            storage_dir=storage,
            storage_backend=storage_backend,
            s3=s3,
            upload_max_bytes=number("GRADER_UPLOAD_MAX_BYTES", 5 * 1024 * 1024, 1024),
            lease_seconds=number("GRADER_LEASE_SECONDS", 60, 5),
            max_attempts=number("GRADER_MAX_ATTEMPTS", 3, 1),
            max_run_seconds=number("GRADER_MAX_RUN_SECONDS", 900, 10),
            grading_queue=queue,
            public_url=public_url,
            webhook_backoff_seconds=number("GRADER_WEBHOOK_BACKOFF_SECONDS", 30, 1),
            lti_roster_hours=number("GRADER_LTI_ROSTER_HOURS", 6, 1),
            webhook_allow_private=_flag("GRADER_WEBHOOK_ALLOW_PRIVATE", get("GRADER_WEBHOOK_ALLOW_PRIVATE")),
            reference_runs=_flag(
                "GRADER_REFERENCE_RUNS", get("GRADER_REFERENCE_RUNS", "0" if mode == "test" else "1")
            ),
            log_format=log_format,
            metrics_token=metrics_token,
            streams_per_user=number("GRADER_STREAMS_PER_USER", 3, 1),
            streams_per_process=number("GRADER_STREAMS_PER_PROCESS", 4, 1),
            streams_per_gevent_process=number("GRADER_STREAMS_PER_GEVENT_PROCESS", 2000, 1),
            login_limit_account=_limit("GRADER_LOGIN_LIMIT_ACCOUNT", get, "5 per minute;20 per hour"),
            login_limit_address=_limit("GRADER_LOGIN_LIMIT_ADDRESS", get, "20 per minute;100 per hour"),
            rate_limit_prefix=get("GRADER_RATE_LIMIT_PREFIX", "grader-limits"),
        )


def _flag(name: str, raw: str) -> bool:
    if raw.lower() in ("", "0", "false", "no"):
        return False
    if raw.lower() in ("1", "true", "yes"):
        return True
    raise ConfigError(f"{name}={raw!r}: expected 1 or 0")


def _public_url(raw: str, mode: str) -> str | None:
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(
            f"GRADER_PUBLIC_URL={raw!r}: expected the service's base address, like https://grader.example.edu"
        )
    if mode == "production" and parts.scheme != "https":
        raise ConfigError(f"GRADER_PUBLIC_URL={raw!r}: must be https in production (LMSs launch over TLS)")
    return raw.rstrip("/")


@dataclass(frozen=True)
class ClientConfig:
    """What ``grader submit`` uses when the command line does not say."""

    server: str | None  # GRADER_SERVER: the grader's base address
    token: str | None  # GRADER_TOKEN: an API token with the submit and read scopes

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ClientConfig:
        return cls(server=env.get("GRADER_SERVER") or None, token=env.get("GRADER_TOKEN") or None)
