"""The production stack, up for real: docker-compose.yml on a Docker engine, graded over HTTP.

Images built here (scripts/build-images --local: the app, the sandbox, and PostgreSQL and Redis
from Debian's packages through docker-compose.test.yml, since nothing can be pulled). A student's
reference solution and a known-wrong one go to ``web`` over the REST API; the CPU worker grades
them in sibling sandbox containers; then the stack goes down and leaves no container behind.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import engine

from grader.cli_client import Client
from grader.engine.spec import BUILTIN

pytestmark = pytest.mark.long  # Docker: the compose stack

ROOT = Path(__file__).resolve().parents[1]
PARABOLOID = BUILTIN / "paraboloid"
JOBS = Path("/var/lib/grader/jobs")  # docker-compose.yml binds it at the same path in the workers
WEB = "http://127.0.0.1:5000"
IMAGES = ("grader:local", "grader-sandbox:local", "grader-test-postgres:local", "grader-test-redis:local")

SEED = """
import json
from grader.wsgi import app
from grader.accounts.models import Role
from grader.accounts.services import create_user, issue_token
from grader.assignments.services import publish
from grader.courses.models import Course, Enrollment
from grader.extensions import db
with app.app_context():
    course = Course(code="COMPOSE-1", title="The compose stack's test")
    db.session.add(course)
    db.session.commit()
    student = create_user("student@compose.test", "Stack Student", Role.STUDENT)
    db.session.add(Enrollment(course_id=course.id, user_id=student.id, role=Role.STUDENT))
    db.session.commit()
    assignment = publish(course, "paraboloid", daily_limit=20)
    print(json.dumps({"token": issue_token(student, "compose", ["read", "submit"]), "assignment": assignment.id}))
"""


def compose_command() -> list[str]:
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]  # Debian's 1.29: what the registries offer here
    pytest.skip("neither `docker compose` nor docker-compose is installed (apt-get install docker-compose)")


@pytest.fixture(scope="module")
def stack() -> Iterator[dict]:
    client = engine.client_or_skip()
    for image in IMAGES:
        try:
            client.images.get(image)
        except Exception:  # noqa: BLE001
            pytest.fail(f"the image {image} is missing: build it with scripts/build-images --local")
    if os.geteuid() != 0:
        pytest.skip("the stack's job folder (/var/lib/grader/jobs) is made by root")
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 5000)) == 0:
            pytest.fail("something already listens on 127.0.0.1:5000, the port docker-compose.yml publishes")
    JOBS.mkdir(parents=True, exist_ok=True)
    os.chown(JOBS, 10001, 10001)
    JOBS.chmod(0o700)
    project = f"grader-test-{os.getpid()}"
    env = {
        **os.environ,
        "GRADER_SECRET_KEY": secrets.token_urlsafe(48),
        "GRADER_POSTGRES_PASSWORD": secrets.token_urlsafe(32),
        "DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid),
    }
    command = [*compose_command(), "-p", project, "-f", "docker-compose.yml", "-f", "docker-compose.test.yml"]

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )

    before = {c.id for c in engine.sandbox_containers(client)}  # other tests' warm sandboxes, if any
    up = run("up", "-d", "--no-build")
    logs = ""
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        _wait_for_web(180)
        seeded = run("exec", "-T", "web", "python", "-c", SEED, timeout=120)
        assert seeded.returncode == 0, seeded.stderr[-3000:]
        yield json.loads(seeded.stdout.strip().splitlines()[-1])
        logs = run("logs", "--no-color", "--tail=60", "worker-cpu", timeout=60).stdout
    finally:
        down = run("down", "-v", "--remove-orphans", "-t", "20")
    left = client.containers.list(all=True, filters={"label": f"com.docker.compose.project={project}"})
    assert down.returncode == 0 and left == [], (down.stderr[-2000:], logs[-3000:])
    assert {c.id for c in engine.sandbox_containers(client)} <= before, (
        "a sandbox container outlived the stack"
    )
    assert client.networks.list(filters={"label": f"com.docker.compose.project={project}"}) == []
    assert not any(JOBS.iterdir()), "a job or channel folder outlived its run"


@pytest.mark.slow
def test_the_stack_grades_uploads_in_sandbox_containers(stack):
    client = Client(WEB, stack["token"])
    scripts = {"reference.py": PARABOLOID / "reference.py",
               "wrong.py": PARABOLOID / "wrong" / "sgd_tiny_lr_no_zero_grad.py"}  # fmt: skip
    created = {
        name: client.upload(stack["assignment"], name, path.read_bytes()) for name, path in scripts.items()
    }
    results = {name: _follow(client, made["url"], 600) for name, made in created.items()}
    reference, wrong = results["reference.py"], results["wrong.py"]
    assert reference["state"] == "scored" and reference["result"]["passed"], reference
    assert wrong["state"] == "scored" and not wrong["result"]["passed"], wrong
    assert wrong["result"]["score"] < reference["result"]["score"]


def _follow(client: Client, url: str, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        status: dict = client.get(url)
        if status.get("final"):
            return status
        if time.monotonic() > deadline:
            pytest.fail(f"still {status.get('state')} after {seconds:g} s: {status}")
        time.sleep(2)


def _wait_for_web(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{WEB}/login", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"web did not answer on {WEB} within {seconds:g} s")
        time.sleep(1)
