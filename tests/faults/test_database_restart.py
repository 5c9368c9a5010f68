"""Fault: PostgreSQL restarted while uploads and results are flowing.

Two workers are grading when the server stops (immediate mode: a crash, sessions cut). While it is
down, every upload through the API gets 503 with Retry-After as problem+json, and the pages answer
503 too: nothing is accepted that could be lost. The workers wait for it (heartbeats, claims and
results are retried) instead of throwing their runs away; after the restart the pool's pre-ping
replaces the dead connections. Every accepted submission ends scored exactly once, no attempt lost.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from support.fault_stack import LONGER, REFERENCE, Stack, make_stack
from support.private_servers import Servers

from grader.api_errors import PROBLEM_JSON

pytestmark = [pytest.mark.faults, pytest.mark.slow]

OUTAGE_SECONDS = 4.0


def _both_running(stack: Stack, timeout: float) -> None:
    """Until both workers hold a submission and one of them has reported training steps."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        running = stack.running()
        if len(running) >= 2 and any(p and p.get("step") for _, _, _, p in running):
            return
        time.sleep(0.05)
    raise AssertionError(f"the two workers were not both grading within {timeout} s\n{stack.logs()}")


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:300]
    return found.group(1)


def test_postgres_restarted_while_uploads_and_results_flow(servers: Servers, tmp_path: Path) -> None:
    # A lease longer than the outage: a worker that waits the restart out keeps its run.
    with make_stack(servers, tmp_path, GRADER_LEASE_SECONDS="30") as stack:
        browser = stack.client()
        token = _csrf(browser.get("/login").get_data(as_text=True))
        login = browser.post(
            "/login", data={"email": stack.student_email, "password": "pw", "csrf_token": token}
        )
        assert login.status_code == 303
        page = f"/assignments/{stack.assignment_id}"
        csrf = _csrf(browser.get(page).get_data(as_text=True))
        stack.start_worker()
        stack.start_worker()
        accepted = [stack.accepted(LONGER) for _ in range(4)]
        refused = []
        with stack.reconciling():
            _both_running(stack, timeout=120)
            servers.postgres.stop("immediate")
            down = time.monotonic()
            try:
                while time.monotonic() - down < OUTAGE_SECONDS:
                    upload = stack.upload()
                    assert upload.status == 503, upload.body  # never "accepted" while nothing can commit
                    assert upload.headers["Content-Type"] == PROBLEM_JSON and upload.body["status"] == 503
                    assert int(upload.headers["Retry-After"]) > 0
                    refused.append(upload)
                    time.sleep(0.2)
                shown = browser.get(page)
                assert shown.status_code == 503 and "Retry-After" in shown.headers
                assert "unavailable" in shown.get_data(as_text=True)
                posted = browser.post(
                    page, data={"csrf_token": csrf, "file": (io.BytesIO(REFERENCE), "reference.py")},
                    content_type="multipart/form-data",
                )  # fmt: skip
                assert posted.status_code == 503 and "Retry-After" in posted.headers
            finally:
                servers.postgres.start()
            print(f"PostgreSQL down {time.monotonic() - down:.1f} s; {len(refused)} uploads refused with 503")
            accepted += [stack.accepted() for _ in range(2)]  # the first requests after: fresh connections
            stack.wait_final(accepted, timeout=180)
        stack.check_graded_exactly_once(accepted)
        assert len(refused) >= 5
        # Nobody's run was thrown away: every submission was graded by its first attempt.
        assert stack.attempt_counts(accepted) == dict.fromkeys(accepted, 1), stack.logs()
