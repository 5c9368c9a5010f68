"""Fault: a submission that wrecks the sandbox machinery itself.

Three submissions in a row on one worker: one kills every process of its sandbox (the harness that
talks to the host included), one closes the harness's channels to the host and fork-bombs, and then
the reference solution. The first two end with a verdict that tells the student what their code did
(charged: their own doing, not retried); the worker survives both and grades the third.

Then the machinery failing on the platform's side: a worker whose job folder cannot be made (its
path is a file) cannot start a sandbox. That is a platform error: retried up to the limit, final as
"error", never charged; the worker stays up, and grades again once the folder is fixed.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select
from support.fault_stack import make_stack
from support.private_servers import Servers

from grader.extensions import db
from grader.submissions.models import Attempt, Result

pytestmark = [pytest.mark.faults, pytest.mark.slow]

KILL_EVERYTHING = b"""\
import os, signal
if os.fork() == 0:
    os.kill(-1, signal.SIGKILL)  # every process of the sandbox this uid may signal: the harness too
    os._exit(0)
os.wait()
"""

CUT_AND_FORK = b"""\
import os
for fd in range(3, 256):  # the harness's channels to the host among them
    try:
        os.close(fd)
    except OSError:
        pass
while True:
    try:
        os.fork()
    except OSError:
        pass
"""


def _results(ids: list[int]) -> dict[int, tuple[str, str, list[str]]]:
    found = {}
    for submission_id in ids:
        result = db.session.scalar(select(Result).where(Result.submission_id == submission_id))
        assert result is not None
        workers = db.session.scalars(
            select(Attempt.worker).where(Attempt.submission_id == submission_id)
        ).all()
        found[submission_id] = (result.verdict, result.message, list(workers))
    return found


def test_a_submission_that_wrecks_its_sandbox_gets_a_verdict_and_the_worker_grades_on(
    servers: Servers, tmp_path: Path
) -> None:
    with make_stack(servers, tmp_path) as stack:
        worker = stack.start_worker()
        killer = stack.accepted(KILL_EVERYTHING, "kill.py")
        bomber = stack.accepted(CUT_AND_FORK, "bomb.py")
        fine = stack.accepted()
        started = time.monotonic()
        with stack.reconciling():
            stack.wait_final([killer, bomber, fine], timeout=180)
        print(f"three submissions final in {time.monotonic() - started:.1f} s")
        stack.check_graded_exactly_once([killer, bomber, fine], expected={killer: "failed", bomber: "failed"})
        results = stack.query(lambda: _results([killer, bomber, fine]))
        verdict, message, workers = results[killer]
        assert verdict == "runtime_error" and "killed by signal 9" in message, message
        verdict, message, _ = results[bomber]
        assert verdict == "process_limit" and "processes" in message, message
        assert results[fine][0] == "scored"
        # One attempt each, all by the one worker process, which is still up.
        assert {w for _, _, ws in results.values() for w in ws} == {f"{workers[0]}"}
        assert all(len(ws) == 1 for _, _, ws in results.values())
        assert workers[0].endswith(f":{worker.pid}") and worker.alive


def test_a_sandbox_that_cannot_start_is_a_platform_error_and_the_worker_recovers(
    servers: Servers, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs"
    jobs.write_text("not a folder")  # a misconfigured or broken job folder: no sandbox can start
    with make_stack(servers, tmp_path) as stack:
        worker = stack.start_worker(GRADER_JOBS_DIR=str(jobs))
        broken = stack.accepted()
        with stack.reconciling():
            stack.wait_final([broken], timeout=120)
            jobs.unlink()  # an operator fixes it; the same worker process goes on
            fixed = stack.accepted()
            stack.wait_final([fixed], timeout=120)
        stack.check_graded_exactly_once([broken, fixed], expected={broken: "error"})
        results = stack.query(lambda: _results([broken, fixed]))
        verdict, message, workers = results[broken]
        assert verdict == "internal_error" and "sandbox could not start" in message, message
        assert len(workers) == 3  # retried up to the limit
        assert results[fixed][0] == "scored" and set(results[fixed][2]) == set(workers)
        assert worker.alive
