"""`pip install .` works away from the checkout: the wheel carries every file the package reads beside
itself (migrations, the built-in assignments, uPlot, templates), and the installed copy grades a file
and serves the demo from an empty folder (`grader serve --demo`, the README's first command, on its
embedded defaults: SQLite for the database and the broker).

The wheel is built from a copy of what the image copies (pyproject.toml, README.md, grader/, gradekit/),
and that copy is installed with ``pip install .`` into a fresh virtualenv, whose Flask instance folder
is where a real install has it (``<venv>/var/grader-instance``). The test has no network: the new
virtualenv gets its dependencies (Flask, torch, ...) as hard links to the project's (a copy across
file systems), everything but the project's editable install of grader itself, so they lie inside
it, where the sandbox, which sees the Python install read-only, finds them as in a real install.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zipfile import ZipFile

import pytest
from support.pages import csrf_token
from support.private_servers import free_port

from grader.engine.spec import builtin_slugs

pytestmark = pytest.mark.long  # builds and installs the wheel, serves the demo

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "grader", "gradekit")  # the Dockerfile's list: nothing else
SITE = Path("lib") / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


@dataclass(frozen=True)
class Installed:
    source: Path  # the copy the wheel was built from and `pip install .` installed
    wheel: Path
    prefix: Path  # the fresh virtualenv: SITE below it, and Flask's instance folder in var/
    env: dict[str, str]  # no GRADER_*, PYTHON* or VIRTUAL_ENV settings: the defaults

    @property
    def site(self) -> Path:
        return self.prefix / SITE

    @property
    def python(self) -> Path:
        return self.prefix / "bin" / "python"

    @property
    def grader(self) -> Path:
        return self.prefix / "bin" / "grader"  # the console script pip installed


def _run(command: list[str], timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    assert done.returncode == 0, (
        f"{command}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    # No build isolation: the virtualenv's setuptools (the dev extra), no network.
    _run([*pip, "wheel", str(source), "--no-deps", "--no-build-isolation", "-q", "-w", str(root / "dist")],
         timeout=300, cwd=root)  # fmt: skip
    (wheel,) = (root / "dist").glob("grader-*.whl")
    prefix = root / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADER_", "PYTHON", "VIRTUAL_ENV"))}
    _run([sys.executable, "-m", "venv", "--without-pip", str(prefix)], timeout=120, cwd=root, env=env)
    _link_dependencies(prefix / SITE)
    _run([str(prefix / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "install", "-q",
          "--no-deps", "--no-build-isolation", "."], timeout=300, cwd=source, env=env)  # fmt: skip
    return Installed(source, wheel, prefix, env)


def _link_dependencies(site: Path) -> None:
    """The project virtualenv's packages in ``site`` (hard links; copies across file systems), all but
    its editable install of grader: what `pip install .` would have downloaded."""
    (ours,) = (Path(p) for p in sys.path if Path(p).name == "site-packages" and (Path(p) / "flask").is_dir())
    editable = shutil.ignore_patterns("__editable__*", "grader-*.dist-info", "grader.egg-link")

    def link(source: str, target: str) -> None:
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)

    shutil.copytree(ours, site, ignore=editable, copy_function=link, symlinks=True, dirs_exist_ok=True)


def test_the_wheel_carries_every_file_of_the_package(installed: Installed) -> None:
    with ZipFile(installed.wheel) as wheel:
        carried = {name for name in wheel.namelist() if ".dist-info/" not in name}
    files = {
        path.relative_to(installed.source).as_posix()
        for name in ("grader", "gradekit")
        for path in (installed.source / name).rglob("*")
        if path.is_file()
    }
    assert carried == files, (sorted(files - carried), sorted(carried - files))
    for needed in (
        "grader/migrations/env.py",
        "grader/migrations/alembic.ini",
        "grader/engine/builtin/paraboloid/assignment.toml",
        "grader/engine/builtin/xor/train.csv",
        "grader/web/vendor/uplot/uPlot.iife.min.js",
        "grader/web/vendor/uplot/LICENSE",
        "grader/lti/templates/lti/deep_link.html",
        "gradekit/__init__.py",
    ):
        assert needed in carried, needed


def test_the_installed_copy_imports_itself_and_binds_its_own_harness(
    installed: Installed, tmp_path: Path
) -> None:
    probe = (
        "import json, grader, gradekit\n"
        "from grader.app import MIGRATIONS\n"
        "from grader.engine.spec import BUILTIN, builtin_slugs\n"
        "from grader.engine.sandbox.bwrap import GRADEKIT_SOURCES, HARNESS_SOURCES\n"
        "from grader.web.views import VENDOR_DIR\n"
        "paths = [grader.__file__, gradekit.__file__, MIGRATIONS, BUILTIN, VENDOR_DIR,\n"
        "         HARNESS_SOURCES, GRADEKIT_SOURCES]  # what bwrap binds into the sandbox\n"
        "print(json.dumps({'paths': [str(p) for p in paths], 'slugs': builtin_slugs()}))\n"
    )
    shown = json.loads(
        _run([str(installed.python), "-c", probe], timeout=120, cwd=tmp_path, env=installed.env).stdout
    )
    for path in shown["paths"]:
        assert Path(path).is_relative_to(installed.site) and Path(path).exists(), path
    assert shown["slugs"] == builtin_slugs()  # the checkout's nine


@pytest.mark.slow
def test_the_installed_copy_grades_a_file_from_an_empty_folder(installed: Installed, tmp_path: Path) -> None:
    assert not tmp_path.is_relative_to(ROOT)
    shutil.copy(installed.site / "grader" / "engine" / "builtin" / "paraboloid" / "reference.py", tmp_path)
    done = _run([str(installed.grader), "run", "paraboloid", "reference.py", "--json"],
                timeout=300, cwd=tmp_path, env=installed.env)  # fmt: skip
    result = json.loads(done.stdout)
    assert result["verdict"] == "scored" and result["passed"], result
    assert result["score"] == result["max_score"] == 100


@dataclass
class Served:
    base: str
    log: Path
    opener: urllib.request.OpenerDirector  # keeps the session cookie

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def up(self, timeout: float) -> None:
        """Waits for the web process (started after the logins are printed) to answer."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.get("/login")
                return
            except OSError:
                assert time.monotonic() < deadline, f"no answer:\n{self.log.read_text()[-3000:]}"
                time.sleep(0.5)

    def text(self, path: str) -> str:
        status, body = self.get(path)
        assert status == 200, (path, status, body[:500])
        return body.decode()

    def log_in(self, email: str, password: str) -> None:
        form = {"email": email, "password": password, "csrf_token": csrf_token(self.text("/login"))}
        with self.opener.open(self.base + "/login", data=urlencode(form).encode(), timeout=10) as response:
            assert response.status == 200 and not response.url.endswith("/login"), response.url

    def printed(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (found := re.search(pattern, self.log.read_text())) is None:
            assert time.monotonic() < deadline, f"{pattern!r} never printed:\n{self.log.read_text()[-3000:]}"
            time.sleep(0.5)
        return found


def _descendants(pid: int) -> set[tuple[int, str]]:
    """The processes below ``pid``, with their start times (a pid alone could be reused)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        children.setdefault(int(fields[1]), []).append((int(stat.parent.name), fields[19]))
    found: set[tuple[int, str]] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child[0])
    return found


def _alive(process: tuple[int, str]) -> bool:
    try:
        fields = Path(f"/proc/{process[0]}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[19] == process[1] and fields[0] != "Z"


def _killed_leftovers(processes: set[tuple[int, str]]) -> list[int]:
    """Kills what still runs of ``processes`` after a grace period; their pids (none: a clean stop)."""
    deadline = time.monotonic() + 10
    while (left := [p for p in processes if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid, _ in left:
        os.kill(pid, signal.SIGKILL)
    return [pid for pid, _ in left]


@pytest.fixture
def served(installed: Installed, tmp_path: Path) -> Iterator[Served]:
    """``grader serve --demo`` of the installed copy on the embedded default, stopped as a user stops it."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**installed.env, "GRADER_WARM_POOL": "0"}  # no idle sandbox beside the demo's gradings
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [str(installed.grader), "serve", "--demo", "--port", str(port)],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    try:
        serving = Served(f"http://127.0.0.1:{port}", log, opener)
        serving.printed(r"grader is running at", timeout=120)
        serving.up(timeout=60)
        yield serving
    finally:
        started = _descendants(server.pid)
        server.send_signal(signal.SIGTERM)  # as Ctrl-C does: grader serve stops the process groups it started
        try:
            code = server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            code = server.wait()
        killed = _killed_leftovers(started)
    assert code == 0, log.read_text()[-3000:]
    assert not killed, f"grader serve left processes {killed} running"


@pytest.mark.slow
def test_the_installed_copy_serves_the_demo_from_an_empty_folder(
    installed: Installed, served: Served, tmp_path: Path
) -> None:
    student = served.printed(r"student:\s+(\S+)\s+password: (\S+)", timeout=10)
    token = served.printed(r"student API token: (\S+)", timeout=10)[1]
    assignment = served.printed(r"/api/v1/assignments/(\d+)/submissions", timeout=10)[1]
    first = served.printed(r"the student's first example: \S+/submissions/(\d+)", timeout=10)[1]
    # The installed default: the database in Flask's instance folder of an installed package.
    assert (installed.prefix / "var" / "grader-instance" / "grader.sqlite3").is_file()
    assert served.get("/login")[0] == 200
    # The worker (the installed copy's sandbox and harness) grades the demo's reference solution.
    deadline, state = time.monotonic() + 180, None
    while state not in ("scored", "failed", "error"):
        assert time.monotonic() < deadline, (
            f"submission {first} still {state}:\n{served.log.read_text()[-3000:]}"
        )
        time.sleep(1)
        status, body = served.get(f"/api/v1/submissions/{first}", {"Authorization": f"Bearer {token}"})
        state = json.loads(body).get("state") if status == 200 else None
    assert state == "scored", served.log.read_text()[-3000:]
    served.log_in(student[1], student[2])
    home = served.text("/")
    assert "ME-491" in home and "Learn the paraboloid" in home
    page = served.text(f"/assignments/{assignment}")
    assert "reference.py" in page and "no_zero_grad.py" in page and "100 / 100" in page
    result = served.text(f"/submissions/{first}/result")
    assets = set(re.findall(r'(?:src|href)="(/static/[^"?]+)', result))
    assert "/static/vendor/uPlot.iife.min.js" in assets and "/static/web/app.css" in assets, assets
    for asset in assets:  # every script and style the page loads, uPlot's included
        assert served.get(asset)[0] == 200, asset
    uplot = installed.site / "grader" / "web" / "vendor" / "uplot" / "uPlot.iife.min.js"
    assert served.get("/static/vendor/uPlot.iife.min.js")[1] == uplot.read_bytes()
