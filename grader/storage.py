"""Content-addressed files under the storage folder: uploads, full-resolution curves, hidden sets."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from pathlib import Path

from flask import current_app


def storage_path(sha256: str) -> Path:
    root: Path = current_app.extensions["grader.config"].storage_dir
    return root / "files" / sha256[:2] / sha256[2:4] / sha256


def store_file(content: bytes) -> tuple[str, bool]:
    """Write content-addressed, atomically; returns the hash and whether the file is new.

    Raises OSError when the disk is full or failing, and then leaves nothing behind: the file
    appears under its name complete or not at all.
    """
    digest = hashlib.sha256(content).hexdigest()
    path = storage_path(digest)
    if path.exists():
        return digest, False
    path.parent.mkdir(parents=True, exist_ok=True)
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
    return digest, True


def disk_full(error: OSError) -> bool:
    """Whether a failed write means the storage has no room left (space or quota)."""
    return error.errno in (errno.ENOSPC, errno.EDQUOT)


def read_file(sha256: str) -> bytes:
    """A stored file's content, checked against its hash (a corrupted file is an error, not data)."""
    content = storage_path(sha256).read_bytes()
    if hashlib.sha256(content).hexdigest() != sha256:
        raise OSError(f"stored file {sha256[:12]}… does not match its hash")
    return content
