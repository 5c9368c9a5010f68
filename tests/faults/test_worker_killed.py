"""Fault: a worker SIGKILLed in the middle of training, ten times at random moments.

Two worker processes grade a stream of uploads; ten times, one of them is killed with SIGKILL while
a submission it holds is training, and a new worker is started in its place (as compose or systemd
would). The killed attempts' leases expire, the reconciler requeues them, and every submission ends
scored exactly once: one result, written by its one finished attempt, one webhook delivery, one LMS
passback row, and the quota charged once per submission.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from support.fault_stack import LONGER, Stack, Worker, make_stack
from support.private_servers import Servers

from grader.extensions import db
from grader.submissions.models import Attempt, Result

pytestmark = [pytest.mark.faults, pytest.mark.slow]

KILLS = 10


def _training(stack: Stack, timeout: float) -> tuple[int, int, Worker]:
    """A running attempt of a live worker whose training has begun (the harness reported steps)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for submission_id, attempt, owner, progress in stack.running():
            worker = stack.worker_of(owner)
            if worker is not None and worker.alive and progress and progress.get("step"):
                return submission_id, attempt, worker
        time.sleep(0.05)
    raise AssertionError(f"no training run within {timeout} s\n{stack.logs()}")


def test_ten_workers_killed_mid_training_still_grade_everything_exactly_once(
    servers: Servers, tmp_path: Path
) -> None:
    seed = int(os.environ.get("GRADER_FAULTS_SEED") or time.time_ns() % 1_000_000)
    rng = random.Random(seed)
    print(f"kill moments drawn with GRADER_FAULTS_SEED={seed}")
    # Ten kills may land on the same submission: let it be retried that often (with the default
    # limit it would end as a platform error, which is what the limit is for).
    with make_stack(servers, tmp_path, GRADER_MAX_ATTEMPTS="20") as stack:
        ids = [stack.accepted(LONGER) for _ in range(4)]
        stack.start_worker()
        stack.start_worker()
        killed: list[tuple[int, int, Worker]] = []
        started = time.monotonic()
        with stack.reconciling():
            while len(killed) < KILLS:
                pending = [
                    i for i, state in stack.states(ids).items() if state not in ("scored", "failed", "error")
                ]
                if len(pending) < 2:
                    ids.append(stack.accepted(LONGER))  # keep work in the queue until the tenth kill
                submission_id, attempt, worker = _training(stack, timeout=60)
                time.sleep(rng.uniform(0.0, 2.0))  # a random moment of its training
                if (submission_id, attempt) not in {(s, a) for s, a, _, _ in stack.running()}:
                    continue  # it finished first: pick another
                worker.kill()
                killed.append((submission_id, attempt, worker))
                stack.start_worker()
            killing = time.monotonic() - started
            stack.wait_final(ids, timeout=240)
        print(
            f"{KILLS} kills in {killing:.1f} s, {len(ids)} submissions, "
            f"all final {time.monotonic() - started:.1f} s after the first upload"
        )
        stack.check_graded_exactly_once(ids)

        def attempts() -> dict[tuple[int, int], Attempt]:
            rows = db.session.scalars(select(Attempt).where(Attempt.submission_id.in_(ids))).all()
            return {(a.submission_id, a.number): a for a in rows}

        def results() -> dict[int, int]:
            rows = db.session.execute(select(Result.submission_id, Result.attempt_number)).all()
            return {int(s): int(n) for s, n in rows}

        by_key, written = stack.query(attempts), stack.query(results)
        for submission_id, attempt, worker in killed:
            record = by_key[(submission_id, attempt)]
            assert record.worker.endswith(f":{worker.pid}")
            # Killed mid-training its lease expired; killed in the instant after its result committed,
            # it is the attempt that wrote the result. Either way nothing was written twice.
            assert record.outcome == "expired" or written[submission_id] == attempt, record.outcome
        # And only the killed workers' leases expired: a live worker never lost one.
        victims = {w.pid for _, _, w in killed}
        expired = [a for a in by_key.values() if a.outcome == "expired"]
        assert expired and all(int(a.worker.rsplit(":", 1)[1]) in victims for a in expired)
