"""Migrations: one head, an empty database upgrades to it, and the models agree with it."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from grader.app import MIGRATIONS, create_app
from grader.extensions import db

from .conftest import PG_ADMIN


def test_single_head(app):
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config(str(MIGRATIONS))
        assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def _compare(app) -> list:  # type: ignore[no-untyped-def]
    with app.app_context(), db.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), db.metadata)


def test_models_match_migrations_on_postgresql(app):
    assert _compare(app) == []


def test_empty_databases_upgrade_to_head_and_back(service_settings, tmp_path):
    name = f"grader_mig_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        for url in (PG_ADMIN.rsplit("/", 1)[0] + "/" + name, f"sqlite:///{tmp_path / 'fresh.sqlite3'}"):
            app = create_app({**service_settings, "GRADER_DATABASE_URL": url})
            with app.app_context():
                upgrade()
                assert _compare(app) == []
                downgrade(revision="base")
                assert sa.inspect(db.engine).get_table_names() == ["alembic_version"]
                db.engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
