"""The fork server: a sandbox's harness that imports torch once and runs each job in a child of its own.

Starting a sandbox costs about two CPU-seconds, nearly all of it ``import torch``: at a deadline, a
quarter of the machine. With ``GRADER_FORK`` set the harness imports torch, says hello on its link to
the host, then forks a child per job. Before any of the job's code runs the child is sealed off from
the server and from every job before and after it:

- new user, mount, pid, IPC and network namespaces (the sandbox's uid mapped to itself): the job's
  processes cannot see or signal the server, nor meet a later job on an abstract socket, and all of
  them die with the job's first process;
- a fresh tmpfs work dir, /tmp and /dev/shm, capped in bytes and in files: nothing an earlier job wrote;
- an empty capability bounding set and no capabilities, then the host's full seccomp filter (the
  server's own filter lets it unshare and mount; the job's does not);
- no descriptor of the server's: only the five the host sent for this job (stdout, stderr, metrics,
  control, results); the link to the host is closed.

The server is not dumpable, so a job cannot read its memory through /proc, and it never sees a job's
files or frames. The host counts, limits and kills a job through the sandbox's cgroup
(grader/engine/sandbox/forkserver.py). Standard library and ctypes only, like the rest of this package.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass

from .protocol import HARNESS_FAILED

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_SECCOMP, PR_CAPBSET_DROP = 1, 4, 22, 24
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
SECCOMP_MODE_FILTER = 2
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384
CAPABILITY_VERSION_3 = 0x20080522
JOB_DESCRIPTORS = 5  # stdout, stderr, metrics, control, results
BYTES_PER_FILE, MIN_FILES = 8192, 2048  # as grader/engine/sandbox/scratch.py caps the host's own mounts

RunJob = Callable[[tuple[int, int, int]], None]


@dataclass(frozen=True)
class Setup:
    """What the host sends the server once, before its probe: how every job of it is sealed."""

    places: dict[str, int]  # the scratch mounts and their caps in bytes
    keep: list[str]  # read-only runtime folders under a scratch place (a venv in /tmp): bound again on top
    program: bytes  # the full seccomp filter, as BPF ("" without libseccomp)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _prctl(option: int, arg: int = 0) -> int:
    zero = ctypes.c_ulong(0)
    return int(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), zero, zero, zero))


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def _drop_capabilities() -> None:
    for cap in range(64):
        if _prctl(PR_CAPBSET_DROP, cap) != 0:
            if ctypes.get_errno() == errno.EINVAL:
                break  # past the last capability this kernel knows
            _check(-1, "dropping the bounding set")
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    header, data = _CapHeader(CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def _install_filter(program: bytes) -> None:
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")
    if not program:
        return  # the host has no libseccomp: the sandbox as a whole runs without a filter too
    buffer = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    installed = _libc.prctl(
        ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(prog),
        ctypes.c_ulong(0), ctypes.c_ulong(0),
    )  # fmt: skip
    _check(installed, "seccomp")


def _mount(source: bytes | None, target: str, kind: bytes | None, flags: int, options: bytes | None) -> None:
    _check(_libc.mount(source, target.encode(), kind, ctypes.c_ulong(flags), options), f"mount {target}")


def seal(setup: Setup) -> None:
    """Namespaces, fresh scratch mounts, no capabilities, the full filter: in that order."""
    uid, gid = os.getuid(), os.getgid()
    # The server is not dumpable, and a child that is not may not write its own id maps; no other job
    # runs while this one is sealed, so nothing else of this uid is there to look at it.
    _prctl(PR_SET_DUMPABLE, 1)
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET), "unshare")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    # The runtime folders a fresh scratch mount will cover, held open to be bound again on top of it, as
    # bubblewrap binds them over its own scratch; read-only, with the flags they have (some are locked).
    kept = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY), os.statvfs(path).f_flag) for path in setup.keep]
    for target, size in setup.places.items():
        options = f"size={size},nr_inodes={max(MIN_FILES, size // BYTES_PER_FILE)},mode=1777"
        _mount(b"tmpfs", target, b"tmpfs", MS_NOSUID | MS_NODEV, options.encode())
    for path, fd, flags in kept:
        os.makedirs(path, mode=0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}".encode(), path, None, MS_BIND | MS_REC, None)
        _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | flags, None)
        os.close(fd)
    os.chdir("/")  # not the directory the new work dir covers: the server's own scratch
    _drop_capabilities()
    _install_filter(setup.program)


def _keep_only(keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the listing's own descriptor, already gone


def _status(raw: int) -> int:
    """A wait status as bubblewrap reports its child's: the exit code, or 128 + the killing signal."""
    return 128 + os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)


