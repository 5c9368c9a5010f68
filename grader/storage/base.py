"""What every store promises, and the errors it raises (backends: local.py, database.py, s3.py)."""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

SHA256 = re.compile(r"[0-9a-f]{64}")


class StorageError(Exception):
    """The store could not do what was asked: unreachable, refused, or the object missing or bad."""


class StorageFull(StorageError):
    """The store has no room left (space or quota): an upload gets 507, a run's results an error."""


class ObjectMissing(StorageError):
    pass


class ObjectCorrupt(StorageError):
    """The stored bytes do not hash to their name: never handed out as data."""


class ObjectTooLarge(StorageError):
    """Larger than the caller said it could take (read refused before the bytes are fetched)."""


class Store(Protocol):
    """Content-addressed objects: a name is the SHA-256 of the bytes, so a name always means the same
    bytes and equal content is stored once. An object appears complete or not at all.

    Callers never learn which backend they have (``backend`` is for the doctor and the logs).
    """

    backend: str

    def put(self, content: bytes) -> tuple[str, bool]:
        """Store ``content``; its SHA-256 and whether this call created the object.

        Raises StorageFull when there is no room (nothing is left behind), StorageError otherwise.
        """
        ...

    def get(self, sha256: str, max_bytes: int | None = None) -> bytes:
        """The object's bytes, checked against their hash (ObjectCorrupt otherwise); ObjectMissing when
        there is none, ObjectTooLarge when it is longer than ``max_bytes`` (checked before reading it)."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def discard(self, sha256: str) -> None:
        """Undo a ``put`` that created the object, once the caller's transaction has rolled back.

        Only for an object this request created (``put`` said new): another request may hold the
        same content by now, which is why nothing else ever deletes from a store.
        """
        ...

    def describe(self) -> str:
        """Where the objects are (no secret in it): for the doctor and the logs."""
        ...


def digest_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def checked_name(sha256: str) -> str:
    """A name as stored: 64 lower-case hex digits (it becomes a path or an object key)."""
    if not SHA256.fullmatch(sha256):
        raise ObjectMissing(f"{sha256[:70]!r} is not the SHA-256 of a stored object")
    return sha256


def verified(sha256: str, content: bytes) -> bytes:
    if digest_of(content) != sha256:
        raise ObjectCorrupt(f"stored object {sha256[:12]}… does not match its hash")
    return content


def check_size(sha256: str, size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise ObjectTooLarge(f"stored object {sha256[:12]}… is {size} bytes, over the {max_bytes} asked for")
