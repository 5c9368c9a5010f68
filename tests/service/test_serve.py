"""`grader serve --demo`: the README's first command, on the embedded default, with a real browser-less check."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_serve_demo_starts_everything_and_grades_the_examples(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "GRADER_DATABASE_URL": f"sqlite:///{tmp_path / 'grader.sqlite3'}",
        "GRADER_REDIS_URL": f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}",
        "GRADER_STORAGE_DIR": str(tmp_path / "storage"),
        "GRADER_WARM_POOL": "0",
    }
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "grader.cli", "serve", "--demo", "--port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        printed = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and printed is None:
            printed = re.search(r"the student's first example: \S+/submissions/(\d+)", log.read_text())
            time.sleep(0.5)
        text = log.read_text()
        assert printed, text
        token = re.search(r"student API token: (\S+)", text).group(1)
        assert re.search(r"student:\s+student@example.edu\s+password: \S+", text)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/submissions/{printed.group(1)}",
            headers={"Authorization": f"Bearer {token}"},
        )
        body: dict = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    body = json.load(response)
            except OSError:
                pass
            if body.get("state") in ("scored", "failed", "error"):
                break
            time.sleep(1)
        assert body.get("state") == "scored", (body, log.read_text()[-3000:])
        assert body["result"]["passed"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
