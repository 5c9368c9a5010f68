"""Many hosts, tested as many hosts: a worker host cut off the network mid-run, graded exactly once.

docs/deploy.md's "Many hosts" layout on one machine, each part in a network namespace of its own
joined by a bridge on a private /24 (tests/support/netns.py), no folder shared between them:

* ``db``: a private PostgreSQL cluster and a private redis-server, listening on the host's address
  (pg_hba trusts the subnet). PostgreSQL holds the uploaded files too (``GRADER_STORAGE=database``).
* ``web``: gunicorn (grader/gunicorn_conf.py, gevent) serving the REST API, and beat (the
  reconciler's maintenance node).
* ``w1``, ``w2``: one Celery node each (``-Q cpu --pool solo``).
* the test process itself, on the subnet's first address: it seeds the database and uploads
  through the web host's API, as a client would.

Each of web, w1 and w2 has a folder of its own for its storage folder, jobs folder, home and
temporary files. A burst of uploads is graded by both worker hosts. Once each has finished one,
host 1 is cut off the network (its interface down) while a run of its trains: the lease runs out,
the reconciler requeues the run and host 2 grades it. Host 1 comes back when everything is final
(or before it would give its result up: it waits ``DATABASE_PATIENCE_SECONDS`` for the database)
and its late result is dropped. Every submission has exactly one result; the hosts' folders hold
no upload they did not fetch from the database.

The database URL carries ``tcp_user_timeout`` (libpq): a connection whose data goes unacknowledged
(its host is cut off) fails after 3 s instead of waiting out TCP's retransmissions for minutes,
which is how a deployment across hosts should set it too. Beat runs the reconciler every 2 s here
instead of every 30 s (celery_app.RECONCILE_SECONDS), as the other fault tests' ``reconciling`` does,
and the worker hosts keep one warm sandbox each, as deployed (the other fault tests keep none).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy import select
from support import netns
from support.fault_stack import FINAL, LONGER, ROOT, Stack, make_stack
from support.private_servers import PrivatePostgres, PrivateRedis, Servers

from grader.app import create_app
from grader.extensions import db, utcnow
from grader.storage.models import StoredBlob
from grader.submissions.models import Attempt, Result, State, Submission
from grader.workers.grading import DATABASE_PATIENCE_SECONDS

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SUBMISSIONS = 8
# conftest's LONGER, the reference solution training four times as long: about seven seconds in a warm
# fork server, so a run cut off early in its training is still training when the test looks at host 1's
# disk (at twice as long, a run cut off at its first progress report could end first, its upload gone
# with its job folder). Eight of them on two cores still fit in a minute or so.
STEADY = LONGER
AIM_BEFORE_SECONDS = 3.0  # a run is cut off in its first seconds of training
LEASE_SECONDS = 6
RECONCILE_SECONDS = 2.0
DATABASE_USER_TIMEOUT_MS = 3000
# Host 1 waits DATABASE_PATIENCE_SECONDS for the database before it gives its finished run up (and
# then never learns that its result was dropped): it is plugged back in well before, final or not.
RESTORE_WITHIN = DATABASE_PATIENCE_SECONDS - 15
WAITING = "submission {}: database unavailable during finish"
WEB_PORT = 8000
FOLDER_PREFIX = "grader-hosts-"  # then the test process's pid: a dead one's folder is swept
DROPPED = "submission {}: attempt {} finished without its lease; its result is dropped"
# beat as ``celery -A grader.worker_main:celery worker --beat ...`` runs it, the reconciler more often.
BEAT = (
    "import sys\n"
    "from grader.worker_main import celery\n"
    "schedule = dict(celery.conf.beat_schedule)\n"
    "schedule['reconcile'] = {**schedule['reconcile'], 'schedule': float(sys.argv[1])}\n"
    "celery.conf.beat_schedule = schedule\n"
    "celery.worker_main(sys.argv[2:])\n"
)


class HostedPostgres(PrivatePostgres):
    """The faults' private cluster, run inside a host and listening on its address."""

    def __init__(self, root: Path, host: netns.Host) -> None:
        super().__init__(root)
        self.host = host

    def _pg(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            [*self.host.prefix(), *self.prefix, *args], check=True, capture_output=True, timeout=timeout
        )

    def start(self) -> None:
        hba = self.data / "pg_hba.conf"
        with open(hba, "a") as rules:
            rules.write(f"host all all {self.host.network.subnet} trust\n")
        # A host cut off in the middle of a transaction would hold its row locks until TCP gave up
        # on it (hours): the server ends such a session after a few seconds instead.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses={self.host.address} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=80 "
            "-c idle_in_transaction_session_timeout=5s"
        )
        self._pg(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                 "-o", options, "-w", "-t", "60", "start")  # fmt: skip

    def url(self, database: str) -> str:
        return (
            f"postgresql+psycopg://postgres@{self.host.address}:{self.port}/{database}"
            f"?tcp_user_timeout={DATABASE_USER_TIMEOUT_MS}"
        )


