"""``grader doctor`` against this machine's real PostgreSQL, Redis, bubblewrap, cgroups and torch,
and against broken settings (each a FAIL with a fix, exit code 1)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
from support.databases import temporary_database

from grader.ops.doctor import FAIL, GB, OK, WARN, Finding, Options, check_disk, run_checks

ROOT = Path(__file__).resolve().parents[2]


def by_check(findings: list[Finding]) -> dict[str, list[Finding]]:
    found: dict[str, list[Finding]] = {}
    for finding in findings:
        found.setdefault(finding.check, []).append(finding)
    return found


def doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grader.cli", "doctor", *args],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_this_machine_passes_with_the_real_database_and_redis(app, service_settings):
    findings = by_check(run_checks(service_settings))  # the app fixture migrated the database to head
    assert [f.status for f in findings["database"]] == [OK]
    assert (
        "PostgreSQL" in findings["database"][0].detail
        and "migrations at head" in findings["database"][0].detail
    )
    assert findings["gradings"][0].status == OK
    assert findings["broker"][0].status == OK and "Redis" in findings["broker"][0].detail
    assert findings["sandbox"][0].status == OK and "bubblewrap" in findings["sandbox"][0].detail
    # These machines have cgroup v1 with swap accounting: the kernel enforces the limits.
    assert findings["limits"][0].status == OK and "was killed" in findings["limits"][0].detail
    assert findings["fork server"][0].status == OK and "sealed child" in findings["fork server"][0].detail
    assert findings["torch"][0].status == OK
    assert findings["gpu"][0].status == OK  # no GPU here, and none configured
    assert all(f.status == OK for name, group in findings.items() if name.startswith("disk") for f in group)
    assert not [f for group in findings.values() for f in group if f.status == FAIL]


def test_a_broken_database_url_fails_with_a_fix_and_exit_code_1():
    done = doctor(
        {"GRADER_DATABASE_URL": "postgresql://grader:hunter2@127.0.0.1:1/grader"}, "--only", "config,database"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL  database" in done.stdout and "Connection refused" in done.stdout
    assert "fix: start PostgreSQL, or fix the host and port in GRADER_DATABASE_URL" in done.stdout
    assert "hunter2" not in done.stdout  # the password is never printed


def test_an_unknown_database_or_user_is_named_with_its_fix():
    admin = "postgresql://postgres@127.0.0.1:5432"
    missing = run_checks(
        {"GRADER_DATABASE_URL": f"{admin}/no_such_db_{uuid.uuid4().hex[:6]}"},
        Options(only=frozenset({"database"})),
    )
    assert missing[0].status == FAIL and "does not exist" in missing[0].detail
    assert missing[0].fix.startswith("create the database (createdb")
    stranger = run_checks(
        {"GRADER_DATABASE_URL": "postgresql://no_such_role@127.0.0.1:5432/postgres"},
        Options(only=frozenset({"database"})),
    )
    assert stranger[0].status == FAIL and "role" in stranger[0].fix


def test_an_empty_database_fails_with_the_migration_command():
    with temporary_database("grader_doctor") as url:
        found = run_checks({"GRADER_DATABASE_URL": url}, Options(only=frozenset({"database"})))
    assert [f.status for f in found] == [FAIL]
    assert "no migration applied" in found[0].detail and "db upgrade" in found[0].fix


def test_a_broker_that_is_down_fails_once(app, service_settings):
    settings = {**service_settings, "GRADER_REDIS_URL": "redis://127.0.0.1:1/0"}
    found = by_check(run_checks(settings, Options(only=frozenset({"broker", "workers"}))))
    assert found["broker"][0].status == FAIL and "redis-cli" in found["broker"][0].fix
    assert found["workers"][0].status == WARN


def test_workers_that_answer_and_queues_nobody_consumes(service_settings, tmp_path):
    broker = "redis://127.0.0.1:6379/10"
    redis.Redis.from_url(broker).flushdb()
    env = {**os.environ, **service_settings, "GRADER_REDIS_URL": broker, "GRADER_WARM_POOL": "0"}
    name = f"doctor{uuid.uuid4().hex[:6]}@%h"
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "grader.worker_main:celery", "worker", "-Q", "maintenance",
             "--pool", "solo", "--without-mingle", "--without-gossip", "-n", name, "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            settings = {**service_settings, "GRADER_REDIS_URL": broker}
            deadline = time.monotonic() + 60
            while True:
                found = run_checks(settings, Options(only=frozenset({"workers"})))
                if found[0].status == OK or time.monotonic() > deadline:
                    break
                time.sleep(1)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    assert found[0].status == OK and "1 answer" in found[0].detail, (tmp_path / "worker.log").read_text()[
        -2000:
    ]
    missing = {f.detail.split(" queue")[0].rsplit(" ", 1)[-1] for f in found[1:]}
    assert missing == {"cpu", "outbound"}  # gpu: nobody consumes it, but nothing waits there
    assert all(f.status == WARN and f.fix for f in found[1:])


def test_disk_below_the_threshold_warns(tmp_path):
    plenty = check_disk({"storage": tmp_path / "not-made-yet"}, min_free_bytes=1)
    assert plenty[0].status == OK and "not-made-yet" in plenty[0].detail
    short = check_disk({"jobs": tmp_path}, min_free_bytes=10**6 * GB)
    assert short[0].status == WARN and "GRADER_JOBS_DIR" in short[0].fix
