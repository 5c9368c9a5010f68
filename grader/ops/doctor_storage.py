"""``grader doctor``'s storage check: the configured store takes a small object and gives it back.

The object is new each time (a put that finds its object already there writes nothing) and is
removed again: from a folder or a bucket by the store's own ``discard``, from the database by
rolling back the transaction it was written in.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from .doctor import FAIL, OK, UPGRADE, Finding

if TYPE_CHECKING:
    from grader.config import ServiceConfig
    from grader.storage import Store

FIXES = {
    "local": "make GRADER_STORAGE_DIR a writable folder with free space (on one host; for several, "
    "GRADER_STORAGE=database or s3: docs/deploy.md, Many hosts)",
    "database": f"the table stored_blobs comes with the migrations: {UPGRADE}; and PostgreSQL needs free disk",
    "s3": "check GRADER_S3_ENDPOINT_URL, GRADER_S3_BUCKET (the bucket must exist), GRADER_S3_REGION and the "
    "credentials (GRADER_S3_ACCESS_KEY_ID and GRADER_S3_SECRET_ACCESS_KEY, or boto3's own)",
}
FULL_FIX = "free space (or raise the quota) where the store keeps its objects; uploads get 507 meanwhile"


def check_storage(config: ServiceConfig, timeout: float) -> list[Finding]:
    from sqlalchemy.exc import DBAPIError

    from grader.storage import StorageError, StorageFull, make_store

    backend = config.storage_backend
    probe = f"grader doctor's probe {uuid.uuid4()}\n".encode()
    try:
        if backend == "database":
            where = _round_trip_in_database(config, probe, timeout)
        else:
            store = make_store(config)
            where = store.describe()
            _round_trip(store, probe, keep=False)
    except StorageFull as exc:
        return [Finding("storage", FAIL, f"{backend}: {exc}", FULL_FIX)]
    except (StorageError, OSError) as exc:
        return [Finding("storage", FAIL, f"{backend}: {exc}", FIXES[backend])]
    except DBAPIError as exc:
        reason = " ".join(str(exc.orig if exc.orig is not None else exc).split())[:300]
        return [Finding("storage", FAIL, f"{backend}: {reason}", FIXES[backend])]
    return [Finding("storage", OK, f"{backend}: {where}: wrote and read back a {len(probe)}-byte object")]


def _round_trip(store: Store, probe: bytes, keep: bool) -> None:
    from grader.storage import ObjectCorrupt

    digest, created = store.put(probe)
    if store.get(digest) != probe:
        raise ObjectCorrupt("the probe read back differs from what was written")
    if created and not keep:
        store.discard(digest)


def _round_trip_in_database(config: ServiceConfig, probe: bytes, timeout: float) -> str:
    import sqlalchemy as sa
    from sqlalchemy.orm import Session
    from sqlalchemy.pool import NullPool

    from grader.storage import make_store

    engine = sa.create_engine(
        config.database_url, poolclass=NullPool, connect_args={"connect_timeout": max(1, int(timeout))}
    )
    try:
        with engine.connect() as connection:
            transaction = connection.begin()
            session = Session(bind=connection, join_transaction_mode="create_savepoint")
            try:
                store = make_store(config, session=lambda: session)
                _round_trip(store, probe, keep=True)  # the rollback removes it
                return store.describe()
            finally:
                session.close()
                transaction.rollback()
    finally:
        engine.dispose()