class HostedRedis(PrivateRedis):
    def __init__(self, root: Path, host: netns.Host) -> None:
        super().__init__(root)
        self.host = host

    def start(self) -> None:
        started = self.host.start(
            "redis",
            ["redis-server", "--port", str(self.port), "--bind", self.host.address, "--protected-mode", "no",
             "--save", "", "--appendonly", "no", "--dir", str(self.root), "--databases", "16"],
        )  # fmt: skip
        self.process = started.popen
        self.host.network.wait_for_port(self.host.address, self.port, 10, started)

    def url(self, number: int) -> str:
        return f"redis://{self.host.address}:{self.port}/{number}"


@dataclass
class Hosts:
    net: netns.Network
    db: netns.Host
    web: netns.Host
    slot1: netns.Host
    slot2: netns.Host
    postgres: HostedPostgres
    stack: Stack
    folders: dict[str, Path]  # each host's own folder (its storage and jobs folders are inside)
    workers: dict[str, netns.Process]  # by host name
    web_url: str

    def host_of(self, worker: str | None) -> str | None:
        """Which worker host an attempt's ``host:pid`` (or a lease owner) names."""
        for host in (self.slot1, self.slot2):
            if worker is not None and worker.startswith(f"{host.hostname}:"):
                return host.name
        return None

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} (pid {p.pid})\n{p.tail(4000)}" for p in self.net.processes)


def _until(condition: Callable[[], bool], timeout: float, what: str, hosts: Hosts) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {timeout} s\n{hosts.logs()}")
        time.sleep(0.2)


def _start_web(host: netns.Host, env: dict[str, str]) -> netns.Process:
    """gunicorn as deployed (grader/gunicorn_conf.py: gevent workers); threads where that is missing."""
    bind = ["--bind", f"{host.address}:{WEB_PORT}", "--workers", "1"]  # one process: two cores here
    served = [sys.executable, "-m", "gunicorn", *bind]
    if importlib.util.find_spec("grader.gunicorn_conf") is not None:
        web = host.start(
            "gunicorn", [*served, "-c", "python:grader.gunicorn_conf", "grader.wsgi:app"], env, ROOT
        )
        try:
            host.network.wait_for_port(host.address, WEB_PORT, 60, web)
            return web
        except AssertionError as exc:  # it exited: say why, and serve with threads
            print(f"gunicorn with grader/gunicorn_conf.py failed; threads instead:\n{exc}")
    web = host.start("gunicorn-threads", [*served, "--worker-class", "gthread", "--threads", "4",
                                          "grader.wsgi:app"], env, ROOT)  # fmt: skip
    host.network.wait_for_port(host.address, WEB_PORT, 60, web)
    return web


def _celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "grader.worker_main:celery", "worker", *args,
            "--without-mingle", "--without-gossip", "--loglevel", "INFO"]  # fmt: skip


def _own_folder(root: Path, host: netns.Host) -> Path:
    """The host's own disk: its storage, jobs, home and temporary folders, seen by no other host."""
    folder = root / host.name
    folder.mkdir(mode=0o755)
    for own in ("storage", "jobs", "home", "tmp"):
        (folder / own).mkdir(mode=0o755)
    (folder / "tmp").chmod(0o1777)
    return folder


@contextlib.contextmanager
def _database_host(net: netns.Network, root: Path) -> Iterator[Servers]:
    """Host ``db``: PostgreSQL (with a migrated template database) and Redis on its address."""
    host = net.add_host("db")
    folder = root / "db"
    folder.mkdir(mode=0o755)  # the cluster's: it belongs to the postgres user
    postgres, hosted_redis = HostedPostgres(folder, host), HostedRedis(folder, host)
    try:
        postgres.init()
        postgres.start()
        hosted_redis.start()
        template = "grader_hosts_template"
        admin = postgres.admin()
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{template}"'))
        admin.dispose()
        app = create_app(
            {
                "GRADER_ENV": "test",
                "GRADER_DATABASE_URL": postgres.url(template),
                "GRADER_REDIS_URL": hosted_redis.url(0),
                "GRADER_STORAGE": "database",
                "GRADER_STORAGE_DIR": str(root / "template-storage"),
            }
        )
        with app.app_context():
            upgrade()
            db.engine.dispose()  # a template must have no connections when it is copied
        yield Servers(postgres, hosted_redis, template)
    finally:
        with contextlib.suppress(Exception):
            postgres.stop("immediate")  # Redis stops with the network's processes


