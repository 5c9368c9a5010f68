"""`grader submit` and `grader tokens create` end to end: real processes, a live HTTP server, a real
worker training in the sandbox, PostgreSQL and Redis (its own database number)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.assignments import FIXED_SCRIPT
from support.stack import ROOT, Stack, postgres_stack
from werkzeug.serving import make_server

GRADER = [sys.executable, "-m", "grader.cli"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    with postgres_stack(tmp_path_factory.mktemp("submit-cli"), redis_db=7, lease_seconds=20) as stack:
        server = make_server("127.0.0.1", 0, stack.app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        stack.start_worker()
        try:
            yield stack, f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()


def _run(args: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    # Only what the command needs: GRADER_* from the caller, nothing of the test's own settings.
    base = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    return subprocess.run(
        [*GRADER, *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_submit_uploads_follows_the_progress_and_prints_the_result(live: tuple[Stack, str]) -> None:
    stack, server = live
    done = _run(
        ["submit", "paraboloid", str(FIXED_SCRIPT), "--server", server], {"GRADER_TOKEN": stack.token}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Submitted reference.py as submission" in done.stderr
    progress = done.stderr.splitlines()
    assert any("running" in line and "%" in line and "elapsed" in line for line in progress), done.stderr
    assert any("step" in line and "ETA" in line for line in progress), done.stderr
    assert "Scored: 100/100  (MSE" in done.stdout and "PASSED" in done.stdout
    assert "/submissions/" in done.stdout and "/result" in done.stdout


@pytest.mark.slow
def test_submit_exits_1_when_the_code_fails_and_2_on_a_refusal(
    live: tuple[Stack, str], tmp_path: Path
) -> None:
    stack, server = live
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\nraise RuntimeError('my model is not ready')\n")
    failed = _run(
        ["submit", str(stack.assignment_id), str(broken)],
        {"GRADER_TOKEN": stack.token, "GRADER_SERVER": server},
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Runtime error" in failed.stdout

    # A read-only token made with the CLI cannot submit: exit 2 with the problem's detail.
    settings = stack.settings  # the server's own configuration: the command writes to its database
    made = _run(
        ["tokens", "create", "--email", "e2e@example.edu", "--scopes", "read", "--name", "ro"], settings
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("grd_") and "shown only now" in made.stderr
    refused = _run(["submit", "paraboloid", str(FIXED_SCRIPT), "--server", server, "--token", token], {})
    assert refused.returncode == 2
    assert "Forbidden (403)" in refused.stderr and "'submit' scope" in refused.stderr

    wrong = _run(["tokens", "create", "--email", "e2e@example.edu", "--scopes", "read,everything"], settings)
    assert wrong.returncode == 2 and "unknown scope 'everything'" in wrong.stderr
    nobody = _run(["submit", "nonesuch", str(FIXED_SCRIPT), "--server", server, "--token", stack.token], {})
    assert (
        nobody.returncode == 2
        and "no assignment 'nonesuch'" in nobody.stderr
        and "paraboloid" in nobody.stderr
    )
    missing = _run(["submit", "paraboloid", str(FIXED_SCRIPT), "--server", server], {})
    assert missing.returncode == 2 and "GRADER_TOKEN" in missing.stderr
    unreachable = _run(
        ["submit", "paraboloid", str(FIXED_SCRIPT), "--server", "http://127.0.0.1:9", "--token", "x"], {}
    )
    assert unreachable.returncode == 2 and "cannot reach the grader" in unreachable.stderr
