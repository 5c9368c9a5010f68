"""Fault: the artifact disk full.

The storage folder is a small tmpfs of its own, filled to the last byte. An upload then gets 507
(problem+json saying the storage is full) and leaves nothing behind: no row, no partial file. A run
whose results cannot be stored (its full-resolution curves) is a platform error: retried, then
final as "error" with a message saying so, never charged. Once space is freed, the same worker
grades the next upload.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from support.fault_stack import REFERENCE, make_stack
from support.private_servers import Servers

from grader.api_errors import PROBLEM_JSON
from grader.extensions import db
from grader.submissions.models import Attempt, Result, Submission

pytestmark = [pytest.mark.faults, pytest.mark.slow]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs: a real filesystem that really runs out of space (mounting it needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for the storage needs root")
    mount = tmp_path / "storage"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb") as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 65536)
            handle.flush()
    return filler


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_a_full_artifact_disk_refuses_uploads_cleanly_and_fails_runs_as_the_platforms(
    servers: Servers, tmp_path: Path, small_disk: Path
) -> None:
    with make_stack(servers, tmp_path, GRADER_STORAGE_DIR=str(small_disk)) as stack:
        stranded = stack.accepted()  # stored while there was room; graded once the disk is full
        filler = _fill(small_disk)
        before = _files(small_disk)
        # New content (the same bytes again would need no write: files are stored by their hash).
        refused = stack.upload(REFERENCE + b"\n# tried again\n", "reference.py")
        assert refused.status == 507 and refused.headers["Content-Type"] == PROBLEM_JSON, refused.body
        assert "storage is full" in refused.body["detail"] and refused.body["title"] == "Insufficient Storage"
        assert _files(small_disk) == before  # no partial file, no temporary left behind
        rows = stack.query(lambda: db.session.scalar(select(func.count(Submission.id))))
        assert rows == 1  # and no row

        worker = stack.start_worker()
        with stack.reconciling():
            stack.wait_final([stranded], timeout=120)
            filler.unlink()  # an operator frees space
            graded = stack.accepted()
            stack.wait_final([graded], timeout=120)
        stack.check_graded_exactly_once([stranded, graded], expected={stranded: "error"})

        def outcomes() -> tuple[list[str], str, set[str]]:
            attempts = db.session.scalars(select(Attempt).where(Attempt.submission_id == stranded)).all()
            result = db.session.scalar(select(Result).where(Result.submission_id == stranded))
            assert result is not None
            workers = {a.worker for a in db.session.scalars(select(Attempt))}
            return [a.outcome for a in attempts], result.message, workers

        tried, message, workers = stack.query(outcomes)
        assert tried == ["error"] * 3, tried  # retried up to the limit, each time a platform error
        assert "could not store this run's results" in message and "not count against" in message
        assert workers == {next(iter(workers))} and next(iter(workers)).endswith(f":{worker.pid}")
        assert worker.alive
