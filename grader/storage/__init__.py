"""Content-addressed objects: uploads, hidden sets, full-resolution curves, sweep runs' weights.

Where they live is configuration (``GRADER_STORAGE``, read in grader/config.py): ``local``, a
folder on this host (the embedded default, for one host); ``database``, rows in PostgreSQL; ``s3``,
an S3-compatible bucket. The last two need no disk shared between hosts. The app makes its store
once (``init_app``); callers use ``current_store()`` and never learn which backend it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from flask import Flask, current_app

from .base import (
    ObjectCorrupt,
    ObjectMissing,
    ObjectTooLarge,
    StorageError,
    StorageFull,
    Store,
    digest_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import Session, scoped_session

    from grader.config import ServiceConfig

__all__ = [
    "ObjectCorrupt",
    "ObjectMissing",
    "ObjectTooLarge",
    "StorageError",
    "StorageFull",
    "Store",
    "current_store",
    "digest_of",
    "init_app",
    "make_store",
]

EXTENSION = "grader.storage"


def make_store(
    config: ServiceConfig, session: Callable[[], Session | scoped_session[Any]] | None = None
) -> Store:
    """The configured store; ``session`` gives the transaction a database store writes in (default:
    the app's ``db.session``, so that objects commit or roll back with the caller's rows)."""
    if config.storage_backend == "database":
        from sqlalchemy.engine import make_url

        from grader.extensions import db

        from .database import DatabaseStore

        where = make_url(config.database_url).render_as_string(hide_password=True)
        return DatabaseStore(session or (lambda: db.session), where)
    if config.storage_backend == "s3":
        try:
            from .s3 import S3Store  # boto3 only where it is used
        except ImportError as exc:
            raise StorageError("GRADER_STORAGE=s3 needs boto3: pip install 'grader[s3]'") from exc
        assert config.s3 is not None  # the configuration refuses s3 without its settings
        return S3Store(config.s3)
    from .local import LocalStore

    return LocalStore(config.storage_dir)


def init_app(app: Flask, config: ServiceConfig) -> None:
    app.extensions[EXTENSION] = make_store(config)


def current_store() -> Store:
    return cast("Store", current_app.extensions[EXTENSION])
