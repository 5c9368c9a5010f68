"""Migrations: one head, an empty database upgrades to it, and the models agree with it."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from support.databases import temporary_database

from grader.app import MIGRATIONS, create_app
from grader.extensions import db


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
    with temporary_database("grader_mig") as postgres:
        for url in (postgres, f"sqlite:///{tmp_path / 'fresh.sqlite3'}"):
            app = create_app({**service_settings, "GRADER_DATABASE_URL": url})
            with app.app_context():
                upgrade()
                assert _compare(app) == []
                downgrade(revision="base")
                assert sa.inspect(db.engine).get_table_names() == ["alembic_version"]
                db.engine.dispose()
