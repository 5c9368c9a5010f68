"""``grader serve``: the web app, a Celery worker and beat in one command.

With no configuration this is the embedded default (SQLite in the instance
folder, kombu's SQLAlchemy transport as the broker): nothing to install. The
same command works against PostgreSQL and Redis when GRADER_DATABASE_URL and
GRADER_REDIS_URL are set. Production runs the parts separately (docker-compose.yml).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# The folder that holds this grader package (the checkout, or site-packages when installed): the children
# run there, so `python -m` imports this same copy whatever the caller's folder holds.
ROOT = Path(__file__).resolve().parents[1]
STOP_GRACE_SECONDS = 5


def serve(port: int, demo: bool) -> int:
    from flask_migrate import upgrade

    from grader.app import create_app

    app = create_app()
    with app.app_context():
        upgrade()
        if demo:
            from grader.demo import seed

            logins = seed()
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "grader.worker_main:celery"]
    schedule = str(Path(app.instance_path) / "celerybeat-schedule")
    commands = [
        [*celery, "worker", "-Q", "cpu,gpu", "--pool", "solo", "-c", "1", "--loglevel", "INFO",
         "--without-mingle", "--without-gossip"],
        # Beat, embedded in the one worker of the maintenance queue (the reconciler's).
        [*celery, "worker", "--beat", "--schedule", schedule, "-Q", "maintenance", "--pool", "solo", "-c", "1",
         "--hostname", "maintenance@%h", "--loglevel", "INFO", "--without-mingle", "--without-gossip"],
        # Webhooks and LMS calls: threads, since they wait on other servers, not on the CPU.
        [*celery, "worker", "-Q", "outbound", "--pool", "threads", "-c", "4", "--hostname", "outbound@%h",
         "--loglevel", "INFO", "--without-mingle", "--without-gossip"],
        [python, "-m", "gunicorn", "-c", "python:grader.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
         "grader.app:create_app()"],
    ]  # fmt: skip
    # Each child leads its own process group, so stopping one stops everything it started.
    children = [subprocess.Popen(command, cwd=ROOT, start_new_session=True) for command in commands]
    print(f"\n  grader is running at http://127.0.0.1:{port}", flush=True)
    if demo:
        print(f"  instructor: {logins.instructor[0]}  password: {logins.instructor[1]}")
        print(f"  student:    {logins.student[0]}  password: {logins.student[1]}")
        print(f"  student API token: {logins.student_token}")
        print(f"  the student's first example: http://127.0.0.1:{port}/submissions/{logins.first_example_id}")
        print(f"  upload: curl -H 'Authorization: Bearer {logins.student_token}' -F file=@my_script.py "
              f"http://127.0.0.1:{port}/api/v1/assignments/{logins.assignment_id}/submissions\n", flush=True)  # fmt: skip

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                _signal_group(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    finally:
        stop()
        for child in children:
            # A few seconds for a grading about to finish, not its whole run: one cut off is not lost
            # (its message is acknowledged only at the end, and its lease expires), it is graded again
            # once the grader runs again.
            try:
                child.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(child, signal.SIGKILL)  # whatever the child left behind
    return 0


def _signal_group(child: subprocess.Popen[bytes], number: int) -> None:
    try:
        os.killpg(child.pid, number)
    except (ProcessLookupError, PermissionError):
        pass
