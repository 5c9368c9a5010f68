"""A seccomp filter for the sandbox, compiled with libseccomp (through ctypes) for bubblewrap.

A deny list in the spirit of Docker's and Flatpak's defaults: the calls a
training script never needs and an escape would (ptrace, namespaces, mounts,
kernel keyrings, BPF, perf, userfaultfd, module loading, terminal injection,
io_uring, memfd_secret) fail with EPERM; ``clone3`` fails with ENOSYS so that
the C library falls back to ``clone``, whose namespace flags can be checked.
Sockets are allowed by family: AF_UNIX (multiprocessing, DataLoader workers)
and AF_INET/AF_INET6 (harmless in a network namespace with no interface up;
libraries create them to probe); netlink, vsock, packet, crypto and the rest
fail with EAFNOSUPPORT, as on a kernel built without them. Calls for another
architecture kill the process. Without libseccomp (``libseccomp2``, a
dependency of apt on Debian), sandboxes run without the filter and
``available()`` says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
from functools import lru_cache

ACT_ALLOW = 0x7FFF0000
CMP_EQ, CMP_GT, CMP_MASKED_EQ = 4, 6, 7

DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
    "keyctl", "add_key", "request_key",
    "mount", "umount2", "pivot_root", "chroot", "mount_setattr", "move_mount", "open_tree",
    "fsopen", "fsmount", "fsconfig", "fspick",
    "unshare", "setns",
    "swapon", "swapoff", "reboot", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module",
    "bpf", "perf_event_open", "userfaultfd", "fanotify_init",
    "open_by_handle_at", "name_to_handle_at",
    "acct", "quotactl", "syslog", "iopl", "ioperm", "lookup_dcookie",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    # The source of a long run of kernel privilege escalations; no training script needs them.
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "memfd_secret",
)  # fmt: skip
AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10
SOCKET_FAMILIES = (AF_UNIX, AF_INET, AF_INET6)
CLONE_NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)
TIOCSTI, TIOCLINUX = 0x5412, 0x541C


class ArgCompare(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def _errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(ArgCompare),
    ]  # fmt: skip
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


def available() -> bool:
    return _library() is not None


Rule = tuple[str, int, tuple[ArgCompare, ...]]  # a call, the errno it fails with, when (all must hold)


# What a fork server (grader/engine/harness/forked.py) must do to seal each job's child before the child
# installs the full filter: new namespaces and fresh tmpfs mounts in them.
FORK_SERVER_NEEDS = ("unshare", "mount")


def rules(fork_server: bool = False) -> list[Rule]:
    """The filter as data: bubblewrap's BPF program and the Docker backend's profile are both made from it.

    ``fork_server``: the fork server's own, less ``FORK_SERVER_NEEDS``; its jobs run under the full one.
    """
    denied = [name for name in DENIED if not (fork_server and name in FORK_SERVER_NEEDS)]
    made: list[Rule] = [(name, errno.EPERM, ()) for name in denied]
    made.append(("clone3", errno.ENOSYS, ()))
    made += [
        ("clone", errno.EPERM, (ArgCompare(0, CMP_MASKED_EQ, flag, flag),)) for flag in CLONE_NAMESPACE_FLAGS
    ]
    for call in ("socket", "socketpair"):
        # Rules on one call are OR-ed: every family up to the highest allowed one that is not
        # allowed, then everything above it (negative ints included: compared as 64-bit values).
        made += [
            (call, errno.EAFNOSUPPORT, (ArgCompare(0, CMP_EQ, family, 0),))
            for family in range(max(SOCKET_FAMILIES))
            if family not in SOCKET_FAMILIES
        ]
        made.append((call, errno.EAFNOSUPPORT, (ArgCompare(0, CMP_GT, max(SOCKET_FAMILIES), 0),)))
    made += [
        ("ioctl", errno.EPERM, (ArgCompare(1, CMP_MASKED_EQ, 0xFFFFFFFF, r),)) for r in (TIOCSTI, TIOCLINUX)
    ]
    return made


OPERATORS = {CMP_EQ: "SCMP_CMP_EQ", CMP_GT: "SCMP_CMP_GT", CMP_MASKED_EQ: "SCMP_CMP_MASKED_EQ"}


def docker_profile() -> str:
    """The same filter as a Docker seccomp profile (``security_opt=["seccomp=" + profile]``)."""
    calls = []
    for name, code, compares in rules():
        # Docker's value and valueTwo are libseccomp's two data (for a masked compare: mask, then value).
        args = [
            {"index": c.arg, "value": c.datum_a, "valueTwo": c.datum_b, "op": OPERATORS[c.op]}
            for c in compares
        ]
        calls.append({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": code, "args": args})
    return json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": calls}, separators=(",", ":"))


@lru_cache(maxsize=2)
def compiled_filter(fork_server: bool = False) -> bytes | None:
    """The BPF program as bytes (compiled once per process), or None without libseccomp."""
    lib = _library()
    if lib is None:
        return None
    ctx = lib.seccomp_init(ACT_ALLOW)
    if not ctx:
        return None
    try:
        for name, code, compares in rules(fork_server):
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number < 0:
                continue  # not a call on this architecture
            array = (ArgCompare * len(compares))(*compares) if compares else None
            if lib.seccomp_rule_add_array(ctx, _errno(code), number, len(compares), array) != 0:
                raise OSError(f"seccomp: cannot add a rule for {name}")
        fd = os.memfd_create("seccomp-bpf", 0)
        try:
            if lib.seccomp_export_bpf(ctx, fd) != 0:
                return None
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)


def filter_fd(fork_server: bool = False, always: bool = False) -> int | None:
    """A fresh readable fd holding the filter, for ``bwrap --seccomp FD`` (caller closes it).

    ``always``: an empty one rather than None without libseccomp (what a fork server reads).
    """
    program = compiled_filter(fork_server)
    if program is None and not always:
        return None
    fd = os.memfd_create("seccomp", 0)
    program = program or b""
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