@contextlib.contextmanager
def _service(net: netns.Network, servers: Servers, root: Path) -> Iterator[Hosts]:
    """Hosts ``web`` (gunicorn, beat), ``w1`` and ``w2`` (a Celery node each) on a seeded database."""
    assert isinstance(servers.postgres, HostedPostgres)
    web, slot1, slot2 = (net.add_host(name) for name in ("web", "w1", "w2"))
    folders = {host.name: _own_folder(root, host) for host in (web, slot1, slot2)}
    (root / "test").mkdir()
    with make_stack(
        servers,
        root / "test",
        GRADER_STORAGE="database",
        GRADER_LEASE_SECONDS=str(LEASE_SECONDS),
        GRADER_WARM_POOL="1",  # as deployed: the next sandbox starts while a run trains
    ) as stack:

        def env(host: netns.Host) -> dict[str, str]:
            """The service's settings, and folders of the host's own: nothing on disk is shared
            (not even a home: gunicorn keeps its control socket there, or in XDG_RUNTIME_DIR)."""
            folder = folders[host.name]
            own = {
                "GRADER_STORAGE_DIR": "storage",
                "GRADER_JOBS_DIR": "jobs",
                "HOME": "home",
                "TMPDIR": "tmp",
            }
            inherited = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
            return {**inherited, **stack.settings, **{k: str(folder / v) for k, v in own.items()}}

        workers = {}
        for n, host in ((1, slot1), (2, slot2)):
            node = _celery("-Q", "cpu", "--pool", "solo", "-c", "1", "-n", f"slot{n}@%h")
            workers[host.name] = host.start("celery", node, env(host), ROOT)
        beat = web.start(
            "beat",
            [sys.executable, "-c", BEAT, str(RECONCILE_SECONDS), "worker", "--beat",
             "--schedule", str(folders["web"] / "beat"), "-Q", "maintenance", "--pool", "solo", "-c", "1",
             "-n", "maintenance@%h", "--without-mingle", "--without-gossip", "--loglevel", "INFO"],
            env(web), ROOT,
        )  # fmt: skip
        _start_web(web, env(web))
        hosts = Hosts(net, servers.postgres.host, web, slot1, slot2, servers.postgres, stack, folders,
                      workers, f"http://{web.address}:{WEB_PORT}")  # fmt: skip

        def ready() -> bool:
            nodes = (*workers.values(), beat)
            if not all(p.alive for p in nodes):
                raise AssertionError(f"a Celery node exited\n{hosts.logs()}")
            return all(" ready." in p.tail(None) for p in nodes)

        _until(ready, 90, "the Celery nodes and beat ready", hosts)
        try:
            yield hosts
        finally:
            # Celery's warm shutdown, before the network goes (host 1 may still wait on Redis).
            net.stop(*workers.values(), beat, timeout=8)


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    why = netns.unavailable()
    if why is not None:
        pytest.skip(why)
    if not shutil.which("redis-server"):
        pytest.fail("the fault tests need redis-server (apt-get install redis-server)")
    _sweep_stale_folders()
    root = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-"))
    root.chmod(0o755)  # the postgres user reaches its cluster's folder inside
    try:
        with (
            netns.network(root / "logs") as net,
            _database_host(net, root) as servers,
            _service(net, servers, root) as hosts,
        ):
            yield hosts
    finally:
        _unmount_below(root)
        shutil.rmtree(root, ignore_errors=True)


