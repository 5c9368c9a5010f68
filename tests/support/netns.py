"""Separate hosts on one machine: network namespaces joined by a bridge (``ip netns``, veth pairs).

A ``Network`` is a private /24 of its own (picked at random among the 10.x.y.0/24 this machine has
no route to) with a bridge in a namespace of its own; each ``Host`` is a namespace with one veth
(``eth0``) plugged into that bridge and an address on the subnet, and the test process itself gets
the subnet's first address (a veth in the root namespace, plugged into the same bridge), so that it
reaches every host as a client would. Bridged traffic passes the bridge namespace's netfilter,
which is empty: a Docker engine's FORWARD policy on this machine does not apply.

Processes are started inside a host with ``nsenter --net=/run/netns/<namespace>`` (the namespace
``ip netns add`` made) and a UTS namespace of their own, so that ``socket.gethostname()`` names the
host (``<tag>-<host>``), as on separate machines. Not ``ip netns exec``: it also mounts a sysfs of
the namespace's own over /sys, which hides the cgroup hierarchies mounted under /sys/fs/cgroup, and
a worker running as root refuses to start sandboxes it cannot limit ("no writable cgroup
hierarchy"). Only the network is a host's own; the file system is the machine's, and a test gives
each host folders of its own. ``cut`` takes a host off the network (its ``eth0`` down: the
subnet's route goes with it, so connecting fails at once and data in flight is never acknowledged)
and ``restore`` plugs it back in.

Names carry the creating process's pid and a random suffix (``gt<pid>x<hex>-<host>``). ``network()``
removes everything it made on the way out, failed or interrupted test or not: it stops the
processes it started (SIGTERM, then SIGKILL), kills whatever is still inside its namespaces, and
deletes the namespaces (their veths go with them). A test process killed outright (SIGKILL) cannot
do that: the processes it started die with it (``setpriv --pdeathsig``; a daemon such as
PostgreSQL's postmaster does not), and the next ``network()`` kills what is left in the namespaces
of creators that are gone and deletes them.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

OURS = re.compile(r"gt(\d+)x[0-9a-f]{4}-[a-z0-9]+")
HOST_NAME = re.compile(r"[a-z][a-z0-9]{0,7}")
PDEATHSIG = shutil.which("setpriv") is not None  # util-linux >= 2.33: --pdeathsig
STOP_SECONDS = 15.0  # a warm shutdown (Celery finishing its task, gunicorn its requests) before SIGKILL


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=30)


def unavailable() -> str | None:
    """Why namespaces cannot be made here (None: they can): not root, no ``ip``, no netns support."""
    if os.geteuid() != 0:
        return "network namespaces (ip netns) need root; this test runs as an unprivileged user"
    for tool in ("ip", "nsenter", "unshare"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install iproute2 util-linux)"
    probe = f"gt{os.getpid()}x{uuid.uuid4().hex[:4]}-probe"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"ip netns is unavailable here: {made.stderr.strip() or made.returncode}"
    _ip("netns", "del", probe, check=False)
    return None


def _namespaces() -> list[str]:
    listed = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in listed.splitlines() if line.strip()]


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_inside(namespace: str) -> None:
    """SIGKILL whatever still runs in ``namespace`` (only ever one of ours)."""
    for line in _ip("netns", "pids", namespace, check=False).stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(line), signal.SIGKILL)


def sweep_stale() -> list[str]:
    """Delete the namespaces of earlier runs whose creating process is gone (killed outright)."""
    removed = []
    for name in _namespaces():
        match = OURS.fullmatch(name)
        if match is None or alive(int(match.group(1))):
            continue
        _kill_inside(name)
        _ip("netns", "del", name, check=False)
        removed.append(name)
    return removed


def _free_subnet(rng: random.Random) -> ipaddress.IPv4Network:
    """A 10.x.y.0/24 that overlaps no route or address of the root namespace."""
    taken = []
    for line in (
        _ip("-4", "-o", "route", "show", "table", "all").stdout + "\n" + _ip("-4", "-o", "addr").stdout
    ).splitlines():
        for word in line.split():
            with contextlib.suppress(ValueError):
                if "/" in word or word[:1].isdigit():
                    taken.append(ipaddress.IPv4Network(word, strict=False))
    for _ in range(200):
        subnet = ipaddress.IPv4Network(f"10.{rng.randrange(64, 255)}.{rng.randrange(1, 255)}.0/24")
        if not any(subnet.overlaps(other) for other in taken if other.prefixlen >= 8):
            return subnet
    raise RuntimeError("no free 10.x.y.0/24 for a test network")


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int | None = 3000) -> str:
        """The end of its output (all of it with ``chars=None``)."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return text if chars is None else text[-chars:]


