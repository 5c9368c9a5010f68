"""Objects as rows of ``stored_blobs`` in PostgreSQL, which every host reaches already.

A ``put`` is an insert in the caller's own transaction (the session it is given): the object
commits with the rows that name it, or rolls back with them. A failed upload therefore leaves no
object, and a worker whose result is dropped (its lease lost) leaves no curves behind either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, scoped_session

from .base import ObjectMissing, StorageFull, check_size, checked_name, digest_of, verified
from .models import StoredBlob

DISK_FULL = "53100"  # PostgreSQL's SQLSTATE disk_full: a table (or its TOAST) could not be extended
blobs = StoredBlob.__table__


class DatabaseStore:
    backend = "database"

    def __init__(self, session: Callable[[], Session | scoped_session[Any]], where: str) -> None:
        self._session = session
        self._where = where

    def put(self, content: bytes) -> tuple[str, bool]:
        digest = digest_of(content)
        session = self._session()
        if self._size(session, digest) is not None:
            return digest, False  # the bytes are not sent again
        # Two transactions storing the same new bytes at once: the second's insert waits for the
        # first to end, then inserts nothing if it committed, or its own row if it rolled back.
        statement = (
            insert(blobs)
            .values(sha256=digest, content=content)
            .on_conflict_do_nothing(index_elements=[blobs.c.sha256])
            .returning(blobs.c.sha256)
        )
        try:
            # A savepoint: a full disk fails only this insert, and the caller's transaction goes on
            # (a worker still records the run as a platform error in it).
            with session.begin_nested():
                created = session.execute(statement).first() is not None
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == DISK_FULL:
                raise StorageFull("the database has no room left for stored objects (disk full)") from exc
            raise
        return digest, created

    def get(self, sha256: str, max_bytes: int | None = None) -> bytes:
        name = checked_name(sha256)
        session = self._session()
        if max_bytes is not None:
            size = self._size(session, name)
            if size is None:
                raise ObjectMissing(f"stored object {name[:12]}… is not in the database")
            check_size(name, size, max_bytes)
        content = session.scalar(select(blobs.c.content).where(blobs.c.sha256 == name))
        if content is None:
            raise ObjectMissing(f"stored object {name[:12]}… is not in the database")
        return verified(name, bytes(content))

    def exists(self, sha256: str) -> bool:
        return self._size(self._session(), checked_name(sha256)) is not None

    def discard(self, sha256: str) -> None:
        """Nothing to do: the insert was part of the caller's transaction, and its rollback undid it.

        A DELETE here could only remove what another transaction has committed since.
        """
        checked_name(sha256)

    def describe(self) -> str:
        return f"the table stored_blobs of {self._where}"

    @staticmethod
    def _size(session: Session | scoped_session[Any], name: str) -> int | None:
        # octet_length reads a TOASTed value's header, not the value.
        size = session.scalar(select(func.octet_length(blobs.c.content)).where(blobs.c.sha256 == name))
        return None if size is None else int(size)
