"""Fault: a worker host gone for good (SIGKILL, never restarted).

Its attempt's lease is never renewed again; once it expires the reconciler requeues the submission
and the other worker grades it (and everything else). The dead worker's attempt is recorded as
expired, naming it; every later attempt belongs to the survivor.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select
from support.fault_stack import make_stack
from support.private_servers import Servers

from grader.extensions import db
from grader.submissions.models import Attempt

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def test_a_worker_gone_for_good_has_its_leases_expire_and_another_takes_over(
    servers: Servers, tmp_path: Path
) -> None:
    with make_stack(servers, tmp_path) as stack:
        doomed = stack.start_worker()
        ids = [stack.accepted() for _ in range(3)]
        end = time.monotonic() + 120
        held: tuple[int, int] | None = None
        while held is None and time.monotonic() < end:
            held = next(
                ((s, a) for s, a, owner, p in stack.running() if stack.worker_of(owner) is doomed), None
            )
            time.sleep(0.05)
        assert held is not None, stack.logs()
        survivor = stack.start_worker()
        time.sleep(1.0)
        doomed.kill()  # and never started again
        gone = time.monotonic()
        with stack.reconciling():
            stack.wait_final(ids, timeout=120)
        print(f"all {len(ids)} final {time.monotonic() - gone:.1f} s after the host went away")
        stack.check_graded_exactly_once(ids)
        attempts = stack.query(
            lambda: db.session.scalars(select(Attempt).where(Attempt.submission_id.in_(ids))).all()
        )
        lost = next(a for a in attempts if (a.submission_id, a.number) == held)
        assert lost.outcome == "expired" and f":{doomed.pid} expired" in (lost.detail or ""), lost.detail
        after = [a for a in attempts if a.started_at > lost.started_at]
        assert after and all(a.worker.endswith(f":{survivor.pid}") for a in after)