def _sweep_stale_folders() -> None:
    """The folders of earlier runs killed outright (their namespaces go in netns.network())."""
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*-*"):
        pid = folder.name[len(FOLDER_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not netns.alive(int(pid)):
            _unmount_below(folder)
            shutil.rmtree(folder, ignore_errors=True)


def _unmount_below(root: Path) -> None:
    """Unmount what was left mounted in ``root``: a worker killed before it could close its warm
    sandbox leaves the sandbox's scratch tmpfs mounts in its jobs folder."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(f"{root}/"):
            points.append(point)
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True, timeout=30)


def _upload(hosts: Hosts, content: bytes) -> int:
    with requests.Session() as session:
        session.trust_env = False  # straight to the web host: no proxy from the environment
        response = session.post(
            f"{hosts.web_url}/api/v1/assignments/{hosts.stack.assignment_id}/submissions",
            files={"file": ("solution.py", content)},
            headers={"Authorization": f"Bearer {hosts.stack.token}"},
            timeout=60,
        )
    assert response.status_code == 202, (response.status_code, response.text[:500])
    return int(response.json()["id"])


@dataclass(frozen=True)
class Run:
    submission: int
    number: int
    host: str | None
    outcome: str
    started: datetime
    finished: datetime | None


def _runs(hosts: Hosts, ids: list[int]) -> dict[tuple[int, int], Run]:
    rows = hosts.stack.query(
        lambda: db.session.execute(
            select(
                Attempt.submission_id, Attempt.number, Attempt.worker, Attempt.outcome, Attempt.started_at,
                Attempt.finished_at,
            ).where(Attempt.submission_id.in_(ids))
        ).all()
    )  # fmt: skip
    return {
        (int(s), int(n)): Run(int(s), int(n), hosts.host_of(worker), outcome, started, finished)
        for s, n, worker, outcome, started, finished in rows
    }


def _aim(hosts: Hosts, ids: list[int], timeout: float) -> tuple[int, int]:
    """A run of host 1's early in its training, once each worker host has finished one."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        finished = {run.host for run in _runs(hosts, ids).values() if run.outcome == "finished"}
        if {"w1", "w2"} <= finished:
            for submission_id, attempt, owner, progress in hosts.stack.running():
                early = progress and progress.get("step") and progress.get("elapsed", 0) < AIM_BEFORE_SECONDS
                if hosts.host_of(owner) == "w1" and early:
                    return submission_id, attempt
        if set(hosts.stack.states(ids).values()) <= FINAL:
            break
        time.sleep(0.05)
    details = hosts.stack.query(
        lambda: db.session.execute(
            select(Attempt.submission_id, Attempt.number, Attempt.outcome, Attempt.detail).where(
                Attempt.submission_id.in_(ids)
            )
        ).all()
    )
    raise AssertionError(
        f"no training run on host 1 to cut after both hosts graded one: {details}\n{hosts.logs()}"
    )


def _held(hosts: Hosts, submission_id: int) -> tuple[State, int]:
    """The submission's state and attempt count."""
    row = hosts.stack.query(
        lambda: db.session.execute(
            select(Submission.state, Submission.attempts).where(Submission.id == submission_id)
        ).one()
    )
    return row[0], int(row[1])


def _cut_mid_run(hosts: Hosts, ids: list[int], tries: int = 3) -> tuple[int, int, datetime, float]:
    """Cut host 1 off while it trains a run: (submission, attempt, when, when on the monotonic clock)."""
    for _ in range(tries):
        lost, attempt = _aim(hosts, ids, timeout=90)
        hosts.slot1.cut()
        cut_at, cut_clock = utcnow(), time.monotonic()
        time.sleep(0.5)  # whatever host 1 sent just before has arrived
        if _held(hosts, lost) == (State.RUNNING, attempt):
            return lost, attempt, cut_at, cut_clock
        hosts.slot1.restore()  # it wrote its result in the instant before: aim at another run
    raise AssertionError(f"host 1 finished each of {tries} runs before it was cut off\n{hosts.logs()}")


def _files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def _uploads_in(folder: Path, digests: dict[str, int]) -> set[int]:
    """The submissions whose uploaded bytes lie in a file somewhere below ``folder``."""
    found = set()
    for path in _files(folder):
        with contextlib.suppress(FileNotFoundError):  # a finished run's job folder going away
            submission = digests.get(hashlib.sha256(path.read_bytes()).hexdigest())
            if submission is not None:
                found.add(submission)
    return found


def _check_nothing_shared(hosts: Hosts, digests: dict[str, int]) -> dict[str, set[int]]:
    """No host's storage folder holds anything (the files are in PostgreSQL), the web host keeps no
    upload on its disk, and a worker host holds only uploads of submissions it took: it fetched them
    from the database. The uploads each host holds now."""
    runs = _runs(hosts, list(digests.values()))
    held = {name: _uploads_in(folder, digests) for name, folder in hosts.folders.items()}
    for name, folder in hosts.folders.items():
        assert _files(folder / "storage") == [], f"{name} keeps files in its storage folder"
        taken = {run.submission for run in runs.values() if run.host == name}
        assert held[name] <= taken, f"{name} holds uploads of {held[name] - taken}, which it never took"
    return held


def test_worker_host_cut_off_mid_run_is_taken_over_by_the_other_host(hosts: Hosts) -> None:
    stack, w1 = hosts.stack, hosts.slot1
    started = time.monotonic()
    # Each upload its own bytes: what a host's folders hold can be traced to the submission.
    contents = [STEADY + f"\n# upload {n} of the many-hosts test\n".encode() for n in range(SUBMISSIONS)]
    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(lambda content: _upload(hosts, content), contents))
    digests = {hashlib.sha256(content).hexdigest(): i for i, content in zip(ids, contents, strict=True)}

    lost, attempt, cut_at, cut_clock = _cut_mid_run(hosts, ids)
    print(f"host 1 cut off {cut_clock - started:.1f} s after the burst, running submission {lost}")
    assert not w1.reaches(hosts.db.address, hosts.postgres.port), "host 1 still reaches PostgreSQL"
    assert hosts.slot2.reaches(hosts.db.address, hosts.postgres.port)
    # The run's upload is on host 1's disk (it fetched it from the database to train it), nowhere else.
    held = _check_nothing_shared(hosts, digests)
    assert lost in held["w1"] and lost not in held["w2"] | held["web"], held

    # Everything final with host 1 away. Its run trains on, then it waits for the database to write
    # the result (DATABASE_PATIENCE_SECONDS, then it gives the result up without a word): it is
    # plugged back in once everything is final, or before that wait runs out.
    waiting = WAITING.format(lost)
    waiting_since: float | None = None
    while not set(stack.states(ids).values()) <= FINAL:
        now = time.monotonic()
        if waiting_since is None and waiting in hosts.workers["w1"].tail(None):
            waiting_since = now
        if waiting_since is not None and now > waiting_since + RESTORE_WITHIN:
            break
        assert now < cut_clock + 150, f"not final 150 s after the cut\n{hosts.logs()}"
        time.sleep(0.5)
    retaken = [r for (s, n), r in _runs(hosts, ids).items() if s == lost and n > attempt]
    assert retaken and all(r.host == "w2" for r in retaken), (retaken, hosts.logs())
    w1.restore()
    restored_at = utcnow()
    pending = sorted(i for i, state in stack.states(ids).items() if state not in FINAL)
    print(f"host 1 back {time.monotonic() - cut_clock:.1f} s after the cut; not final yet: {pending}")
    _until(lambda: w1.reaches(hosts.db.address, hosts.postgres.port), 10, "host 1 reaching PostgreSQL", hosts)
    stack.wait_final(ids, timeout=90)
    # Its run finished while it was away; now it gets through, finds its lease gone, writes nothing.
    dropped = DROPPED.format(lost, attempt)
    _until(lambda: dropped in hosts.workers["w1"].tail(None), 30, "host 1's late result dropped", hosts)
    print(f"all final and host 1's result dropped {time.monotonic() - started:.1f} s after the burst")

    # Exactly one result each, one webhook delivery each, the LMS passback, the quota charged once.
    stack.check_graded_exactly_once(ids)
    runs = _runs(hosts, ids)
    results = stack.query(
        lambda: {
            int(s): int(n)
            for s, n in db.session.execute(
                select(Result.submission_id, Result.attempt_number).where(Result.submission_id.in_(ids))
            ).all()
        }
    )
    # The cut run: host 1's, expired, no result; the result is host 2's, from an attempt after the cut.
    first = runs[(lost, attempt)]
    assert first.host == "w1" and first.outcome == "expired", first
    assert results[lost] != attempt
    winner = runs[(lost, results[lost])]
    assert winner.host == "w2" and winner.started > cut_at, winner
    # While host 1 was away, everything that started or was written ran on host 2.
    for run in runs.values():
        if cut_at < run.started < restored_at:
            assert run.host == "w2", run
        if run.outcome == "finished" and cut_at < (run.finished or run.started) < restored_at:
            assert run.host == "w2", run
    # Both hosts graded something before the cut.
    before = {runs[(s, n)].host for s, n in results.items() if (runs[(s, n)].finished or cut_at) < cut_at}
    assert before == {"w1", "w2"}, before

    # Nothing shared: the uploads went through PostgreSQL (and nowhere else).
    def stored() -> tuple[dict[int, str], set[str]]:
        files = db.session.execute(
            select(Submission.id, Submission.file_sha256).where(Submission.id.in_(ids))
        )
        blobs = db.session.scalars(select(StoredBlob.sha256).where(StoredBlob.sha256.in_(digests)))
        return {int(i): sha for i, sha in files.all()}, set(blobs)

    files, blobs = stack.query(stored)
    assert files == {i: sha for sha, i in digests.items()}, "a submission's file is not what was uploaded"
    assert blobs == set(digests), "an upload is not in the database"
    _check_nothing_shared(hosts, digests)
    assert hosts.workers["w1"].alive and hosts.workers["w2"].alive
    print(f"test body {time.monotonic() - started:.1f} s")
