"""``grader doctor``: is this host ready to serve and grade? One line per check, OK, WARN or FAIL,
with what is wrong and how to fix it; the exit code is 1 when anything FAILs.

It reads the same settings as the service (grader/config.py) and looks at the real things: the
database (connects, migrations at head, gradings stuck), the broker (connects, queue depths, which
workers answer), the store (``doctor_storage``: a small object written and read back, then removed),
the sandbox (host checks in ``doctor_host``), torch and GPUs, and free disk. It changes nothing, apart
from a throwaway cgroup and process for the limits check.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.config import RunnerConfig, ServiceConfig

OK, WARN, FAIL = "OK", "WARN", "FAIL"
UPGRADE = "flask --app grader.wsgi:app db upgrade"  # what compose's `migrate` service runs
STUCK_AFTER = timedelta(minutes=2)  # the reconciler (every 30 s) fixes these well within this
GB = 1024**3
CHECKS = ("config", "database", "broker", "workers", "storage", "sandbox", "gpu", "disk")


@dataclass(frozen=True)
class Finding:
    check: str
    status: str  # OK, WARN or FAIL
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Options:
    only: frozenset[str] = frozenset(CHECKS)
    min_free_bytes: int = 5 * GB
    timeout: float = 5.0  # seconds for each connection


def run_checks(overrides: dict[str, str] | None = None, options: Options | None = None) -> list[Finding]:
    """Every check this host can run; ``overrides`` win over the environment (as in create_app)."""
    from flask import Flask

    from grader.config import ConfigError, RunnerConfig, ServiceConfig

    options = options or Options()
    instance = Path(Flask("grader", instance_relative_config=True).instance_path)
    try:
        config = ServiceConfig.from_env(instance, overrides)
    except ConfigError as exc:
        return [Finding("config", FAIL, str(exc), "fix the variable named above (see README, Configuration)")]
    try:
        runner: RunnerConfig | None = RunnerConfig.from_env()
    except ConfigError as exc:
        runner = None
        runner_problem = Finding("config", FAIL, str(exc), "fix the variable named above")
    findings: list[Finding] = []
    if "config" in options.only:
        findings.append(_config_line(config))
        if runner is None:
            findings.append(runner_problem)
    from . import doctor_host, doctor_storage

    steps: list[tuple[str, Callable[[], list[Finding]]]] = [
        ("database", lambda: check_database(config, options.timeout)),
        ("broker", lambda: check_broker(config, options.timeout)),
        ("workers", lambda: check_workers(config, options.timeout)),
        ("storage", lambda: doctor_storage.check_storage(config, options.timeout)),
        ("sandbox", lambda: doctor_host.check_sandbox(runner)),
        ("gpu", lambda: doctor_host.check_torch_and_gpu(runner)),
        ("disk", lambda: check_disk(_disk_paths(config, runner), options.min_free_bytes)),
    ]
    for name, step in steps:
        if name in options.only:
            findings.extend(step())
    return findings


def _config_line(config: ServiceConfig) -> Finding:
    from sqlalchemy.engine import make_url

    database = make_url(config.database_url).render_as_string(hide_password=True)
    broker = make_url(config.broker_url).render_as_string(hide_password=True)
    return Finding("config", OK, f"GRADER_ENV={config.env}; database {database}; broker {broker}")


# -- the database -----------------------------------------------------------------------------
def check_database(config: ServiceConfig, timeout: float) -> list[Finding]:
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    url = sa.engine.make_url(config.database_url)
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        if not path.exists():  # connecting would create an empty file
            return [
                Finding(
                    "database",
                    FAIL,
                    f"no database file at {path}",
                    f"create it: {UPGRADE} (grader serve does it when it starts)",
                )
            ]
        connect_args: dict[str, Any] = {"timeout": timeout}
    else:
        connect_args = {"connect_timeout": max(1, int(timeout))}
    engine = sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        with engine.connect() as connection:
            from alembic.runtime.migration import MigrationContext

            server = _server_version(connection)
            current = tuple(MigrationContext.configure(connection).get_current_heads())
            found = [_migrations(current, f"{server} at {shown}")]
            if found[0].status == OK:
                found += _gradings(connection)
            return found
    except sa.exc.DBAPIError as exc:
        reason = " ".join(str(exc.orig).split()) if exc.orig is not None else str(exc)
        return [Finding("database", FAIL, f"cannot connect to {shown}: {reason}", _database_fix(reason, url))]
    finally:
        engine.dispose()


def _server_version(connection: Any) -> str:
    version = connection.dialect.server_version_info or ()
    name = "PostgreSQL" if connection.dialect.name == "postgresql" else "SQLite"
    return f"{name} {'.'.join(str(part) for part in version)}".strip()


def _migrations(current: tuple[str, ...], where: str) -> Finding:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from grader.app import MIGRATIONS

    script = ScriptDirectory(str(MIGRATIONS))
    heads = tuple(script.get_heads())
    if set(current) == set(heads):
        return Finding("database", OK, f"{where}, migrations at head ({', '.join(heads)})")
    if not current:
        return Finding(
            "database", FAIL, f"{where} has no migration applied (empty)", f"create the tables: {UPGRADE}"
        )
    for revision in current:
        try:
            script.get_revision(revision)
        except CommandError:
            return Finding(
                "database",
                FAIL,
                f"{where} is at revision {revision}, which this code does not have (newer code migrated it)",
                "deploy the code that matches the database (or downgrade the database with that code)",
            )
    return Finding(
        "database",
        FAIL,
        f"{where}: migrations behind (database at {', '.join(current)}, code at {', '.join(heads)})",
        f"migrate: {UPGRADE} (stop the workers first if the release notes say so)",
    )


def _database_fix(reason: str, url: Any) -> str:
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    low = reason.lower()
    if "password" in low:
        return (
            "check the user and password in GRADER_DATABASE_URL (postgresql://USER:PASSWORD@HOST:PORT/NAME)"
        )
    if "does not exist" in low and "database" in low:
        return f"create the database (createdb -h {url.host} -p {url.port or 5432} {url.database}), then {UPGRADE}"
    if "role" in low and "does not exist" in low:
        return f"create the role {url.username} in PostgreSQL, or fix the user in GRADER_DATABASE_URL"
    if "refused" in low or "timeout" in low or "timed out" in low or "translate host" in low:
        return (
            f"start PostgreSQL, or fix the host and port in GRADER_DATABASE_URL: `pg_isready -h {url.host} "
            f"-p {url.port or 5432}` must say it is accepting connections ({where})"
        )
    return "check GRADER_DATABASE_URL and that PostgreSQL accepts connections from this host"


def _gradings(connection: Any) -> list[Finding]:
    """Rows only a missing reconciler (beat) or outbound worker leaves behind."""
    import sqlalchemy as sa

    from grader.extensions import utcnow
    from grader.submissions.models import State, Submission

    now = utcnow()
    table = Submission.__table__
    count = sa.select(sa.func.count()).select_from(table)
    expired = connection.scalar(
        count.where(table.c.state == State.RUNNING, table.c.lease_expires_at < now - STUCK_AFTER)
    )
    unsent = connection.scalar(
        count.where(table.c.state == State.RECEIVED, table.c.updated_at < now - STUCK_AFTER)
    )
    running = connection.scalar(count.where(table.c.state == State.RUNNING))
    waiting = connection.scalar(count.where(table.c.state.in_([State.RECEIVED, State.QUEUED])))
    if expired or unsent:
        return [
            Finding(
                "gradings",
                WARN,
                f"{expired} grading(s) with a lease expired and {unsent} upload(s) never queued for over "
                f"{int(STUCK_AFTER.total_seconds() // 60)} minutes: the reconciler is not running",
                "start exactly one beat process (compose: the `beat` service; by hand: celery -A "
                "grader.worker_main:celery worker --beat -Q maintenance)",
            )
        ]
    return [Finding("gradings", OK, f"{running} running, {waiting} waiting for a worker, none stuck")]


# -- the broker and the workers ---------------------------------------------------------------
def check_broker(config: ServiceConfig, timeout: float) -> list[Finding]:
    from .queues import BrokerUnavailable, queues_in_use_at, read_queue_depths, redis_client

    in_use = queues_in_use_at(config.database_url, timeout)
    try:
        depths = read_queue_depths(config.broker_url, timeout, extra=in_use)
        what = "embedded broker (kombu's SQLAlchemy transport)"
        if depths.transport == "redis":
            what = f"Redis {redis_client(config.broker_url, timeout).info('server')['redis_version']}"
    except (BrokerUnavailable, OSError) as exc:
        return [Finding("broker", FAIL, f"cannot read the broker: {exc}", _broker_fix(config.broker_url))]
    except Exception as exc:  # noqa: BLE001 - redis errors from info(): same advice
        return [Finding("broker", FAIL, f"cannot read the broker: {exc}", _broker_fix(config.broker_url))]
    waiting = ", ".join(f"{queue} {count}" for queue, count in depths.waiting.items())
    detail = f"{what}: waiting {waiting}"
    if depths.unacked is not None:
        detail += f"; taken by workers {sum(depths.unacked.values())}"
    return [Finding("broker", OK, detail + (f" ({depths.note})" if depths.note else ""))]


def _broker_fix(url: str) -> str:
    from sqlalchemy.engine import make_url

    if url.startswith("sqla+"):
        return "check that the embedded broker's file (GRADER_REDIS_URL) is on a writable disk"
    shown = make_url(url).render_as_string(hide_password=True)  # the fix line is printed: no password
    return f"start Redis, or fix GRADER_REDIS_URL: `redis-cli -u {shown} ping` must answer PONG"


def check_workers(config: ServiceConfig, timeout: float = 5.0) -> list[Finding]:
    """Which Celery workers answer, and which queues nobody consumes (Redis only: broadcast)."""
    if not config.broker_url.startswith(("redis://", "rediss://")):
        return [
            Finding(
                "workers", OK, "not asked: the embedded broker cannot broadcast (grader serve starts them)"
            )
        ]
    from celery import Celery

    from .queues import BrokerUnavailable, queues_in_use_at, read_queue_depths

    app = Celery("grader-doctor", broker=config.broker_url)
    in_use = queues_in_use_at(config.database_url, timeout)
    try:
        # The broker first: it fails fast where Celery would retry.
        depths = read_queue_depths(config.broker_url, extra=in_use)
        with app.connection_for_write() as connection:
            replies = app.control.inspect(timeout=1.0, connection=connection).active_queues() or {}
    except (BrokerUnavailable, OSError):
        # The broker check has said what is wrong; one FAIL for one cause.
        return [Finding("workers", WARN, "not asked: the broker does not answer", "see the broker line")]
    # A --pool solo worker answers only between tasks: one busy grading is silent, not gone.
    held = depths.unacked or {}
    busy = " (a --pool solo worker busy with a task answers only after it)"
    if not replies:
        return [
            Finding(
                "workers",
                WARN,
                "no Celery worker answered within 1 s: uploads wait in the queues"
                + (
                    f"; {sum(held.values())} message(s) are held by workers{busy}"
                    if any(held.values())
                    else ""
                ),
                "start the workers (compose: worker-cpu, worker-outbound and beat; one machine: grader serve)",
            )
        ]
    consumers: dict[str, list[str]] = {queue: [] for queue in depths.waiting}
    for worker, queues in replies.items():
        for queue in queues:
            consumers.setdefault(queue["name"], []).append(worker)
    found = [Finding("workers", OK, f"{len(replies)} answer: " + ", ".join(sorted(replies)))]
    how = {
        "cpu": "start a grading worker: celery -A grader.worker_main:celery worker -Q cpu",
        "maintenance": "start exactly one beat: celery -A grader.worker_main:celery worker --beat -Q maintenance",
        "outbound": "start worker-outbound: celery -A grader.worker_main:celery worker -Q outbound --pool threads",
        "gpu": "start a GPU worker (-Q gpu, GRADER_GPU_INDEX set), or publish the assignment for the CPU",
    }
    for queue in depths.waiting:
        gpu = queue == "gpu" or queue.startswith("gpu-")
        if consumers[queue] or (gpu and not depths.waiting[queue]):
            continue
        fix = how.get(queue) or (  # a GPU kind's queue, named by an assignment's [budget] gpu_kind
            f"start a GPU worker on a host with that kind of GPU: celery -A grader.worker_main:celery "
            f"worker -Q {queue} (GRADER_GPU_INDEX set)"
        )
        found.append(
            Finding(
                "workers",
                WARN,
                f"no worker consumes the {queue} queue ({depths.waiting[queue]} message(s) waiting"
                + (f", {held[queue]} held by a worker{busy})" if held.get(queue) else ")"),
                fix,
            )
        )
    return found


# -- disk -------------------------------------------------------------------------------------
def _disk_paths(config: ServiceConfig, runner: RunnerConfig | None) -> dict[str, Path]:
    paths = {"storage": config.storage_dir} if config.storage_backend == "local" else {}
    jobs = runner.jobs_dir if runner is not None else None
    paths["jobs"] = jobs or Path(tempfile.gettempdir())
    if config.database_url.startswith("sqlite:///"):
        paths["database"] = Path(config.database_url[len("sqlite:///") :]).parent
    return paths


def check_disk(paths: dict[str, Path], min_free_bytes: int) -> list[Finding]:
    found = []
    for label, path in paths.items():
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent  # what a folder not made yet would be created on
        usage = shutil.disk_usage(existing)
        share = usage.free / usage.total if usage.total else 0.0
        detail = f"{label} {path}: {usage.free / GB:.1f} GB free of {usage.total / GB:.0f} GB ({share:.0%})"
        room = f"free space on {existing} (old job folders, logs), or move GRADER_{label.upper()}_DIR"
        if label == "database":
            room = f"free space on {existing} (the SQLite database lives there)"
        if not os.access(existing, os.W_OK):
            found.append(
                Finding(
                    f"disk {label}", FAIL, f"{detail}; not writable by this user", f"make {existing} writable"
                )
            )
        elif usage.free < min(GB, min_free_bytes):
            found.append(Finding(f"disk {label}", FAIL, detail, room))
        elif usage.free < min_free_bytes:
            found.append(Finding(f"disk {label}", WARN, f"{detail}, below {min_free_bytes / GB:g} GB", room))
        else:
            found.append(Finding(f"disk {label}", OK, detail))
    return found


# -- the command ------------------------------------------------------------------------------
def print_findings(findings: Sequence[Finding], out: IO[str]) -> None:
    width = max((len(f.check) for f in findings), default=8)
    for finding in findings:
        out.write(f"{finding.status:<5} {finding.check:<{width}}  {finding.detail}\n")
        if finding.fix and finding.status != OK:
            out.write(f"{'':<5} {'':<{width}}  fix: {finding.fix}\n")
    counts = {status: sum(1 for f in findings if f.status == status) for status in (FAIL, WARN, OK)}
    out.write(f"\n{counts[FAIL]} failed, {counts[WARN]} warning(s), {counts[OK]} OK\n")


def cmd_doctor(args: argparse.Namespace) -> int:
    only = frozenset(args.only.split(",")) if args.only else frozenset(CHECKS)
    unknown = only - set(CHECKS)
    if unknown:
        print(
            f"grader doctor: unknown check(s) {', '.join(sorted(unknown))}; known: {', '.join(CHECKS)}",
            file=sys.stderr,
        )
        return 2
    findings = run_checks(options=Options(only=only, min_free_bytes=int(args.min_free_gb * GB)))
    print_findings(findings, sys.stdout)
    return 1 if any(f.status == FAIL for f in findings) else 0


def add_commands(commands: Any) -> None:
    doctor = commands.add_parser(
        "doctor", help="check the database, broker, workers, storage, sandbox, GPUs and disk; say what to fix"
    )
    doctor.add_argument("--only", help=f"comma-separated checks to run (of {', '.join(CHECKS)})")
    doctor.add_argument(
        "--min-free-gb", type=float, default=5.0, help="warn below this free space (default 5)"
    )
    doctor.set_defaults(handler=cmd_doctor)