def _job(fds: list[int], setup: Setup, run: RunJob, sealed: int) -> None:
    """In the forked child: seal (then say so on ``sealed``), and run the job as pid 1 of its own pid
    namespace. Never returns."""
    try:
        stdout, stderr, metrics, control, results = fds
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        _keep_only({metrics, control, results, sealed})
        seal(setup)
        os.write(sealed, b"1")
        os.close(sealed)
        # Not dumpable from here: the job shares this child's user namespace and may not read it either.
        _prctl(PR_SET_DUMPABLE, 0)
        pid = os.fork()
    except BaseException as exc:  # noqa: BLE001 - reported as the platform's failure
        os.write(2, f"the fork server could not seal a job: {exc}\n".encode())
        os._exit(HARNESS_FAILED)  # the platform's failure, never the student's
    if pid == 0:
        try:
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the job dies with the child the server waits for
            _prctl(PR_SET_DUMPABLE, 1)  # its own /proc/self is its own (subprocess lists /proc/self/fd)
            os.environ["GRADER_CHANNELS"] = f"{metrics},{control},{results}"  # as a sandbox of its own says
            run((metrics, control, results))
        finally:
            os._exit(0)
    for fd in (metrics, control, results):
        os.close(fd)  # the job alone holds its channels: their EOF is the job's end
    _, raw = os.waitpid(pid, 0)
    os._exit(_status(raw))


def _probe(setup: Setup) -> str | None:
    """Whether this kernel lets the server seal a child as it will seal each job (None), or why not."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            seal(setup)
        except BaseException as exc:  # noqa: BLE001
            os.write(write_end, str(exc).encode()[:500])
            os._exit(1)
        os._exit(0)
    os.close(write_end)
    _, raw = os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as reason:
        why = reason.read(500).decode(errors="replace")
    return None if raw == 0 else why or f"the probe ended with status {_status(raw)}"


def _setup(link: socket.socket, program: bytes) -> Setup:
    message = json.loads(link.recv(65536) or b"{}")
    places = {str(k): int(v) for k, v in message.get("places", {}).items()}
    return Setup(places, [str(path) for path in message.get("keep", [])], program)


def serve(spec: str, hello: dict[str, object], run: RunJob) -> None:
    """``spec`` is "LINK,FILTER": the link to the host (a SOCK_SEQPACKET socket) and the job's filter."""
    link_fd, filter_fd = (int(part) for part in spec.split(","))
    with os.fdopen(filter_fd, "rb") as handle:
        program = handle.read()
    link = socket.socket(fileno=link_fd)
    _prctl(PR_SET_DUMPABLE, 0)
    os.chdir("/")  # its scratch work dir is covered in every job: nothing of the job may start from it
    setup = _setup(link, program)
    why = _probe(setup)
    link.send(json.dumps({"t": "hello", **hello, "fork": why is None, "why": why}).encode())
    if why is not None:
        os._exit(0)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(link, 65536, JOB_DESCRIPTORS + 1)
        except OSError:
            os._exit(0)
        if not message:
            os._exit(0)  # the host closed the link: the server is done
        if len(fds) != JOB_DESCRIPTORS:
            for fd in fds:
                os.close(fd)
            os._exit(HARNESS_FAILED)
        said, sealed = os.pipe()
        pid = os.fork()
        if pid == 0:
            link.close()
            os.close(said)
            _job(fds, setup, run, sealed)
        os.close(sealed)
        for fd in fds:
            os.close(fd)
        _, raw = os.waitpid(pid, 0)
        with os.fdopen(said, "rb") as reply:
            was_sealed = reply.read(1) == b"1"
        link.send(json.dumps({"t": "exit", "status": _status(raw), "sealed": was_sealed}).encode())
