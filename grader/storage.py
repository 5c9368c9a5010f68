"""Content-addressed files under the storage folder: uploads, full-resolution curves, hidden sets."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from flask import current_app


def storage_path(sha256: str) -> Path:
    root: Path = current_app.extensions["grader.config"].storage_dir
    return root / "files" / sha256[:2] / sha256[2:4] / sha256


def store_file(content: bytes) -> tuple[str, bool]:
    """Write content-addressed, atomically; returns the hash and whether the file is new."""
    digest = hashlib.sha256(content).hexdigest()
    path = storage_path(digest)
    if path.exists():
        return digest, False
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
        handle.write(content)
    os.replace(handle.name, path)
    return digest, True


def read_file(sha256: str) -> bytes:
    """A stored file's content, checked against its hash (a corrupted file is an error, not data)."""
    content = storage_path(sha256).read_bytes()
    if hashlib.sha256(content).hexdigest() != sha256:
        raise OSError(f"stored file {sha256[:12]}… does not match its hash")
    return content
