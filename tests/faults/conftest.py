"""Fault tests' fixtures: a private PostgreSQL cluster and a private Redis, real worker processes.

The fault tests restart, stop and fill the servers they run on, so they never use the machine's
shared PostgreSQL (5432) or Redis (6379), which other test runs are using: a throwaway cluster
(``initdb`` + ``pg_ctl`` in a temporary folder, trust authentication, on a free loopback port; as
the ``postgres`` user when the tests run as root) and a ``redis-server`` without persistence on
another free port are started once per session and removed afterwards. Each test gets its own
database (copied from a migrated template) and its own Redis database number.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from support.fault_stack import settings_for
from support.private_servers import PrivatePostgres, PrivateRedis, Servers

from grader.app import create_app
from grader.extensions import db


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    if not shutil.which("redis-server"):
        pytest.fail("the fault tests need redis-server (apt-get install redis-server)")
    root = Path(tempfile.mkdtemp(prefix="grader-faults-"))
    root.chmod(0o755)
    pg_root = root / "pg"
    pg_root.mkdir()
    postgres = PrivatePostgres(pg_root)
    private_redis = PrivateRedis(root)
    try:
        postgres.init()
        postgres.start()
        private_redis.start()
        template = "grader_faults_template"
        admin = postgres.admin()
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{template}"'))
        app = create_app(
            settings_for(postgres.url(template), private_redis.url(0), root / "template-storage")
        )
        with app.app_context():
            upgrade()
            db.engine.dispose()  # a template must have no connections when it is copied
        yield Servers(postgres, private_redis, template)
    finally:
        private_redis.stop()
        with contextlib.suppress(Exception):
            postgres.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
