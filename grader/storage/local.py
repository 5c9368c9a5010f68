"""The storage folder (``GRADER_STORAGE_DIR``): for one host, since nothing else sees its disk."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from .base import ObjectMissing, StorageError, StorageFull, check_size, checked_name, digest_of, verified

FULL = (errno.ENOSPC, errno.EDQUOT)


class LocalStore:
    backend = "local"

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        name = checked_name(sha256)
        return self.root / "files" / name[:2] / name[2:4] / name

    def put(self, content: bytes) -> tuple[str, bool]:
        digest = digest_of(content)
        path = self.path(digest)
        try:
            if path.exists():
                return digest, False
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, content)
        except OSError as exc:
            raise _error(exc, "write to") from exc
        return digest, True

    def get(self, sha256: str, max_bytes: int | None = None) -> bytes:
        path = self.path(sha256)
        try:
            with open(path, "rb") as handle:
                check_size(sha256, os.fstat(handle.fileno()).st_size, max_bytes)
                content = handle.read()
        except FileNotFoundError:
            raise ObjectMissing(f"stored object {sha256[:12]}… is missing from the storage folder") from None
        except OSError as exc:
            raise _error(exc, "read from") from exc
        return verified(sha256, content)

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def discard(self, sha256: str) -> None:
        try:
            self.path(sha256).unlink(missing_ok=True)
        except OSError as exc:
            raise _error(exc, "delete from") from exc

    def describe(self) -> str:
        return f"the folder {self.root}"


def _write_atomically(path: Path, content: bytes) -> None:
    """The file appears under its name complete or not at all; a failed write leaves no temporary."""
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
        try:
            handle.write(content)
            handle.flush()  # a full disk fails here, inside the try, not in the implicit close
        except OSError:
            os.unlink(handle.name)
            with contextlib.suppress(OSError):
                handle.close()  # flushes what is left of the buffer: fails the same way
            raise
    try:
        os.replace(handle.name, path)
    except OSError:
        os.unlink(handle.name)
        raise


def _error(exc: OSError, doing: str) -> StorageError:
    # strerror only: these messages reach logs and a failed run's text, the folder's path need not.
    reason = exc.strerror or type(exc).__name__
    if exc.errno in FULL:
        return StorageFull(f"the storage folder is full ({reason})")
    return StorageError(f"could not {doing} the storage folder ({reason})")