@dataclass
class Host:
    """One namespace: a host with one network interface (``eth0``) on the network's subnet."""

    network: Network
    name: str
    namespace: str
    address: str
    interface: str = "eth0"

    @property
    def hostname(self) -> str:
        return f"{self.network.tag}-{self.name}"

    def prefix(self) -> list[str]:
        """What runs a command inside this host: its network namespace, a host name of its own."""
        named = ["sh", "-c", 'hostname "$0" && exec "$@"', self.hostname]
        return [*self.enter(), "unshare", "--uts", "--", *named]

    def enter(self) -> list[str]:
        """What runs a command in this host's network namespace (and nothing else of its own); it is
        killed if the test process dies first (SIGKILL on the parent's death, where setpriv has it)."""
        reaper = ["setpriv", "--pdeathsig", "KILL", "--"] if PDEATHSIG else []
        return [*reaper, "nsenter", f"--net=/run/netns/{self.namespace}", "--"]

    def run(self, args: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.prefix(), *args], check=True, capture_output=True, text=True, timeout=timeout
        )

    def start(
        self, name: str, args: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> Process:
        """Start ``args`` on this host (the pid is the command's own: every wrapper execs), its output
        in ``<network folder>/<host>-<name>.log``; stopped by the network's ``close``."""
        log_path = self.network.folder / f"{self.name}-{name}.log"
        log: IO[bytes] = open(log_path, "wb")
        try:
            popen = subprocess.Popen(
                [*self.prefix(), *args], env=dict(env) if env is not None else None, cwd=cwd,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        finally:
            log.close()  # the child has its own copy
        process = Process(f"{self.name}/{name}", popen, log_path)
        self.network.processes.append(process)
        return process

    def cut(self) -> None:
        """Off the network: the host's interface down (its route to the subnet goes with it)."""
        _ip("-n", self.namespace, "link", "set", "dev", self.interface, "down")

    def restore(self) -> None:
        _ip("-n", self.namespace, "link", "set", "dev", self.interface, "up")

    def reaches(self, address: str, port: int, timeout: float = 3.0) -> bool:
        """Whether a TCP connection from this host to ``address:port`` is accepted."""
        probe = f"exec 3<>/dev/tcp/{address}/{port}"
        done = subprocess.run(
            [*self.enter(), "timeout", str(timeout), "bash", "-c", probe],
            capture_output=True, timeout=timeout + 10,
        )  # fmt: skip
        return done.returncode == 0


@dataclass
class Network:
    """A bridge in a namespace of its own, the test process on its first address, hosts added to it."""

    tag: str
    subnet: ipaddress.IPv4Network
    folder: Path
    hosts: list[Host] = field(default_factory=list)
    processes: list[Process] = field(default_factory=list)

    @property
    def bridge_namespace(self) -> str:
        return f"{self.tag}-br"

    @property
    def address(self) -> str:
        """The test process's own address on the subnet (a veth in the root namespace)."""
        return str(self.subnet.network_address + 1)

    def namespaces(self) -> list[str]:
        return [self.bridge_namespace, *(host.namespace for host in self.hosts)]

    def _create(self) -> None:
        bridge = self.bridge_namespace
        _ip("netns", "add", bridge)
        _ip("-n", bridge, "link", "set", "dev", "lo", "up")
        _ip("-n", bridge, "link", "add", "name", "br0", "type", "bridge", "stp_state", "0",
            "forward_delay", "0")  # fmt: skip
        _ip("-n", bridge, "link", "set", "dev", "br0", "up")
        # The test process's leg: named by the tag in the root namespace, "root" on the bridge.
        _ip("link", "add", "name", self.tag, "type", "veth", "peer", "name", "root", "netns", bridge)
        _ip("-n", bridge, "link", "set", "dev", "root", "master", "br0", "up")
        _ip("addr", "add", f"{self.address}/{self.subnet.prefixlen}", "dev", self.tag)
        _ip("link", "set", "dev", self.tag, "up")

    def add_host(self, name: str) -> Host:
        """A new namespace plugged into the bridge, on the next free address."""
        taken = {"root", "br0", *(host.name for host in self.hosts)}  # the bridge's own ports
        if not HOST_NAME.fullmatch(name) or name in taken:
            raise ValueError(f"host name {name!r}: expected a new short name ([a-z][a-z0-9]{{0,7}})")
        namespace = f"{self.tag}-{name}"
        address = str(self.subnet.network_address + 2 + len(self.hosts))
        host = Host(self, name, namespace, address)
        _ip("netns", "add", namespace)
        self.hosts.append(host)  # from here on, close() deletes it
        _ip("-n", namespace, "link", "set", "dev", "lo", "up")
        _ip("link", "add", "name", "eth0", "netns", namespace, "type", "veth", "peer", "name", name,
            "netns", self.bridge_namespace)  # fmt: skip
        _ip("-n", self.bridge_namespace, "link", "set", "dev", name, "master", "br0", "up")
        _ip("-n", namespace, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0")
        _ip("-n", namespace, "link", "set", "dev", "eth0", "up")
        return host

    def wait_for_port(self, address: str, port: int, timeout: float, process: Process | None = None) -> None:
        """Until ``address:port`` accepts connections from the test process (or ``process`` exits)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=0.5):
                return
            if process is not None and not process.alive:
                raise AssertionError(f"{process.name} exited ({process.popen.returncode})\n{process.tail()}")
            time.sleep(0.1)
        tail = f"\n{process.tail()}" if process is not None else ""
        raise TimeoutError(f"nothing listens on {address}:{port} after {timeout} s{tail}")

    def stop(self, *processes: Process, timeout: float = STOP_SECONDS) -> None:
        """SIGTERM, then SIGKILL what has not exited within ``timeout``."""
        for process in processes:
            if process.alive:
                with contextlib.suppress(ProcessLookupError):
                    process.popen.terminate()
        end = time.monotonic() + timeout
        for process in processes:
            try:
                process.popen.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait(timeout=10)

    def close(self) -> None:
        """Stop every process started here, kill what is left inside, delete the namespaces."""
        try:
            self.stop(*self.processes)
        finally:
            for namespace in reversed(self.namespaces()):
                _kill_inside(namespace)
                _ip("netns", "del", namespace, check=False)
            _ip("link", "del", "dev", self.tag, check=False)  # gone with its peer already, normally


@contextlib.contextmanager
def network(folder: Path, seed: int | None = None) -> Iterator[Network]:
    """A new network (no hosts yet) whose processes and namespaces are removed on the way out."""
    sweep_stale()
    rng = random.Random(seed)
    tag = f"gt{os.getpid()}x{uuid.uuid4().hex[:4]}"
    folder.mkdir(parents=True, exist_ok=True)
    net = Network(tag, _free_subnet(rng), folder)
    try:
        net._create()
        yield net
    finally:
        net.close()
